package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/appspec"
)

// Agent runs one host's commands: it long-polls the server, runs each
// lifecycle event (download, install, hooks) and reports its outcome.
type Agent struct {
	Server    Server
	Layout    Layout
	Installer *Installer
	Runner    *Runner
	Log       *slog.Logger
	// PollWait is how long one poll may wait for a command; default 20s
	// (the server may answer sooner).
	PollWait time.Duration
	// Heartbeat is how often a running command tells the server the agent
	// is alive; default 5s.
	Heartbeat time.Duration
	// MaxRevisions is how many deployments' files a group keeps on the
	// host; default 5.
	MaxRevisions int
}

// FailedAfterRestart is the code of an event the agent was running when it
// stopped.
const FailedAfterRestart Code = 7

// Run serves commands until ctx ends, reconnecting with backoff when the
// server cannot be reached.
func (a *Agent) Run(ctx context.Context) error {
	if a.Log == nil {
		a.Log = slog.Default()
	}
	if a.PollWait <= 0 {
		a.PollWait = 20 * time.Second
	}
	if a.Heartbeat <= 0 {
		a.Heartbeat = 5 * time.Second
	}
	if a.Runner == nil {
		a.Runner = &Runner{}
	}
	if a.Installer == nil {
		a.Installer = &Installer{Layout: a.Layout}
	}
	a.failInterrupted(ctx)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		c, err := a.Server.Poll(ctx, a.PollWait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			a.Log.Warn("agent: cannot reach the server; retrying", "in", backoff, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if c != nil {
			a.handle(ctx, c)
		}
	}
	return nil
}

// ongoing is where the agent notes the command it runs, so that after a
// restart it reports that command failed instead of leaving it hanging.
func (a *Agent) ongoing() string { return filepath.Join(a.Layout.Root, "ongoing-commands") }

func (a *Agent) failInterrupted(ctx context.Context) {
	entries, _ := os.ReadDir(a.ongoing())
	for _, e := range entries {
		id := e.Name()
		a.Log.Warn("agent: failing the lifecycle event interrupted by a restart", "command", id)
		err := a.complete(ctx, id, CommandFailed, Diagnostics{ErrorCode: FailedAfterRestart.String(),
			Message: "Failing in-progress lifecycle event after an agent restart."})
		if err == nil || errors.Is(err, errEnded) {
			_ = os.Remove(filepath.Join(a.ongoing(), id))
		}
	}
}

func (a *Agent) handle(ctx context.Context, c *Command) {
	status, err := a.Server.Ack(ctx, c.ID)
	if err != nil {
		a.Log.Warn("agent: acknowledge", "command", c.ID, "err", err)
		return
	}
	if status != CommandInProgress {
		a.Log.Info("agent: command already ended; not running it", "command", c.ID, "status", status)
		return
	}
	_ = os.MkdirAll(a.ongoing(), 0o700)
	track := filepath.Join(a.ongoing(), filepath.Base(c.ID))
	_ = os.WriteFile(track, nil, 0o600)
	start := time.Now()
	a.Log.Info("agent: lifecycle event", "deployment", c.DeploymentID, "event", c.Event)

	out := &streamLog{ctx: ctx, server: a.Server, id: c.ID, file: a.scriptsLog(c)}
	hbCtx, stopHB := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { out.run(hbCtx, a.Heartbeat) })
	result, diag := a.execute(ctx, c, out)
	stopHB()
	wg.Wait()
	out.flush()
	if out.file != nil {
		out.file.Close()
	}
	if ctx.Err() != nil {
		return // the tracking file makes the next start report it
	}
	if err := a.complete(ctx, c.ID, result, diag); err != nil && !errors.Is(err, errEnded) {
		a.Log.Error("agent: report outcome", "command", c.ID, "err", err)
		return
	}
	_ = os.Remove(track)
	a.Log.Info("agent: lifecycle event done", "deployment", c.DeploymentID, "event", c.Event, "status", result, "took", time.Since(start))
}

var errEnded = errors.New("command ended already")

// complete reports an outcome, retrying while the server is away.
func (a *Agent) complete(ctx context.Context, id, status string, d Diagnostics) error {
	backoff := 100 * time.Millisecond
	for {
		err := a.Server.Complete(ctx, id, status, d)
		if err == nil {
			return nil
		}
		if IsPermanent(err) {
			return fmt.Errorf("%w: %v", errEnded, err)
		}
		a.Log.Warn("agent: report outcome; retrying", "command", id, "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// PermanentError marks a server answer that retrying cannot change (the
// command ended, or is not this host's).
type PermanentError struct{ Err error }

func (p *PermanentError) Error() string { return p.Err.Error() }
func (p *PermanentError) Unwrap() error { return p.Err }

// IsPermanent reports whether err is (or wraps) a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func (a *Agent) scriptsLog(c *Command) *os.File {
	if errors.Join(CheckID(c.GroupID), CheckID(c.DeploymentID)) != nil {
		return nil
	}
	p := a.Layout.ScriptsLog(c.GroupID, c.DeploymentID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	return f
}

func failed(code Code, format string, args ...any) (string, Diagnostics) {
	return CommandFailed, Diagnostics{ErrorCode: code.String(), Message: fmt.Sprintf(format, args...)}
}

// execute runs one lifecycle event.
func (a *Agent) execute(ctx context.Context, c *Command, log io.Writer) (string, Diagnostics) {
	if err := errors.Join(CheckID(c.GroupID), CheckID(c.DeploymentID)); err != nil {
		return failed(UnknownError, "%v", err)
	}
	dir := a.Layout.DeploymentDir(c.GroupID, c.DeploymentID)
	switch appspec.Event(c.Event) {
	case appspec.DownloadBundle:
		if err := a.download(ctx, c, dir); err != nil {
			return failed(UnknownError, "%v", err)
		}
		fmt.Fprintf(log, "[agent] revision %s unpacked\n", c.Revision.Digest)
		return CommandSucceeded, Diagnostics{ErrorCode: Succeeded.String(), Message: "revision downloaded and unpacked"}
	case appspec.Install:
		archive := a.Layout.Archive(c.GroupID, c.DeploymentID)
		spec, err := readSpec(archive)
		if err != nil {
			return failed(UnknownError, "%v", err)
		}
		if err := a.Installer.Install(ctx, c.GroupID, archive, spec, appspec.FileExistsBehavior(c.FileExistsBehavior), log); err != nil {
			return failed(UnknownError, "%v", err)
		}
		// As CodeDeploy's agent, the revision counts as installed (the
		// one later ApplicationStop scripts come from) from here on.
		if err := a.Layout.SetLastSuccessful(c.GroupID, dir); err != nil {
			return failed(UnknownError, "%v", err)
		}
		if err := a.Layout.Prune(c.GroupID, a.MaxRevisions); err != nil {
			a.Log.Warn("agent: prune old revisions", "group", c.GroupID, "err", err)
		}
		return CommandSucceeded, Diagnostics{ErrorCode: Succeeded.String(), Message: "files installed"}
	}
	root := a.Layout.Archive(c.GroupID, c.DeploymentID)
	if appspec.Event(c.Event).FromLastRevision() {
		if _, err := os.Stat(root); err != nil {
			last, err := a.Layout.LastSuccessful(c.GroupID)
			if err != nil {
				return failed(UnknownError, "%v", err)
			}
			if last == "" {
				return CommandSkipped, Diagnostics{ErrorCode: Succeeded.String(),
					Message: "first deployment of this group to the host: no earlier revision whose " + c.Event + " scripts could run"}
			}
			root = filepath.Join(last, "deployment-archive")
		}
	}
	spec, err := readSpec(root)
	if err != nil {
		return failed(UnknownError, "%v", err)
	}
	hooks := spec.Hooks[appspec.Event(c.Event)]
	if len(hooks) == 0 {
		return CommandSucceeded, Diagnostics{ErrorCode: Succeeded.String(), Message: "no scripts for " + c.Event}
	}
	results := a.Runner.RunHook(ctx, root, appspec.Event(c.Event), hooks,
		Deployment{ID: c.DeploymentID, ApplicationName: c.ApplicationName, GroupName: c.GroupName, GroupID: c.GroupID}, log)
	last := results[len(results)-1]
	d := Diagnostics{ErrorCode: last.Code.String(), ScriptName: last.Location, Message: last.Message, LogTail: last.Tail}
	if last.Code != Succeeded {
		return CommandFailed, d
	}
	if d.Message == "" {
		d.Message = "Succeeded"
	}
	return CommandSucceeded, d
}

// readSpec reads and checks the appspec file at the root of a revision.
func readSpec(root string) (*appspec.Spec, error) {
	for _, name := range appspec.FileNames() {
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return appspec.Parse(name, b)
	}
	return nil, fmt.Errorf("the revision has no %s at its root", strings.Join(appspec.FileNames(), " or "))
}

// download fetches the revision, checks its digest, and unpacks it.
func (a *Agent) download(ctx context.Context, c *Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bundle := a.Layout.Bundle(c.GroupID, c.DeploymentID)
	rc, err := a.Server.Bundle(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("download revision %s: %w", c.Revision.Digest, err)
	}
	defer rc.Close()
	tmp := bundle + ".part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("download revision %s: %w", c.Revision.Digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != c.Revision.Digest {
		_ = os.Remove(tmp)
		return fmt.Errorf("the revision downloaded has digest %s, not %s: refusing it", got, c.Revision.Digest)
	}
	if err := os.Rename(tmp, bundle); err != nil {
		return err
	}
	// A retried download starts from a clean archive directory.
	_ = os.RemoveAll(a.Layout.Archive(c.GroupID, c.DeploymentID))
	if _, err := a.Layout.UnpackBundle(ctx, c.GroupID, c.DeploymentID); err != nil {
		return err
	}
	return a.Layout.SetMostRecent(c.GroupID, dir)
}

// streamLog sends a command's script output to the server in chunks (and
// into the deployment's scripts.log), and beats the heartbeat.
type streamLog struct {
	ctx    context.Context
	server Server
	id     string
	file   *os.File

	mu  sync.Mutex
	buf []byte
}

func (l *streamLog) Write(b []byte) (int, error) {
	if l.file != nil {
		_, _ = l.file.Write(b)
	}
	l.mu.Lock()
	l.buf = append(l.buf, b...)
	big := len(l.buf) >= 32<<10
	l.mu.Unlock()
	if big {
		l.flush()
	}
	return len(b), nil
}

// flush sends what is buffered; an empty send is a heartbeat.
func (l *streamLog) flush() {
	l.mu.Lock()
	text := string(l.buf)
	l.buf = nil
	l.mu.Unlock()
	_ = l.server.Log(l.ctx, l.id, text)
}

func (l *streamLog) run(ctx context.Context, heartbeat time.Duration) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.mu.Lock()
			pending := len(l.buf) > 0
			l.mu.Unlock()
			if pending || time.Since(last) >= heartbeat {
				l.flush()
				last = time.Now()
			}
		}
	}
}
