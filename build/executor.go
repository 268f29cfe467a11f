package build

import (
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
)

// An Executor runs one build's commands somewhere: a local process (the
// default), a container, or later a remote build host. The runner holds the
// buildspec semantics; an executor only runs a shell script in a workspace.
type Executor interface {
	// Prepare makes a workspace for a build whose source tree is srcDir
	// (copied, never modified in place).
	Prepare(ctx context.Context, srcDir string) (*Workspace, error)
	// Run runs script with shell in the workspace and returns its exit code.
	// Cancelling ctx kills every process the script started.
	Run(ctx context.Context, ws *Workspace, c Command, out io.Writer) (exitCode int, err error)
	// Cleanup removes the workspace.
	Cleanup(ctx context.Context, ws *Workspace) error
	// Isolation says, for the build log, how builds are kept apart.
	Isolation() string
}

// Workspace is where one build runs.
type Workspace struct {
	// Root holds everything of the build; SrcDir is CODEBUILD_SRC_DIR;
	// StateDir keeps the shell state carried between commands (never
	// inside the source tree, so it cannot end up in an artifact).
	Root, SrcDir, StateDir string
}

// Command is a script for an executor.
type Command struct {
	Shell  string // "sh" or "bash"
	Script string
	Env    []string
	Dir    string
}

// Local runs commands as local processes in a workspace under a directory.
// Where bubblewrap (bwrap) works, every command runs inside it: in its own
// PID namespace (so killall and friends touch only the build), with its own
// /tmp, and with the Hide directories (the server's data directory: its
// database and other builds' workspaces) replaced by empty ones.
type Local struct {
	// Dir is where workspaces are made; "" means the system's temp directory.
	Dir string
	// KillGrace is how long a cancelled command's processes get after
	// SIGTERM before SIGKILL.
	KillGrace time.Duration
	// Hide lists directories a build must not see.
	Hide []string
	// NoSandbox runs commands without bubblewrap even where it works.
	NoSandbox bool

	sandboxOnce sync.Once
	bwrap       string // the bwrap program, "" when unusable
}

// sandbox finds a working bwrap once.
func (l *Local) sandbox() string {
	l.sandboxOnce.Do(func() {
		if l.NoSandbox {
			return
		}
		p, err := exec.LookPath("bwrap")
		if err != nil {
			return
		}
		// Unprivileged user namespaces may be switched off: try it.
		if exec.Command(p, "--bind", "/", "/", "--unshare-pid", "--die-with-parent", "true").Run() == nil {
			l.bwrap = p
		}
	})
	return l.bwrap
}

// Isolation describes the local executor's isolation, for the build log.
func (l *Local) Isolation() string {
	if l.sandbox() == "" {
		return "local processes without a sandbox (bubblewrap is not installed or cannot run here): the build runs with this user's permissions and sees this machine's files"
	}
	hidden := "nothing hidden"
	if len(l.Hide) > 0 {
		hidden = "hidden: " + strings.Join(l.Hide, ", ")
	}
	return "bubblewrap sandbox: own PID namespace and /tmp; " + hidden
}

// wrap returns the program and arguments that run shell -c script, inside
// the sandbox when there is one.
func (l *Local) wrap(ws *Workspace, shell, script string) (string, []string) {
	bwrap := l.sandbox()
	if bwrap == "" {
		return shell, []string{"-c", script}
	}
	args := []string{"--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"}
	for _, h := range l.Hide {
		args = append(args, "--tmpfs", h)
	}
	// The workspace comes back on top of whatever hid it.
	args = append(args, "--bind", ws.Root, ws.Root, "--unshare-pid", "--die-with-parent", "--", shell, "-c", script)
	return bwrap, args
}

// Prepare copies srcDir into a fresh workspace.
func (l *Local) Prepare(ctx context.Context, srcDir string) (*Workspace, error) {
	return newWorkspace(ctx, l.Dir, srcDir)
}

// newWorkspace copies srcDir into a fresh workspace under dir ("" means the
// system's temp directory); every executor that runs on this machine's
// files lays its workspaces out the same way.
func newWorkspace(ctx context.Context, dir, srcDir string) (*Workspace, error) {
	root, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	ws := &Workspace{Root: root, SrcDir: filepath.Join(root, "src"), StateDir: filepath.Join(root, "state")}
	if err := os.Mkdir(ws.StateDir, 0o700); err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("workspace: %w", err)
	}
	if err := CopyTree(ctx, srcDir, ws.SrcDir); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return ws, nil
}

// Cleanup removes the workspace.
func (l *Local) Cleanup(_ context.Context, ws *Workspace) error {
	return os.RemoveAll(ws.Root)
}

// Run starts the shell in its own process group, so that a timeout or a stop
// kills the command and everything it started.
func (l *Local) Run(ctx context.Context, ws *Workspace, c Command, out io.Writer) (int, error) {
	shell := c.Shell
	if shell == "" {
		shell = "sh"
	}
	prog, args := l.wrap(ws, shell, c.Script)
	cmd := exec.Command(prog, args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = out, out
	// Where the log is a plain file and nothing needs masking, the command
	// writes to it itself rather than through a pipe and this process.
	if d, ok := out.(interface{ direct() (*os.File, bool) }); ok {
		if f, ok := d.direct(); ok {
			cmd.Stdout, cmd.Stderr = f, f
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A command may leave a background process holding the output pipe;
	// stop waiting for it shortly after the command itself ends.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start %s: %w", shell, err)
	}
	done := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		select {
		case <-done:
		case <-ctx.Done():
			pgid := cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			grace := l.KillGrace
			if grace <= 0 {
				grace = 2 * time.Second
			}
			select {
			case <-done:
			case <-time.After(grace):
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	err := cmd.Wait()
	close(done)
	<-killed
	if ctx.Err() != nil {
		return -1, context.Cause(ctx)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, exec.ErrWaitDelay):
		return cmd.ProcessState.ExitCode(), nil
	case errors.As(err, &exitErr):
		if code := exitErr.ExitCode(); code >= 0 {
			return code, nil
		}
		return 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal()), nil
	}
	return -1, err
}
