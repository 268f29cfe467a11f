package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway/slipway/store"
)

// subcommand maps a smart HTTP service name to git's program for it.
func subcommand(service string) (string, bool) {
	switch service {
	case "git-upload-pack":
		return "upload-pack", true
	case "git-receive-pack":
		return "receive-pack", true
	}
	return "", false
}

// GitRequest tells which git service a smart HTTP request asks for, given
// the part of its URL path after "NAME.git": "git-upload-pack" for
// GET /info/refs?service=git-upload-pack and POST /git-upload-pack, the same
// for git-receive-pack. ok is false for anything else, including the dumb
// HTTP protocol, which is not served. Callers authorise git-receive-pack as
// a write and git-upload-pack as a read.
func GitRequest(r *http.Request, subpath string) (service string, ok bool) {
	switch {
	case r.Method == http.MethodGet && subpath == "/info/refs":
		service = r.URL.Query().Get("service")
		if _, ok := subcommand(service); ok {
			return service, true
		}
	case r.Method == http.MethodPost && (subpath == "/git-upload-pack" || subpath == "/git-receive-pack"):
		return subpath[1:], true
	}
	return "", false
}

// ServeGit serves one smart HTTP request for rp: the ref advertisement
// (GET .../info/refs?service=SERVICE) or a git-upload-pack or
// git-receive-pack exchange (POST). service is what GitRequest returned; the
// caller has already authenticated the client and authorised the service.
// Request and response stream through git, never held in memory. pusher
// names who pushed in the push events recorded for a receive-pack.
func (s *Service) ServeGit(w http.ResponseWriter, r *http.Request, rp *Repository, service string, pusher string) {
	sub, ok := subcommand(service)
	if !ok {
		http.Error(w, "unsupported git service", http.StatusForbidden)
		return
	}
	dir, err := s.repoDir(r.Context(), rp)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			http.Error(w, "repository not found", http.StatusNotFound)
			return
		}
		s.log.Error("repo: locate repository", "repository", rp.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	protocol := r.Header.Get("Git-Protocol")
	if !safeProtocol(protocol) {
		protocol = ""
	}
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Get("service") != service {
			http.Error(w, "service parameter does not match", http.StatusBadRequest)
			return
		}
		s.advertise(w, r, rp, dir, service, sub, protocol)
	case http.MethodPost:
		s.rpc(w, r, rp, dir, service, sub, protocol, pusher)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// repoDir finds rp's bare repository, which must exist below the root.
func (s *Service) repoDir(ctx context.Context, rp *Repository) (string, error) {
	rel := rp.path
	if rel == "" {
		// A Repository the caller built itself: trust only the stored path.
		if err := store.Scan(s.db.QueryRowContext(ctx, "SELECT path FROM repositories WHERE id = ?", rp.ID), &rel); err != nil {
			return "", fmt.Errorf("repository %s: %w", rp.ID, err)
		}
	}
	dir, err := s.dir(rel)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return "", fmt.Errorf("repository %s: %w", rp.ID, err)
	}
	return dir, nil
}

func (s *Service) advertise(w http.ResponseWriter, r *http.Request, rp *Repository, dir, service, sub, protocol string) {
	h := w.Header()
	h.Set("Content-Type", "application/x-"+service+"-advertisement")
	noCache(h)
	out := newStream(w)
	// As git http-backend does: a protocol v2 client expects the capability
	// advertisement straight away; only v0/v1 get the service line.
	if !(sub == "upload-pack" && protocolV2(protocol)) {
		out.prefix = []byte(pktLine("# service="+service+"\n") + "0000")
	}
	var native func(context.Context) ([]byte, error)
	switch {
	case sub == "receive-pack" && nativeAdvertisement(dir, protocol):
		native = func(ctx context.Context) ([]byte, error) { return s.receivePackAdvertisement(ctx, dir) }
	case sub == "upload-pack" && protocol == "version=2":
		native = s.uploadPackV2Advertisement
	}
	if native != nil {
		b, err := native(r.Context())
		if err == nil {
			_, _ = out.Write(b)
			return
		}
		s.log.Warn("repo: native advertisement failed; asking git", "repository", rp.ID, "service", service, "err", err)
	}
	var stderr capped
	cmd := s.command(r.Context(), protocol, gitArgs(sub, dir, "--advertise-refs")...)
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		if r.Context().Err() == nil {
			s.log.Error("repo: git advertisement failed", "repository", rp.ID, "service", service,
				"err", err, "stderr", stderr.String())
		}
		if !out.started {
			http.Error(w, "git "+sub+" failed", http.StatusInternalServerError)
		}
	}
}

func (s *Service) rpc(w http.ResponseWriter, r *http.Request, rp *Repository, dir, service, sub, protocol, pusher string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-"+service+"-request" {
		s.metrics.gitOp(service, "bad_request")
		http.Error(w, "Content-Type must be application/x-"+service+"-request", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		// git compresses large fetch negotiations.
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.metrics.gitOp(service, "bad_request")
			http.Error(w, "bad gzip body", http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	default:
		s.metrics.gitOp(service, "bad_request")
		http.Error(w, "unsupported Content-Encoding "+enc, http.StatusUnsupportedMediaType)
		return
	}
	if sub == "upload-pack" {
		if done := s.uploadPackDirect(w, r, rp, dir, protocol, body); done {
			return
		}
	}
	// git may start answering before it has read the whole request; Go's
	// HTTP/1 server would otherwise discard the unread body at the first write.
	_ = http.NewResponseController(w).EnableFullDuplex()
	h := w.Header()
	h.Set("Content-Type", "application/x-"+service+"-result")
	noCache(h)
	out := newStream(w)
	var stdout io.Writer = out
	var watch *pushWatch
	if sub == "receive-pack" {
		watch = newPushWatch()
		body = watch.request(body)
		stdout = io.MultiWriter(watch.response(), out)
	}
	var stderr capped
	cmd := s.command(r.Context(), protocol, gitArgs(sub, dir)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = body, stdout, &stderr
	err := cmd.Run()
	switch {
	case err == nil:
		s.metrics.gitOp(service, "ok")
		if stderr.Len() > 0 {
			s.log.Debug("repo: git stderr", "repository", rp.ID, "service", service, "stderr", stderr.String())
		}
	case r.Context().Err() != nil:
		s.metrics.gitOp(service, "canceled")
		s.log.Info("repo: git request canceled", "repository", rp.ID, "service", service, "err", err)
	default:
		s.metrics.gitOp(service, "error")
		s.log.Warn("repo: git failed", "repository", rp.ID, "service", service,
			"err", err, "stderr", stderr.String())
		if !out.started {
			http.Error(w, "git "+sub+" failed", http.StatusInternalServerError)
		}
	}
	if watch != nil {
		s.recordPush(r.Context(), rp, dir, pusher, watch, err == nil)
	}
}

// gitArgs builds the arguments of a git upload-pack or receive-pack run.
func gitArgs(sub, dir string, extra ...string) []string {
	args := []string{sub, "--stateless-rpc"}
	if sub == "upload-pack" {
		// Exactly dir: no trying dir/.git or dir.git.
		args = append(args, "--strict")
	}
	return append(append(args, extra...), dir)
}

// command prepares a git command with a minimal environment: nothing of the
// server's (GIT_DIR, GIT_* overrides, HOME config) leaks into it.
func (s *Service) command(ctx context.Context, protocol string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.git, args...)
	cmd.Env = []string{
		"PATH=" + s.path,
		"HOME=" + s.root,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
	if protocol != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+protocol)
	}
	cmd.Dir = "/"
	// SIGTERM, not the default SIGKILL: git then removes its ref .lock files
	// and temporary packs, which would otherwise block later pushes.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// recordPush records one push event per ref update git applied, and
// publishes it, in one transaction. git's report says which updates it
// applied; a ref it did not report on (the response was cut short) counts
// as updated if it now holds the new value (or is gone, for a deletion).
func (s *Service) recordPush(reqCtx context.Context, rp *Repository, dir, pusher string, watch *pushWatch, gitOK bool) {
	cmds, status, why := watch.result()
	if why != "" {
		// git fails too on a truncated or malformed request; when it did
		// not, refs may have moved without events.
		level := slog.LevelDebug
		if gitOK {
			level = slog.LevelError
		}
		s.log.Log(reqCtx, level, "repo: push commands not readable, no push events recorded",
			"repository", rp.ID, "why", why, "commands", len(cmds))
		return
	}
	if len(cmds) == 0 {
		return
	}
	// The client may be gone; what git did must still be recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), 30*time.Second)
	defer cancel()
	var unreported []command
	for _, c := range cmds {
		if _, ok := status[c.Ref]; !ok {
			unreported = append(unreported, c)
		}
	}
	var refs map[string]string
	if len(unreported) > 0 {
		var err error
		if refs, err = s.readRefs(ctx, dir, unreported); err != nil {
			s.log.Error("repo: read refs after push, push events lost", "repository", rp.ID, "err", err)
			return
		}
	}
	var applied []command
	for _, c := range cmds {
		ok, reported := status[c.Ref]
		if !reported {
			cur, exists := refs[c.Ref]
			ok = isZeroID(c.New) && !exists || exists && cur == c.New
		}
		if ok {
			applied = append(applied, c)
		}
	}
	if len(applied) == 0 {
		return
	}
	for attempt := 1; ; attempt++ {
		err := s.insertPushEvents(ctx, rp, pusher, applied)
		if err == nil {
			return
		}
		if attempt == 3 || ctx.Err() != nil {
			s.log.Error("repo: push events lost", "repository", rp.ID, "pusher", pusher,
				"updates", fmt.Sprint(applied), "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

func (s *Service) insertPushEvents(ctx context.Context, rp *Repository, pusher string, cmds []command) error {
	at := store.Millis(time.Now())
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		for _, c := range cmds {
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO push_events (repo_id, ref, old_commit, new_commit, pusher, at) VALUES (?, ?, ?, ?, ?, ?)",
				rp.ID, c.Ref, c.Old, c.New, pusher, at); err != nil {
				return fmt.Errorf("record push to %s: %w", c.Ref, err)
			}
			if s.bus != nil {
				if err := s.bus.Publish(ctx, tx, TopicPush, PushPayload{
					RepositoryID: rp.ID, ProjectID: rp.ProjectID, Repository: rp.Name,
					Ref: c.Ref, Old: c.Old, New: c.New, Pusher: pusher,
				}); err != nil {
					return err
				}
			}
		}
		tx.OnCommit(func() { s.metrics.pushed(len(cmds)) })
		return nil
	})
}

// readRefs returns the current value of the named refs (absent when gone).
func (s *Service) readRefs(ctx context.Context, dir string, cmds []command) (map[string]string, error) {
	args := []string{"--git-dir=" + dir, "for-each-ref", "--format=%(objectname) %(refname)"}
	if len(cmds) <= 200 {
		// Ref names were checked to start with "refs/": never an option.
		args = append(args, "--")
		for _, c := range cmds {
			args = append(args, c.Ref)
		}
	}
	var stderr capped
	cmd := s.command(ctx, "", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git for-each-ref: %w: %s", err, stderr.String())
	}
	refs := map[string]string{}
	for line := range strings.Lines(string(out)) {
		id, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if ok {
			refs[name] = id
		}
	}
	return refs, nil
}

// stream writes git's output to the client as it comes, flushing each
// piece, after an optional prefix.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	prefix  []byte
	started bool
	err     error
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{w: w, rc: http.NewResponseController(w)}
}

func (o *stream) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if !o.started {
		o.started = true
		if len(o.prefix) > 0 {
			if _, err := o.w.Write(o.prefix); err != nil {
				o.err = err
				return 0, err
			}
		}
	}
	if _, err := o.w.Write(p); err != nil {
		o.err = err
		return 0, err
	}
	if err := o.rc.Flush(); err != nil {
		o.err = err
		return 0, err
	}
	return len(p), nil
}

func noCache(h http.Header) {
	h.Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
}

// safeProtocol accepts a Git-Protocol header made of key=value pairs of
// letters and digits separated by colons ("version=2"), the only form passed
// on to git as GIT_PROTOCOL.
func safeProtocol(v string) bool {
	if v == "" || len(v) > 256 {
		return false
	}
	alnum := func(s string) bool {
		for _, c := range s {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
		return s != ""
	}
	for part := range strings.SplitSeq(v, ":") {
		k, val, ok := strings.Cut(part, "=")
		if !ok || !alnum(k) || !alnum(val) {
			return false
		}
	}
	return true
}

func protocolV2(v string) bool {
	for part := range strings.SplitSeq(v, ":") {
		if part == "version=2" {
			return true
		}
	}
	return false
}

// capped keeps the first 16 KiB written to it: enough of git's stderr to log.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxStderr = 16 << 10

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxStderr - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *capped) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Len()
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.buf.String())
}

// maxDirectRequest bounds the upload-pack request read into memory before
// handing the connection to git; negotiation requests are far smaller.
const maxDirectRequest = 16 << 20

// uploadPackDirect answers an upload-pack request by giving git the client's
// TCP connection as its standard output, so a pack streams from git to the
// client without passing through this process: on a small machine the
// copying costs a clone as much time as git's own work. The request is read
// first (it is small), then the connection is taken over and the response is
// delimited by closing it. It reports false, having consumed nothing, when the
// connection cannot be taken over (TLS, HTTP/2) or the request is too large.
func (s *Service) uploadPackDirect(w http.ResponseWriter, r *http.Request, rp *Repository, dir, protocol string, body io.Reader) (done bool) {
	if r.TLS != nil || r.ProtoMajor != 1 {
		return false
	}
	req, err := io.ReadAll(io.LimitReader(body, maxDirectRequest+1))
	if err != nil {
		s.metrics.gitOp("git-upload-pack", "bad_request")
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return true
	}
	if len(req) > maxDirectRequest {
		s.metrics.gitOp("git-upload-pack", "bad_request")
		http.Error(w, "upload-pack request too large", http.StatusRequestEntityTooLarge)
		return true
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return false
	}
	sock, err := tcp.File()
	if err != nil {
		s.log.Warn("repo: take over connection", "err", err)
		return true
	}
	defer sock.Close()
	fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-result\r\n"+
		"Cache-Control: no-cache, max-age=0, must-revalidate\r\nPragma: no-cache\r\n"+
		"Expires: Fri, 01 Jan 1980 00:00:00 GMT\r\nConnection: close\r\n\r\n")
	if err := brw.Flush(); err != nil {
		return true
	}
	var stderr capped
	cmd := s.command(r.Context(), protocol, gitArgs("upload-pack", dir)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(req), sock, &stderr
	if err := cmd.Run(); err != nil {
		s.metrics.gitOp("git-upload-pack", "error")
		s.log.Warn("repo: git failed", "repository", rp.ID, "service", "git-upload-pack", "err", err, "stderr", stderr.String())
		return true
	}
	s.metrics.gitOp("git-upload-pack", "ok")
	return true
}
