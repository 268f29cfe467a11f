package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/client"
)

const (
	// buildLogLines is how many lines of a log the page shows: the last
	// ones (or the last matches of a search); the raw log has them all.
	buildLogLines = 5000
	// buildLineBytes bounds one line as the page shows it; the rest is
	// in the raw log.
	buildLineBytes = 16 << 10
	buildRunning   = "IN_PROGRESS"
)

// buildRoutes registers the builds pages.
func (c *Console) buildRoutes(mux *http.ServeMux) {
	mux.Handle("GET /builds/{id}", c.authed(c.buildPage))
	mux.Handle("GET /builds/{id}/live", c.authed(c.buildLive))
	mux.Handle("GET /builds/{id}/log.txt", c.authed(c.buildLogText))
	mux.Handle("GET /builds/{id}/artifacts/{name}", c.authed(c.buildArtifact))
}

// buildPageURL is a build's page (or a path below it, suffix), with the
// project when it is not the default one.
func buildPageURL(id, project, suffix string) string {
	return withProject("/builds/"+url.PathEscape(id)+suffix, project)
}

type buildPhaseRow struct {
	Name     string
	Status   badge
	Start    time.Time
	Duration string
	Context  string
}

type buildArtifactRow struct {
	client.BuildArtifact
	URL  string
	Size string
}

// buildLogLine is one line of a log as the page shows it.
type buildLogLine struct {
	N    int
	HTML template.HTML
	Cut  bool
}

// buildSummary is what the live stream refreshes: the status and the
// phases.
type buildSummary struct {
	Build    *client.Build
	Status   badge
	Duration string
	Phases   []buildPhaseRow
}

type buildView struct {
	buildSummary
	Project   string
	Artifacts []buildArtifactRow
	Lines     []buildLogLine
	// Total is the log's number of lines, Matches how many of them match
	// Query; Hidden how many of those the page leaves out.
	Total   int
	Query   string
	Matches int
	Hidden  int
	// Follow says the log follows the build; the stream starts at Offset
	// with line number Next in SGR state SGR.
	Follow bool
	Offset int64
	Next   int
	SGR    string
	// Summary is the summary's HTML as the page holds it.
	Summary template.HTML
}

// RawURL is the raw log's address.
func (v *buildView) RawURL() string { return buildPageURL(v.Build.ID, v.Project, "/log.txt") }

// PageURL is the page's own address, without a search.
func (v *buildView) PageURL() string { return buildPageURL(v.Build.ID, v.Project, "") }

// StreamURL is the live stream's address, from where the page's log ends.
func (v *buildView) StreamURL() string {
	q := url.Values{"offset": {strconv.FormatInt(v.Offset, 10)}, "line": {strconv.Itoa(v.Next)}}
	if v.SGR != "" {
		q.Set("sgr", v.SGR)
	}
	if v.Project != defaultProject {
		q.Set("project", v.Project)
	}
	return "/builds/" + url.PathEscape(v.Build.ID) + "/live?" + q.Encode()
}

func newBuildSummary(b *client.Build) buildSummary {
	running := b.Status == buildRunning
	sum := buildSummary{Build: b, Status: newBadge(b.Status), Duration: span(b.StartedAt, b.EndedAt, running)}
	for _, p := range b.Phases {
		sum.Phases = append(sum.Phases, buildPhaseRow{Name: p.Name, Status: newBadge(p.Status), Start: p.Start,
			Duration: span(p.Start, p.End, p.Status == buildRunning || (p.Status == "" && running)), Context: p.Context})
	}
	return sum
}

// buildLog turns a log's bytes into numbered lines. It keeps the last
// keep lines (that match query, when there is one), the SGR state carried
// from line to line, and the bytes of a line not ended yet.
type buildLog struct {
	query   string
	keep    int
	n       int
	matches int
	state   ansiState
	lines   []buildLogLine
	// partial is the start of a line with no newline yet; cut says it
	// grew past buildLineBytes and the rest is dropped.
	partial []byte
	cut     bool
	// pos is the offset after the bytes written; consumed after the
	// last whole line.
	pos, consumed int64
}

func newBuildLog(query string, keep, next int, offset int64, st ansiState) *buildLog {
	return &buildLog{query: strings.ToLower(query), keep: keep, n: next - 1, pos: offset, consumed: offset, state: st}
}

// write takes the next bytes of the log.
func (l *buildLog) write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		end := i
		if i < 0 {
			end = len(b)
		}
		chunk := b[:end]
		if room := buildLineBytes - len(l.partial); len(chunk) > room {
			chunk, l.cut = chunk[:max(room, 0)], true
		}
		l.partial = append(l.partial, chunk...)
		if i < 0 {
			l.pos += int64(len(b))
			return
		}
		l.pos += int64(i + 1)
		l.consumed = l.pos
		l.line()
		b = b[i+1:]
	}
}

// flush takes the log's last line, which has no newline: the log is
// complete.
func (l *buildLog) flush() {
	if len(l.partial) > 0 || l.cut {
		l.line()
	}
}

func (l *buildLog) line() {
	l.n++
	text := strings.TrimSuffix(string(l.partial), "\r")
	html, plain, st := ansiLine(text, l.state)
	l.state = st
	cut := l.cut
	l.partial, l.cut = l.partial[:0], false
	if l.query != "" && !strings.Contains(strings.ToLower(plain), l.query) {
		return
	}
	l.matches++
	l.lines = append(l.lines, buildLogLine{N: l.n, HTML: html, Cut: cut})
	// Dropping the oldest lines a whole window at a time keeps this
	// linear in the log's length.
	if l.keep > 0 && len(l.lines) >= 2*l.keep {
		l.lines = append(l.lines[:0], l.lines[len(l.lines)-l.keep:]...)
	}
}

// shown are the lines the page shows.
func (l *buildLog) shown() []buildLogLine {
	if l.keep > 0 && len(l.lines) > l.keep {
		return l.lines[len(l.lines)-l.keep:]
	}
	return l.lines
}

// readBuildLog reads a build's log from offset to where it ends now into
// l, and returns the build's status as the last read saw it (read before
// that read's bytes, so a finished status means l has the whole log).
func readBuildLog(ctx context.Context, s *session, project, id string, offset int64, l *buildLog) (int64, string, error) {
	for {
		data, next, status, err := s.api.BuildLog(ctx, project, id, offset)
		if err != nil {
			return offset, "", err
		}
		l.write(data)
		if next <= offset || len(data) == 0 {
			return next, status, nil
		}
		offset = next
	}
}

func (c *Console) buildPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, id := projectOf(r), r.PathValue("id")
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	b, err := s.api.GetBuild(ctx, project, id)
	if err != nil {
		return err
	}
	l := newBuildLog(q, buildLogLines, 1, 0, ansiState{})
	_, status, err := readBuildLog(ctx, s, project, id, 0, l)
	if err != nil {
		return err
	}
	// The log read after the build says how it ended: the status it gave
	// is the newer one.
	if status != "" && status != b.Status {
		if nb, err := s.api.GetBuild(ctx, project, id); err == nil {
			b = nb
		}
	}
	v := &buildView{buildSummary: newBuildSummary(b), Project: project, Query: q}
	// A running build's last line may not be whole yet: the stream sends
	// it when it is.
	if status != buildRunning {
		l.flush()
	}
	v.Lines, v.Total, v.Matches = l.shown(), l.n, l.matches
	v.Hidden = v.Matches - len(v.Lines)
	v.Follow = status == buildRunning && q == ""
	v.Offset, v.Next, v.SGR = l.consumed, l.n+1, l.state.params()
	for _, a := range b.Artifacts {
		key := a.Identifier
		if key == "" {
			key = a.Name
		}
		v.Artifacts = append(v.Artifacts, buildArtifactRow{BuildArtifact: a, URL: buildPageURL(id, project, "/artifacts/"+url.PathEscape(key)),
			Size: byteSize(a.Size)})
	}
	sum, err := c.fragment("build", "build-summary", &v.buildSummary)
	if err != nil {
		return err
	}
	v.Summary = template.HTML(sum)
	title := b.BuildProject + " #" + strconv.FormatInt(b.Number, 10)
	c.render(w, r, s, http.StatusOK, "build", &pageData{Title: "Build " + title, Project: project, Scripts: []string{"builds.js"}, Body: v})
	return nil
}

// buildLines is one "lines" event of the live stream: the HTML of the new
// lines, and where the stream goes on from (a reconnecting page asks for
// that).
type buildLines struct {
	HTML   string `json:"html"`
	Offset int64  `json:"offset"`
	Line   int    `json:"line"`
	SGR    string `json:"sgr"`
}

// buildLive streams a running build: "lines" with the log's new whole
// lines, "summary" with the status and phases when they change, and "end"
// once the build has ended and its whole log was sent; the stream then
// ends. A refused token ends it with "signedout".
func (c *Console) buildLive(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, id := projectOf(r), r.PathValue("id")
	qv := r.URL.Query()
	offset, err1 := strconv.ParseInt(qv.Get("offset"), 10, 64)
	line, err2 := strconv.Atoi(qv.Get("line"))
	if err1 != nil || err2 != nil || offset < 0 || line < 1 {
		c.errorPage(w, r, s, http.StatusBadRequest, "The stream needs the log's offset and line number to start from.")
		return nil
	}
	// Reading the build before the answer's header makes a refused token
	// or a missing build answer as a page would.
	b, err := s.api.GetBuild(ctx, project, id)
	if err != nil {
		return err
	}
	send, comment := startEvents(w)
	l := newBuildLog("", 0, line, offset, parseAnsiState(qv.Get("sgr")))
	lastSummary := ""
	poll := time.NewTicker(c.cfg.Poll)
	defer poll.Stop()
	keepalive := time.NewTicker(c.keepalive)
	defer keepalive.Stop()
	for {
		var status string
		offset, status, err = readBuildLog(ctx, s, project, id, offset, l)
		if err == nil && status != buildRunning {
			l.flush()
			// The build read before the log may be older than the status.
			var nb *client.Build
			if nb, err = s.api.GetBuild(ctx, project, id); err == nil {
				b = nb
			}
		}
		switch st, _ := apiStatus(err); {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case st == http.StatusUnauthorized:
			send("signedout", "/login")
			return nil
		case st == http.StatusNotFound:
			send("end", "gone")
			return nil
		default:
			c.log.Debug("web: a build's live log cannot refresh", "build", id, "err", err)
		}
		if err == nil {
			if len(l.lines) > 0 {
				html, err := c.fragment("build", "build-lines", l.lines)
				if err != nil {
					return err
				}
				ev, _ := json.Marshal(buildLines{HTML: html, Offset: l.consumed, Line: l.n + 1, SGR: l.state.params()})
				if !send("lines", string(ev)) {
					return nil
				}
				l.lines = l.lines[:0]
			}
			sum := newBuildSummary(b)
			html, err := c.fragment("build", "build-summary", &sum)
			if err != nil {
				return err
			}
			if html != lastSummary {
				if !send("summary", html) {
					return nil
				}
				lastSummary = html
			}
			if status != buildRunning {
				send("end", b.Status)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-keepalive.C:
			if !comment("keepalive") {
				return nil
			}
		case <-poll.C:
			// A failed read keeps the summary as it was; the log's read
			// says what is wrong.
			if nb, err := s.api.GetBuild(ctx, project, id); err == nil {
				b = nb
			} else if ctx.Err() == nil {
				c.log.Debug("web: a build's live summary cannot refresh", "build", id, "err", err)
			}
		}
	}
}

// buildLogText is the whole log as plain text, as the API has it.
func (c *Console) buildLogText(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, id := projectOf(r), r.PathValue("id")
	// The first chunk comes before the header, so that an error answers as
	// a page.
	data, next, _, err := s.api.BuildLog(ctx, project, id, 0)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", "inline")
	w.WriteHeader(http.StatusOK)
	for offset := int64(0); len(data) > 0 && next > offset; {
		if _, err := w.Write(data); err != nil {
			return nil
		}
		offset = next
		if data, next, _, err = s.api.BuildLog(ctx, project, id, offset); err != nil {
			if ctx.Err() == nil {
				c.log.Warn("web: read a build's log", "build", id, "offset", offset, "err", err)
			}
			// The status is sent: a broken connection tells the browser
			// the log is not whole.
			panic(http.ErrAbortHandler)
		}
	}
	return nil
}

// buildArtifact streams an artifact from the API to the browser.
func (c *Console) buildArtifact(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, id, name := projectOf(r), r.PathValue("id"), r.PathValue("name")
	d, err := s.api.BuildArtifact(ctx, project, id, name)
	if err != nil {
		return err
	}
	defer d.Body.Close()
	extra := http.Header{}
	if d.Digest != "" {
		extra.Set("X-Artifact-Digest", d.Digest)
	}
	c.download(w, r, d.Body, d.Name, cmp.Or(d.ContentType, "application/octet-stream"), d.Size, extra)
	return nil
}
