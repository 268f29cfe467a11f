package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestRootGreetsWithTheVersion(t *testing.T) {
	code, body := get(t, "/")
	if code != http.StatusOK || !strings.Contains(body, version) {
		t.Fatalf("GET / = %d %q, want 200 and the version %s", code, body, version)
	}
}

func TestVersionAnswersTheVersionAlone(t *testing.T) {
	code, body := get(t, "/version")
	if code != http.StatusOK || strings.TrimSpace(body) != version {
		t.Fatalf("GET /version = %d %q, want 200 %q", code, body, version)
	}
}

func TestOtherPathsAreNotFound(t *testing.T) {
	if code, _ := get(t, "/nothing"); code != http.StatusNotFound {
		t.Fatalf("GET /nothing = %d, want 404", code)
	}
}

func TestListensOnPortOr8000(t *testing.T) {
	t.Setenv("PORT", "")
	if got := addr(); got != ":8000" {
		t.Errorf("without PORT: %s, want :8000", got)
	}
	t.Setenv("PORT", "9090")
	if got := addr(); got != ":9090" {
		t.Errorf("with PORT=9090: %s, want :9090", got)
	}
}
