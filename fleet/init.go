package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Init is the init process of the instance whose directory is dir (the
// hidden `slipway instance-init DIR`). It sets the instance up (mounts,
// hostname, loopback; the forwarder socket), reports on file descriptor 3,
// runs the user data, then forwards connections, reaps orphans, and on
// SIGTERM stops every process of the instance.
func Init(dir string) error {
	ready := os.NewFile(3, "ready")
	if dir == spareArg {
		// A spare: its namespaces are made; it waits for its instance, and
		// ends when the server that started it goes.
		line, err := bufio.NewReader(os.NewFile(4, "control")).ReadString('\n')
		if err != nil {
			return nil
		}
		dir = strings.TrimSpace(line)
		console, err := os.OpenFile(filepath.Join(dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintf(ready, "error: %v\n", err)
			return err
		}
		for _, fd := range []int{1, 2} {
			if err := unix.Dup3(int(console.Fd()), fd, 0); err != nil {
				fmt.Fprintf(ready, "error: %v\n", err)
				return err
			}
		}
		console.Close()
	}
	fail := func(err error) error {
		if ready != nil {
			fmt.Fprintf(ready, "error: %v\n", err)
			ready.Close()
		}
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		return fail(err)
	}
	var spec Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fail(fmt.Errorf("%s: %w", filepath.Join(dir, "spec.json"), err))
	}
	sock := filepath.Join(dir, "net.sock")
	_ = os.Remove(sock)
	short, done, err := ShortSocketPath(sock)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("unix", short)
	done()
	if err != nil {
		return fail(err)
	}
	root := filepath.Join(dir, "root")
	userData := filepath.Join(root, "var/lib/cloud/instance/user-data")
	config := filepath.Join(root, "var/lib/slipway/instance.json")
	env := append([]string{
		"PATH=/opt/aws/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"INSTANCE_ID=" + spec.ID,
		"HOSTNAME=" + spec.Hostname,
		"LANG=C.UTF-8",
	}, spec.Env...)
	if spec.Mode == ModeNamespaced {
		if err := isolate(spec, root); err != nil {
			return fail(err)
		}
		userData = "/var/lib/cloud/instance/user-data"
		config = "/var/lib/slipway/instance.json"
		env = append(env, "HOME=/root", "SLIPWAY_INSTANCE_CONFIG="+config)
	} else {
		// Orphans of the user data stay ours to reap and to stop.
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		// No bind mounts here: the server's socket directory is a link.
		server := filepath.Join(root, "var/lib/slipway/server")
		if err := os.Remove(server); err == nil && spec.RunDir != "" {
			if err := os.Symlink(spec.RunDir, server); err != nil {
				return fail(err)
			}
		}
		env = append(env, "HOME="+filepath.Join(root, "root"), "PORT="+strconv.Itoa(spec.Port),
			"INSTANCE_ROOT="+root, "SLIPWAY_INSTANCE_CONFIG="+config)
		_ = os.Chdir(root)
	}
	if err := joinCgroups(spec.Cgroups); err != nil {
		return fail(err)
	}
	fmt.Fprintf(ready, "ok\n")
	ready.Close()
	ready = nil

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	children := make(chan os.Signal, 8)
	signal.Notify(children, syscall.SIGCHLD)
	terms := make(chan os.Signal, 2)
	signal.Notify(terms, syscall.SIGTERM, syscall.SIGINT)

	logf("instance %s (%s) started", spec.ID, spec.Mode)
	udPID := runUserData(userData, env)
	agentPID := 0
	if spec.Agent {
		agentPID = startAgent(env)
	}
	var restart <-chan time.Time
	go forward(ctx, ln, spec)
	for {
		select {
		case <-children:
			if reap(udPID, agentPID) {
				logf("deployment agent exited; restarting it in a second")
				agentPID = 0
				restart = time.After(time.Second)
			}
		case <-restart:
			agentPID = startAgent(env)
		case <-terms:
			logf("instance %s stopping", spec.ID)
			shutdown(spec)
			return nil
		}
	}
}

// isolate gives the instance its own view of the host: it runs in new
// mount, PID, UTS, IPC and network namespaces already.
func isolate(spec Spec, root string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// First into the instance's root, so that the binds below carry them:
	// the slipway binary (cfn-signal) and the server's socket directory.
	if err := unix.Mount("/proc/self/exe", filepath.Join(root, "opt/aws/bin/slipway"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind slipway into the instance: %w", err)
	}
	if spec.RunDir != "" {
		if err := unix.Mount(spec.RunDir, filepath.Join(root, "var/lib/slipway/server"), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the server socket into the instance: %w", err)
		}
	}
	// Every source is opened before the first bind, which may hide the
	// others (the data directory is often under /tmp or /var).
	type bind struct {
		fd     int
		target string
	}
	var binds []bind
	defer func() {
		for _, b := range binds {
			unix.Close(b.fd)
		}
	}()
	for _, d := range instanceDirs {
		if fi, err := os.Stat("/" + d); err != nil || !fi.IsDir() {
			continue
		}
		fd, err := unix.Open(filepath.Join(root, d), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open the instance's /%s: %w", d, err)
		}
		binds = append(binds, bind{fd, "/" + d})
	}
	for _, b := range binds {
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", b.fd), b.target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount the instance's %s: %w", b.target, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=64m"); err != nil {
		return fmt.Errorf("mount /run: %w", err)
	}
	_ = os.MkdirAll("/run/lock", 0o1777)
	// The server's data directory may still show (when it is not under one
	// of the directories replaced above): cover it.
	if fi, err := os.Stat(spec.DataDir); err == nil && fi.IsDir() {
		if err := unix.Mount("tmpfs", spec.DataDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RDONLY, "size=4k"); err != nil {
			return fmt.Errorf("hide the server's data directory: %w", err)
		}
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("set the hostname: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return fmt.Errorf("bring up loopback: %w", err)
	}
	return os.Chdir("/")
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// runUserData starts the user data (a script with its own #! line, or one
// for /bin/sh) with the init's output, the console log. Its processes are
// reaped by the init's loop, so it is started bare rather than with
// os/exec (whose Wait would race the reaper).
func runUserData(path string, env []string) int {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		return 0
	}
	head := make([]byte, 2)
	if f, err := os.Open(path); err == nil {
		_, _ = io.ReadFull(f, head)
		f.Close()
	}
	argv := []string{"/bin/sh", path}
	if string(head) == "#!" {
		argv = []string{path}
	}
	logf("running user data")
	// A closed stdin would be the first descriptor a daemon opens, and its
	// daemonising then replaces that socket with /dev/null.
	null, err := os.Open(os.DevNull)
	if err != nil {
		logf("user data: %v", err)
		return 0
	}
	defer null.Close()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: "/", Env: env,
		Files: []*os.File{null, os.Stdout, os.Stderr}})
	if err != nil {
		logf("user data: %v", err)
		return 0
	}
	return p.Pid
}

// reap collects every exited child; the user data's exit is logged. It
// reports whether the agent was among them.
func reap(userData, agent int) (agentExited bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return agentExited
		}
		switch pid {
		case userData:
			logf("user data exited with status %d", ws.ExitStatus())
		case agent:
			agentExited = true
		}
	}
}

// startAgent starts the deployment agent, the init's own binary, with the
// instance's environment; like the user data it is reaped by the init.
func startAgent(env []string) int {
	null, err := os.Open(os.DevNull)
	if err != nil {
		logf("agent: %v", err)
		return 0
	}
	defer null.Close()
	p, err := os.StartProcess("/proc/self/exe", []string{"slipway", "agent", "--instance"}, &os.ProcAttr{Dir: "/", Env: env,
		Files: []*os.File{null, os.Stdout, os.Stderr}})
	if err != nil {
		logf("agent: %v", err)
		return 0
	}
	return p.Pid
}

// shutdown sends SIGTERM to every other process of the instance, waits
// briefly for them, and kills what remains.
func shutdown(spec Spec) {
	var rest []int
	if spec.Mode == ModeNamespaced {
		_ = unix.Kill(-1, unix.SIGTERM)
	} else {
		rest = Descendants(os.Getpid())
		for _, pid := range rest {
			_ = unix.Kill(pid, unix.SIGTERM)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.ECHILD) {
			return
		}
		if pid <= 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if spec.Mode == ModeNamespaced {
		_ = unix.Kill(-1, unix.SIGKILL)
	}
	for _, pid := range rest {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// forward serves the instance's forwarder socket: each connection names a
// port, and is joined to a connection to that port on the instance's
// loopback (a plain-process instance's every port is its $PORT).
func forward(ctx context.Context, ln net.Listener, spec Spec) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go forwardConn(c, spec)
	}
}

func forwardConn(c net.Conn, spec Spec) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 64)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || port < 1 || port > 65535 {
		fmt.Fprintf(c, "\x01bad port %q", strings.TrimSpace(line))
		return
	}
	if spec.Mode == ModeProcess {
		port = spec.Port
	}
	up, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		fmt.Fprintf(c, "\x01nothing listens on port %d in the instance: %v", port, err)
		return
	}
	defer up.Close()
	_ = c.SetReadDeadline(time.Time{})
	if _, err := c.Write([]byte{0}); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		// Bytes the dialler sent after the port line are already buffered.
		_, _ = io.Copy(up, br)
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(c, up)
	if uc, ok := c.(*net.UnixConn); ok {
		_ = uc.CloseWrite()
	}
	<-done
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "%s [init] %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}
