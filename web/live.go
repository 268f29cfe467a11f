package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// liveHTML renders the live fragment of an application's page: the
// pipeline picture, the approval and the environments.
func (c *Console) liveHTML(ctx context.Context, s *session, project, name string) (string, error) {
	v, err := c.appView(ctx, s, project, name)
	if err != nil {
		return "", err
	}
	return c.renderLive(v)
}

func (c *Console) renderLive(v *appView) (string, error) {
	return c.fragment("app", "live", v)
}

// fragment renders the template tmpl of a page alone: the live part of a
// page, for the page and for its stream.
func (c *Console) fragment(page, tmpl string, v any) (string, error) {
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, tmpl, v); err != nil {
		return "", fmt.Errorf("render %s of %s: %w", tmpl, page, err)
	}
	return buf.String(), nil
}

// live streams an application's live fragment.
func (c *Console) live(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name := projectOf(r), r.PathValue("name")
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		return c.liveHTML(ctx, s, project, name)
	}, func() (string, error) {
		return c.renderLive(&appView{Gone: true})
	})
}

// serveLive streams a page's live fragment as server-sent events: an
// "update" event each time the HTML render makes changes (and at the
// start, unless the page's ?digest= says it has that fragment already), a
// keepalive comment now and then, and "signedout" when the API stops
// taking the session's token. When the API answers 404, gone (if not nil)
// renders what the page shows instead. When render returns errLiveDone
// with its HTML (what it shows will not change again: a deployment that
// ended), the stream sends that and an "end" event, and stops; else it
// ends with the request.
func (c *Console) serveLive(w http.ResponseWriter, r *http.Request, render func(context.Context) (string, error), gone func() (string, error)) error {
	ctx := r.Context()
	// The first rendering comes before the answer's header, so that a
	// refused token or a missing object answers as a page would.
	html, err := render(ctx)
	done := errors.Is(err, errLiveDone)
	if err != nil && !done {
		return err
	}
	send, comment := startEvents(w)
	// The page already holds the fragment its digest names.
	if r.URL.Query().Get("digest") != digest(html) && !send("update", html) {
		return nil
	}
	if done {
		send("end", "")
		return nil
	}
	last := html
	poll := time.NewTicker(c.cfg.Poll)
	defer poll.Stop()
	keepalive := time.NewTicker(c.keepalive)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keepalive.C:
			if !comment("keepalive") {
				return nil
			}
		case <-poll.C:
			html, err := render(ctx)
			if errors.Is(err, errLiveDone) {
				if html == last || send("update", html) {
					send("end", "")
				}
				return nil
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				switch status, _ := apiStatus(err); {
				case status == http.StatusUnauthorized:
					send("signedout", "/login")
					return nil
				case status == http.StatusNotFound && gone != nil:
					if html, err = gone(); err != nil {
						c.log.Error("web: render live fragment", "path", r.URL.Path, "err", err)
						return nil
					}
				default:
					c.log.Debug("web: live page cannot refresh", "path", r.URL.Path, "err", err)
					continue
				}
			}
			if html == last {
				continue
			}
			if !send("update", html) {
				return nil
			}
			last = html
		}
	}
}

// errLiveDone is what a live render returns, with its HTML, when that is
// the last: the object it shows has ended.
var errLiveDone = errors.New("the live page has ended")

// startEvents answers with a stream of server-sent events: send writes
// one event and comment a comment (a keepalive); each flushes it and says
// whether the client is still there.
func startEvents(w http.ResponseWriter) (send func(event, data string) bool, comment func(text string) bool) {
	rc := http.NewResponseController(w)
	// A stream outlives the server's write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send = func(event, data string) bool {
		return writeEvent(w, event, data) == nil && rc.Flush() == nil
	}
	comment = func(text string) bool {
		_, err := io.WriteString(w, ": "+text+"\n\n")
		return err == nil && rc.Flush() == nil
	}
	return send, comment
}

// digest names a live fragment.
func digest(html string) string {
	sum := sha256.Sum256([]byte(html))
	return hex.EncodeToString(sum[:8])
}

// writeEvent writes one server-sent event; each line of data goes in a
// data field of its own.
func writeEvent(w io.Writer, event, data string) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	data = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
	for line := range strings.SplitSeq(strings.TrimRight(data, "\n"), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
