package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/store/storetest"
	"github.com/slipway/slipway/web"
)

// benchPipeline has a source and an approval: history is all it needs.
const benchPipeline = `{"Name": "shipit", "ArtifactStore": {"Type": "S3", "Location": "artifacts"}, "Stages": [
  {"Name": "Source", "Actions": [{"Name": "Source",
    "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "CodeCommit", "Version": "1"},
    "Configuration": {"RepositoryName": "app", "BranchName": "main"}, "OutputArtifacts": [{"Name": "Source"}]}]},
  {"Name": "Approve", "Actions": [{"Name": "Approve",
    "ActionTypeId": {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}}]}]}`

// consoleBench is the real API server on SQLite with a pipeline of 10,000
// executions, and the real console before it, signed in with a real token.
type consoleBench struct {
	console  *httptest.Server
	apiURL   string
	token    string
	cookie   *http.Cookie
	pipeline string
	newest   string
}

func newConsoleBench(b *testing.B) *consoleBench {
	b.Helper()
	ctx := context.Background()
	db := storetest.SQLite(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := auth.NewService(db)
	tokenFile := filepath.Join(b.TempDir(), "admin-token")
	if _, err := a.Bootstrap(ctx, tokenFile); err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		b.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	// No job engine runs: the executions are history, written below.
	pipes := pipelinesvc.New(db, pipelinesvc.Config{Jobs: jobs.New(db, jobs.Options{Logger: log}), Log: log})
	srv := &api.Server{Auth: a, Pipelines: pipes, Log: log, Registry: prometheus.NewRegistry()}
	apiSrv := httptest.NewServer(srv.Handler())
	b.Cleanup(apiSrv.Close)
	req, _ := http.NewRequest("POST", apiSrv.URL+"/api/v1/projects/default/pipelines", strings.NewReader(benchPipeline))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("create pipeline: %d", resp.StatusCode)
	}
	def, err := a.Project(ctx, auth.DefaultProject)
	if err != nil {
		b.Fatal(err)
	}
	newest := storetest.PipelineHistory(b, db, def.ID, "shipit", 10000)
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	c, err := web.New(web.Config{API: apiSrv.URL, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	console := httptest.NewServer(c.Handler())
	b.Cleanup(console.Close)
	// Signing in through the console makes the session's token as a user
	// would; the bootstrap admin has a token but no password, so the
	// cookie carries an API token of its own.
	tok, id := newToken(b, apiSrv.URL, token)
	return &consoleBench{console: console, apiURL: apiSrv.URL, token: token, pipeline: "shipit", newest: newest,
		cookie: &http.Cookie{Name: "slipway_session", Value: id + "." + tok}}
}

// newToken makes an API token for the admin, as signing in does.
func newToken(b *testing.B, apiURL, admin string) (secret, id string) {
	b.Helper()
	req, _ := http.NewRequest("POST", apiURL+"/api/v1/tokens", strings.NewReader(`{"name": "console"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var t struct{ Token, ID string }
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || resp.StatusCode != 201 || t.Token == "" {
		b.Fatalf("create token: %d %v", resp.StatusCode, err)
	}
	return t.Token, t.ID
}

func (cb *consoleBench) get(b *testing.B, ctx context.Context, path string) *http.Response {
	req, _ := http.NewRequestWithContext(ctx, "GET", cb.console.URL+path, nil)
	req.AddCookie(cb.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	return resp
}

// BenchmarkConsolePipelinePage10k measures the console's pipeline page
// and execution page, served over the real API, with 10,000 executions
// in the pipeline's history (the bound: 50 ms).
func BenchmarkConsolePipelinePage10k(b *testing.B) {
	cb := newConsoleBench(b)
	ctx := context.Background()
	for _, page := range []struct{ name, path, want string }{
		{"pipeline", "/pipelines/" + cb.pipeline, `id="history-older"`},
		{"pipeline-filtered-deep", "/pipelines/" + cb.pipeline + "?status=Failed&before=h000513", `data-execution="h000503"`},
		{"execution", "/pipelines/" + cb.pipeline + "/executions/" + cb.newest, `data-link="repository"`},
	} {
		b.Run(page.name, func(b *testing.B) {
			resp := cb.get(b, ctx, page.path)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), page.want) {
				b.Fatalf("%s: %d, lacks %s:\n%s", page.path, resp.StatusCode, page.want, body)
			}
			start := time.Now()
			for b.Loop() {
				resp := cb.get(b, ctx, page.path)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%s: %d", page.path, resp.StatusCode)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkConsoleLiveLatency measures how long a change made through the
// API (disabling a transition, then enabling it) takes to reach an open
// pipeline page's live stream, at the console's default poll.
func BenchmarkConsoleLiveLatency(b *testing.B) {
	cb := newConsoleBench(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := cb.get(b, ctx, "/pipelines/"+cb.pipeline+"/live")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("live: %d", resp.StatusCode)
	}
	events := make(chan string, 16)
	go func() {
		r := bufio.NewReader(resp.Body)
		var data strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(events)
				return
			}
			switch {
			case strings.HasPrefix(line, "data: "):
				data.WriteString(line[len("data: "):])
			case line == "\n" && data.Len() > 0:
				events <- data.String()
				data.Reset()
			}
		}
	}()
	<-events // the page's first rendering
	set := func(enabled bool) {
		body := fmt.Sprintf(`{"stage": "Approve", "enabled": %v, "reason": "bench"}`, enabled)
		req, _ := http.NewRequest("POST", cb.apiURL+"/api/v1/projects/default/pipelines/"+cb.pipeline+"/transitions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cb.token)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNoContent {
			b.Fatalf("transition: %d", r.StatusCode)
		}
	}
	var worst time.Duration
	disabled := false
	for b.Loop() {
		disabled = !disabled
		want := `data-transition="enabled"`
		if disabled {
			want = `data-transition="disabled"`
		}
		start := time.Now()
		set(!disabled)
		for {
			html, ok := <-events
			if !ok {
				b.Fatal("the live stream ended")
			}
			if strings.Contains(html, want) {
				break
			}
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
