package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestSessions_APasswordSetByItsUserSignsInAndTheTokenWorks(t *testing.T) {
	f := newFixture(t)
	// Nobody signs in before a password is set.
	if code, b := f.do(t, "anon", "POST", "/api/v1/sessions", map[string]string{"name": "reader", "password": ""}); code != http.StatusUnauthorized {
		t.Fatalf("sign-in without a password set: %d %s", code, b)
	}
	if code, b := f.do(t, "reader", "PUT", "/api/v1/users/reader/password", map[string]string{"password": "short"}); code != http.StatusBadRequest ||
		!strings.Contains(string(b), "at least 8 characters") {
		t.Fatalf("a short password: %d %s", code, b)
	}
	if code, b := f.do(t, "reader", "PUT", "/api/v1/users/writer/password", map[string]string{"password": "someone else's"}); code != http.StatusForbidden {
		t.Fatalf("setting another user's password: %d %s", code, b)
	}
	if code, b := f.do(t, "reader", "PUT", "/api/v1/users/reader/password", map[string]string{"password": "correct horse"}); code != http.StatusNoContent {
		t.Fatalf("setting one's own password: %d %s", code, b)
	}
	for _, wrong := range []map[string]string{{"name": "reader", "password": "correct hors"}, {"name": "nobody", "password": "correct horse"}} {
		code, b := f.do(t, "anon", "POST", "/api/v1/sessions", wrong)
		if code != http.StatusUnauthorized || !strings.Contains(string(b), "the user name or the password is wrong") {
			t.Errorf("sign-in as %v: %d %s", wrong, code, b)
		}
	}
	code, b := f.do(t, "anon", "POST", "/api/v1/sessions", map[string]string{"name": "reader", "password": "correct horse"})
	if code != http.StatusCreated {
		t.Fatalf("sign-in: %d %s", code, b)
	}
	s := decodeAs[struct{ Token, ID, User string }](t, b)
	if s.User != "reader" || !strings.HasPrefix(s.Token, "slw_") || s.ID == "" {
		t.Fatalf("session: %+v", s)
	}
	f.tokens["session"] = s.Token
	code, b = f.do(t, "session", "GET", "/api/v1/me", nil)
	me := decodeAs[struct{ Name string }](t, b)
	if code != http.StatusOK || me.Name != "reader" {
		t.Errorf("the session's token: %d %s", code, b)
	}
	// The tries are audited with the name tried, and never the password.
	code, b = f.do(t, "admin", "GET", "/api/v1/audit", nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"user:nobody"`) || !strings.Contains(string(b), `"user:reader"`) ||
		strings.Contains(string(b), "correct horse") {
		t.Errorf("audit: %d %s", code, b)
	}
}

func TestPipeline_SaysWhatTheCallerMayDo(t *testing.T) {
	f := newFixture(t)
	pl := f.newPipeline(t)
	for actor, want := range map[string]map[string]bool{
		"approver": {"read": true, "write": false, "approve": true, "admin": false},
		"writer":   {"read": true, "write": true, "approve": false, "admin": false},
		"admin":    {"read": true, "write": true, "approve": true, "admin": true},
	} {
		code, b := f.do(t, actor, "GET", "/api/v1/projects/default/pipelines/"+pl, nil)
		got := decodeAs[struct {
			Permissions map[string]bool `json:"permissions"`
		}](t, b)
		if code != http.StatusOK || len(got.Permissions) != 4 {
			t.Fatalf("%s: %d %s", actor, code, b)
		}
		for k, v := range want {
			if got.Permissions[k] != v {
				t.Errorf("%s may %s: %v, want %v", actor, k, got.Permissions[k], v)
			}
		}
	}
}
