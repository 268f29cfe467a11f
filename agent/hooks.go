// Package agent is the host agent of deployments: it runs a revision's
// appspec lifecycle hooks on an instance, as CodeDeploy's agent does.
package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slipway/slipway/appspec"
)

// Code is a script's outcome, with CodeDeploy's diagnostic codes.
type Code int

// The diagnostic codes of the agent.
const (
	Succeeded           Code = 0
	ScriptMissing       Code = 1
	ScriptNotExecutable Code = 2
	ScriptTimedOut      Code = 3
	ScriptFailed        Code = 4
	UnknownError        Code = 5
	OutputsLeftOpen     Code = 6
)

var codeNames = [...]string{"Succeeded", "ScriptMissing", "ScriptNotExecutable", "ScriptTimedOut", "ScriptFailed", "UnknownError", "OutputsLeftOpen"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Deployment is what a hook's environment tells its scripts.
type Deployment struct {
	ID, ApplicationName, GroupName, GroupID string
}

// ScriptResult is the outcome of one script.
type ScriptResult struct {
	Location string        `json:"location"`
	Code     Code          `json:"code"`
	ExitCode int           `json:"exit_code"`
	Message  string        `json:"message,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Tail is the end of the script's output (the last 2048 bytes), as
	// the agent's diagnostics carry it.
	Tail string `json:"tail"`
}

// tailSize is how much output a result keeps.
const tailSize = 2048

// Runner runs hook scripts.
type Runner struct {
	// Env is the environment every script starts from; nil means the
	// agent's own.
	Env []string
	// OutputGrace is how long a finished script's output may stay open (a
	// background process that kept the script's stdout) before the script
	// fails with OutputsLeftOpen; default 2s.
	OutputGrace time.Duration
	// KillGrace is how long a timed-out script's process group has between
	// SIGTERM and SIGKILL; default 5s.
	KillGrace time.Duration
}

// RunHook runs the scripts of one lifecycle event, in order, from the
// revision unpacked at root, writing their output to log as it comes
// ([stdout] and [stderr] lines). It stops at the first script that does not
// succeed; the event succeeded when every result is Succeeded.
func (r *Runner) RunHook(ctx context.Context, root string, event appspec.Event, hooks []appspec.Hook, d Deployment, log io.Writer) []ScriptResult {
	var out []ScriptResult
	for _, h := range hooks {
		res := r.runScript(ctx, root, event, h, d, log)
		out = append(out, res)
		if res.Code != Succeeded {
			break
		}
	}
	return out
}

func (r *Runner) runScript(ctx context.Context, root string, event appspec.Event, h appspec.Hook, d Deployment, log io.Writer) ScriptResult {
	res := ScriptResult{Location: h.Location, Started: time.Now()}
	defer func() { res.Duration = time.Since(res.Started) }()
	// The location is relative to the revision's root, even with a leading
	// slash, and may not lead out of it.
	rel := filepath.Clean("/" + h.Location)
	path := filepath.Join(root, rel)
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		res.Code, res.Message = ScriptMissing, "Script does not exist at specified location: "+path
		return res
	}
	if fi.Mode()&0o111 != 0o111 {
		if err := os.Chmod(path, fi.Mode()|0o111); err != nil {
			res.Code, res.Message = ScriptNotExecutable, fmt.Sprintf("Script at specified location: %s is not executable and could not be made so: %v", h.Location, err)
			return res
		}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = appspec.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := r.command(ctx, path, h)
	cmd.Dir = root
	cmd.Env = append(r.baseEnv(),
		"LIFECYCLE_EVENT="+string(event),
		"DEPLOYMENT_ID="+d.ID,
		"APPLICATION_NAME="+d.ApplicationName,
		"DEPLOYMENT_GROUP_NAME="+d.GroupName,
		"DEPLOYMENT_GROUP_ID="+d.GroupID)
	tail := &tailWriter{max: tailSize}
	var mu sync.Mutex // the two streams write to log in turn
	cmd.Stdout = &prefixWriter{w: log, prefix: "[stdout]", tail: tail, mu: &mu}
	cmd.Stderr = &prefixWriter{w: log, prefix: "[stderr]", tail: tail, mu: &mu}
	// Its own process group, so that a timeout ends everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	killGrace := r.KillGrace
	if killGrace <= 0 {
		killGrace = 5 * time.Second
	}
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		go func() {
			time.Sleep(killGrace)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}()
		return nil
	}
	cmd.WaitDelay = r.OutputGrace
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	err = cmd.Run()
	flushAll(cmd.Stdout, cmd.Stderr)
	res.Tail = tail.String()
	who := ""
	if h.RunAs != "" {
		who = " run as user " + h.RunAs
	}
	var exit *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.Code, res.Message = ScriptTimedOut, fmt.Sprintf("Script at specified location: %s%s failed to complete in %d seconds", h.Location, who, int(timeout/time.Second))
	case errors.As(err, &exit) && exit.ExitCode() != 0:
		res.Code, res.ExitCode = ScriptFailed, exit.ExitCode()
		res.Message = fmt.Sprintf("Script at specified location: %s%s failed with exit code %d", h.Location, who, exit.ExitCode())
	case errors.Is(err, exec.ErrWaitDelay):
		res.Code, res.Message = OutputsLeftOpen, fmt.Sprintf("Script at specified location: %s%s failed to close STDOUT/STDERR: a process it started keeps them open; redirect its output (> file 2>&1)", h.Location, who)
	case err != nil:
		res.Code, res.Message = UnknownError, fmt.Sprintf("Script at specified location: %s%s: %v", h.Location, who, err)
	}
	return res
}

// command runs the script: directly when it has an interpreter line, with
// /bin/sh otherwise (an empty script then succeeds, as with the agent), and
// through su for runas.
func (r *Runner) command(ctx context.Context, path string, h appspec.Hook) *exec.Cmd {
	run := []string{path}
	if !hasInterpreter(path) {
		run = []string{"/bin/sh", path}
	}
	if h.RunAs == "" {
		return exec.CommandContext(ctx, run[0], run[1:]...)
	}
	line := strings.Join(quoteAll(run), " ")
	if h.Sudo {
		return exec.CommandContext(ctx, "sudo", "su", h.RunAs, "-c", line)
	}
	return exec.CommandContext(ctx, "su", h.RunAs, "-c", line)
}

func hasInterpreter(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := io.ReadFull(f, head)
	return n == 2 && string(head) == "#!"
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

func (r *Runner) baseEnv() []string {
	if r.Env != nil {
		return append([]string(nil), r.Env...)
	}
	return os.Environ()
}

// prefixWriter writes each line of a stream to w with a prefix, and keeps
// the tail of the output.
type prefixWriter struct {
	w      io.Writer
	prefix string
	tail   *tailWriter
	mu     *sync.Mutex
	line   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail.Write(b)
	p.line = append(p.line, b...)
	for {
		i := bytes.IndexByte(p.line, '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s %s\n", p.prefix, p.line[:i])
		p.line = p.line[i+1:]
	}
	return len(b), nil
}

// flush writes a last line that had no newline.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.line) > 0 {
		fmt.Fprintf(p.w, "%s %s\n", p.prefix, p.line)
		p.line = nil
	}
}

func flushAll(ws ...io.Writer) {
	for _, w := range ws {
		if p, ok := w.(*prefixWriter); ok {
			p.flush()
		}
	}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(b []byte) {
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
}

func (t *tailWriter) String() string { return string(t.buf) }
