package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

const buildID = "web:b1"

// fakeBuild is one build of the fake API, with its log; the log is served
// chunk bytes at a time, so that the console has to read on.
type fakeBuild struct {
	mu    sync.Mutex
	build client.Build
	log   string
	chunk int
	art   []byte
}

func (b *fakeBuild) set(fn func(b *fakeBuild)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b)
}

func newFakeBuild() *fakeBuild {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &fakeBuild{chunk: 7, art: []byte("PK\x03\x04 the artifact's bytes"), build: client.Build{
		ID: buildID, BuildProject: "web", Number: 7, Status: "FAILED", Source: "shop@main", Commit: fullCommit, Initiator: "alice",
		StartedAt: start, EndedAt: start.Add(95 * time.Second),
		Phases: []client.BuildPhase{
			{Name: "SUBMITTED", Status: "SUCCEEDED", Start: start, End: start},
			{Name: "INSTALL", Status: "SUCCEEDED", Start: start, End: start.Add(12 * time.Second)},
			{Name: "BUILD", Status: "FAILED", Start: start.Add(12 * time.Second), End: start.Add(95 * time.Second),
				Context: "COMMAND_EXECUTION_ERROR: Error while executing command: make. Reason: exit status 2"},
		},
		Artifacts: []client.BuildArtifact{
			{Name: "site.zip", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 2048},
			{Identifier: "docs", Name: "docs.zip", Digest: "sha256:" + strings.Repeat("cd", 32), Size: 10},
		},
	}}
}

// routes serves the build under /api/v1/projects/{project}/builds/.
func (b *fakeBuild) routes(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	find := func(w http.ResponseWriter, r *http.Request) bool {
		if r.PathValue("project") != "default" || r.PathValue("id") != buildID {
			apiError(w, 404, "not_found", "build "+r.PathValue("id")+" not found")
			return false
		}
		return true
	}
	mux.HandleFunc("GET /api/v1/projects/{project}/builds/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		if !find(w, r) {
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		writeJSON(w, 200, b.build)
	}))
	mux.HandleFunc("GET /api/v1/projects/{project}/builds/{id}/logs", authed(func(w http.ResponseWriter, r *http.Request) {
		if !find(w, r) {
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		off = min(off, len(b.log))
		end := min(off+b.chunk, len(b.log))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Build-Status", b.build.Status)
		w.Header().Set("X-Next-Offset", strconv.Itoa(end))
		_, _ = io.WriteString(w, b.log[off:end])
	}))
	mux.HandleFunc("GET /api/v1/projects/{project}/builds/{id}/artifacts/{name}", authed(func(w http.ResponseWriter, r *http.Request) {
		if !find(w, r) {
			return
		}
		if r.PathValue("name") != "site.zip" {
			apiError(w, 404, "not_found", "artifact "+r.PathValue("name")+" of build "+buildID+" not found")
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="site.zip"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(b.art)))
		w.Header().Set("X-Artifact-Digest", b.build.Artifacts[0].Digest)
		_, _ = w.Write(b.art)
	}))
}

const buildLogText = "[Container] 2026/01/02 03:04:05 Entering phase INSTALL\n" +
	"\x1b[1;31merror:\x1b[0m <script>alert(1)</script> failed\n" +
	"export DB_PASSWORD=***\n" +
	"\x1b[32mgreen carried\n" +
	"over the line\x1b[0m\n" +
	"another error here\n" +
	"last line without newline"

func TestBuildPage(t *testing.T) {
	fb := newFakeBuild()
	fb.log = buildLogText
	_, srv := setup(t, Config{}, fb.routes)
	resp, body := do(t, "GET", srv.URL+"/builds/"+buildID, nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<span id="build-title">web #7</span>`,
		`<dd id="build-status" data-status="FAILED"><span class="status status-bad"><span class="symbol" aria-hidden="true">✗</span> FAILED</span></dd>`,
		`<code id="build-commit" title="` + fullCommit + `">` + fullCommit[:12] + `</code>`,
		`<dd id="build-initiator">alice</dd>`,
		`<dd id="build-duration">1m 35s</dd>`,
		// Phases with their durations and why they failed.
		`<tr data-phase="INSTALL" data-status="SUCCEEDED">`,
		`<td>12s</td>`,
		`<tr data-phase="BUILD" data-status="FAILED">`,
		`<td>1m 23s</td>`,
		`COMMAND_EXECUTION_ERROR: Error while executing command: make. Reason: exit status 2`,
		// Artifacts with their digests, to download.
		`<tr data-artifact="site.zip" data-digest="sha256:` + strings.Repeat("ab", 32) + `">`,
		`<td>2.0 KiB</td>`,
		`href="/builds/web:b1/artifacts/site.zip" download>`,
		`href="/builds/web:b1/artifacts/docs" download>`,
		// Lines with links to themselves.
		`<div class="log-line" id="L1"><a class="ln" href="#L1" aria-label="Line 1">1</a>`,
		`id="L7"`,
		// ANSI colours as classes; text escaped.
		`<span class="lt"><span class="ansi-bold ansi-fg-1">error:</span> &lt;script&gt;alert(1)&lt;/script&gt; failed</span>`,
		// The colour goes on to the next line.
		`<span class="lt"><span class="ansi-fg-2">over the line</span></span>`,
		`<span class="lt">last line without newline</span>`,
		`<label for="log-q">Search the log</label>`,
		`<a id="log-raw" href="/builds/web:b1/log.txt">Raw log</a>`,
		`7 lines.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the build page lacks %s", want)
		}
	}
	// The log the API masked stays masked.
	if !strings.Contains(body, "export DB_PASSWORD=***") {
		t.Error("the masked line is not shown as the API gave it")
	}
	if strings.Contains(body, "<script>alert") || strings.Count(body, "<script") != 1 {
		t.Error("the log's <script> reached the page unescaped")
	}
	// A finished build does not follow.
	if strings.Contains(body, "data-src=") || strings.Contains(body, `id="log-follow"`) {
		t.Error("a finished build's log follows")
	}
	if !strings.Contains(body, `src="/static/builds.js?v=`) {
		t.Error("builds.js is not on the page")
	}
}

func TestBuildPageNotFound(t *testing.T) {
	fb := newFakeBuild()
	_, srv := setup(t, Config{}, fb.routes)
	for _, p := range []string{"/builds/web:nosuch", "/builds/web:nosuch/log.txt", "/builds/" + buildID + "/artifacts/nosuch.zip"} {
		resp, body := do(t, "GET", srv.URL+p, nil, nil, true)
		if resp.StatusCode != 404 || !strings.Contains(body, "not found") {
			t.Errorf("%s: %d\n%s", p, resp.StatusCode, body)
		}
	}
	resp, _ := do(t, "GET", srv.URL+"/builds/"+buildID, nil, nil, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fbuilds%2Fweb%3Ab1" {
		t.Errorf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A search shows the matching lines only, with their own line numbers.
func TestBuildLogSearch(t *testing.T) {
	fb := newFakeBuild()
	fb.log = buildLogText
	_, srv := setup(t, Config{}, fb.routes)
	_, body := do(t, "GET", srv.URL+"/builds/"+buildID+"?q=ERROR", nil, nil, true)
	got := regexp.MustCompile(`<div class="log-line" id="L(\d+)">`).FindAllStringSubmatch(body, -1)
	var ns []string
	for _, m := range got {
		ns = append(ns, m[1])
	}
	if strings.Join(ns, ",") != "2,6" {
		t.Errorf("lines shown %v, want 2 and 6", ns)
	}
	for _, want := range []string{`value="ERROR"`, `2 of 7 lines match “ERROR”.`, `<a id="log-clear" href="/builds/web:b1">`} {
		if !strings.Contains(body, want) {
			t.Errorf("the search lacks %s", want)
		}
	}
	// The escape sequences are not searched: "1;31m" is in no line's text.
	_, body = do(t, "GET", srv.URL+"/builds/"+buildID+"?q=31m", nil, nil, true)
	if strings.Contains(body, `class="log-line"`) || !strings.Contains(body, "0 of 7 lines match") {
		t.Error("a search matched an escape sequence")
	}
}

// A long log shows its last lines only, numbered as in the whole log.
func TestBuildLogShowsTheLastLines(t *testing.T) {
	fb := newFakeBuild()
	var b strings.Builder
	for i := 1; i <= buildLogLines+3; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	fb.log, fb.chunk = b.String(), 4<<10
	_, srv := setup(t, Config{}, fb.routes)
	_, body := do(t, "GET", srv.URL+"/builds/"+buildID, nil, nil, true)
	for _, gone := range []string{`id="L1"`, `id="L3"`, ">line 3<"} {
		if strings.Contains(body, gone) {
			t.Errorf("the page shows %s", gone)
		}
	}
	last := strconv.Itoa(buildLogLines + 3)
	for _, want := range []string{`id="L4"`, `<span class="lt">line 4</span>`, `id="L` + last + `"`, "The log has " + last + " lines; the last 5000 are shown."} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if n := strings.Count(body, `class="log-line"`); n != buildLogLines {
		t.Errorf("%d lines shown, want %d", n, buildLogLines)
	}
}

func TestBuildRawLog(t *testing.T) {
	fb := newFakeBuild()
	fb.log = buildLogText
	_, srv := setup(t, Config{}, fb.routes)
	resp, body := do(t, "GET", srv.URL+"/builds/"+buildID+"/log.txt", nil, nil, true)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || body != buildLogText {
		t.Errorf("raw log: %d %q\n%q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestBuildArtifactDownload(t *testing.T) {
	fb := newFakeBuild()
	_, srv := setup(t, Config{}, fb.routes)
	resp, body := do(t, "GET", srv.URL+"/builds/"+buildID+"/artifacts/site.zip", nil, nil, true)
	if resp.StatusCode != 200 || body != string(fb.art) {
		t.Fatalf("download: %d %q", resp.StatusCode, body)
	}
	for h, want := range map[string]string{
		"Content-Type":        "application/zip",
		"Content-Disposition": "attachment; filename=site.zip",
		"X-Artifact-Digest":   fb.build.Artifacts[0].Digest,
		"Content-Length":      strconv.Itoa(len(fb.art)),
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

// A running build's log follows: the page ends at its last whole line,
// the stream sends what comes after, then the status, and ends with the
// build.
func TestBuildLive(t *testing.T) {
	fb := newFakeBuild()
	fb.set(func(b *fakeBuild) {
		b.build.Status, b.build.EndedAt = "IN_PROGRESS", time.Time{}
		b.build.Phases[2].Status, b.build.Phases[2].End, b.build.Phases[2].Context = "IN_PROGRESS", time.Time{}, ""
		b.log = "one\n\x1b[33mtwo\nthr"
	})
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, fb.routes)
	_, body := do(t, "GET", srv.URL+"/builds/"+buildID, nil, nil, true)
	m := regexp.MustCompile(`<div id="log" [^>]*data-src="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the running build's log does not follow:\n%s", body)
	}
	src := strings.ReplaceAll(m[1], "&amp;", "&")
	if src != "/builds/web:b1/live?line=3&offset=13&sgr=33" {
		t.Errorf("stream %q", src)
	}
	if strings.Contains(body, "thr") || !strings.Contains(body, `id="L2"`) || !strings.Contains(body, `id="log-follow"`) {
		t.Error("the page shows the unfinished line, or not the whole ones")
	}
	if !strings.Contains(body, `<tr data-phase="BUILD" data-status="IN_PROGRESS">`) || !strings.Contains(body, "running") {
		t.Error("the running phase is not shown running")
	}

	resp, r := openStreamResp(t, srv.URL+src)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	event, data := sseEvent(t, r)
	if event != "summary" || !strings.Contains(data, `data-status="IN_PROGRESS"`) {
		t.Fatalf("first event %q:\n%s", event, data)
	}
	fb.set(func(b *fakeBuild) { b.log += "ee\n<four>\n" })
	event, data = sseEvent(t, r)
	var lines buildLines
	if event != "lines" || json.Unmarshal([]byte(data), &lines) != nil {
		t.Fatalf("event %q:\n%s", event, data)
	}
	want := `<div class="log-line" id="L3"><a class="ln" href="#L3" aria-label="Line 3">3</a><span class="lt"><span class="ansi-fg-3">three</span></span></div>` + "\n" +
		`<div class="log-line" id="L4"><a class="ln" href="#L4" aria-label="Line 4">4</a><span class="lt"><span class="ansi-fg-3">&lt;four&gt;</span></span></div>` + "\n"
	if lines.HTML != want || lines.Offset != 26 || lines.Line != 5 || lines.SGR != "33" {
		t.Errorf("lines %+v, want the lines 3 and 4 in yellow:\n%s", lines, want)
	}

	fb.set(func(b *fakeBuild) {
		b.log += "\x1b[0mfive"
		b.build.Status, b.build.EndedAt = "SUCCEEDED", b.build.StartedAt.Add(time.Minute)
		b.build.Phases[2].Status, b.build.Phases[2].End = "SUCCEEDED", b.build.StartedAt.Add(time.Minute)
	})
	// The last line, the last summary, the end, then the stream ends.
	seen := map[string]string{}
	for {
		event, data := sseEvent(t, r)
		seen[event] = data
		if event == "end" {
			break
		}
	}
	if !strings.Contains(seen["lines"], `id=\"L5\"`) || !strings.Contains(seen["lines"], `five`) {
		t.Errorf("the last line was not sent: %s", seen["lines"])
	}
	if !strings.Contains(seen["summary"], `data-status="SUCCEEDED"`) || seen["end"] != "SUCCEEDED" {
		t.Errorf("summary %s\nend %q", seen["summary"], seen["end"])
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("the stream goes on after the end: %q %v", rest, err)
	}
}

func TestBuildLiveBadStart(t *testing.T) {
	fb := newFakeBuild()
	_, srv := setup(t, Config{}, fb.routes)
	resp, _ := do(t, "GET", srv.URL+"/builds/"+buildID+"/live?offset=x&line=1", nil, nil, true)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad offset: %d", resp.StatusCode)
	}
	resp, _ = do(t, "GET", srv.URL+"/builds/web:nosuch/live?offset=0&line=1", nil, nil, true)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown build: %d", resp.StatusCode)
	}
}

// A very long line is cut on the page, with a note; the lines after it
// keep their numbers.
func TestBuildLogCutsLongLines(t *testing.T) {
	fb := newFakeBuild()
	fb.log, fb.chunk = "short\n"+strings.Repeat("x", 3*buildLineBytes)+"\nafter\n", 4<<10
	_, srv := setup(t, Config{}, fb.routes)
	_, body := do(t, "GET", srv.URL+"/builds/"+buildID, nil, nil, true)
	if n := strings.Count(body, "x"); n < buildLineBytes || n > buildLineBytes+200 {
		t.Errorf("%d x's shown, want the first %d", n, buildLineBytes)
	}
	for _, want := range []string{`the raw log has the whole line`, `id="L3"><a class="ln" href="#L3" aria-label="Line 3">3</a><span class="lt">after</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}
