package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth"
)

// The audit log names the browser's address that the console forwards,
// and only the console's: the same header on any other connection is
// ignored, so no caller can write someone else's address into the log.
func TestAudit_ForwardedAddressOnlyFromTheConsole(t *testing.T) {
	f := newFixture(t)
	console := httptest.NewUnstartedServer(f.srv.Config.Handler)
	console.Config.ConnContext = api.ConsoleConnContext
	console.Start()
	t.Cleanup(console.Close)

	create := func(base, team, forwarded string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/v1/teams", strings.NewReader(`{"name": "`+team+`"}`))
		req.Header.Set("Authorization", "Bearer "+f.tokens["admin"])
		req.Header.Set("X-Forwarded-For", forwarded)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create team %s: %d", team, resp.StatusCode)
		}
	}
	create(console.URL, "via-console", "203.0.113.7, 10.0.0.1")
	create(f.srv.URL, "direct", "198.51.100.9")

	entries, err := f.auth.AuditLog(context.Background(), auth.AuditQuery{Action: "/teams"})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: the direct request, then the console's.
	if len(entries) != 2 || entries[0].RemoteAddr != "127.0.0.1" || entries[1].RemoteAddr != "203.0.113.7" {
		t.Errorf("audit entries (newest first): %+v", entries)
	}
}
