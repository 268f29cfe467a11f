package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Isolation modes of a local instance.
const (
	// ModeNamespaced instances have their own mount view (/opt, /var, /tmp,
	// /srv, /home and /root from the instance's root directory, a fresh /run
	// and /proc), PID namespace, hostname and network namespace (only
	// loopback): the application listens on its usual port and the load
	// balancer reaches it through the instance's forwarder socket.
	ModeNamespaced = "namespaced"
	// ModeProcess instances are plain process groups on the host, used where
	// namespaces cannot be made: the application must listen on $PORT, and
	// the instance's root directory is $INSTANCE_ROOT.
	ModeProcess = "process"
)

// Proc identifies a running instance's init process. The start time tells
// a live instance from an unrelated process that reused its PID.
type Proc struct {
	PID   int    `json:"pid"`
	Start string `json:"start"`
	Mode  string `json:"mode"`
	// Port is the host port a ModeProcess instance's application must
	// listen on (its $PORT); 0 for namespaced instances.
	Port int `json:"port,omitempty"`
	// Limits says what the instance's control groups limit, or why they
	// do not.
	Limits string `json:"limits,omitempty"`
}

// Spec is what an instance is launched with. It is written to the
// instance's directory for its init process to read.
type Spec struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	Env      []string `json:"env"`
	// DataDir is the server's data directory, hidden inside the instance.
	DataDir string `json:"data_dir"`
	// RunDir holds the server's Unix API socket; namespaced instances see it
	// at /var/lib/slipway/server.
	RunDir string `json:"run_dir"`
	Mode   string `json:"mode"`
	Port   int    `json:"port,omitempty"`
	// InstanceType gives the instance CPU and memory limits (see
	// LimitsFor) where the machine lets the server make control groups.
	InstanceType string `json:"instance_type,omitempty"`
	// Cgroups are the control groups the init joins.
	Cgroups []string `json:"cgroups,omitempty"`
	// Agent makes the init run the deployment agent (`slipway agent
	// --instance`) and restart it when it exits.
	Agent bool `json:"agent,omitempty"`
}

// Runtime launches, adopts, stops and reaches local instances. Each
// instance lives in Dir/ID: its root directory (root/), its console log,
// its launch spec and its forwarder socket.
type Runtime struct {
	// Dir holds one directory per instance.
	Dir string
	// Exe is the slipway binary, run as `Exe instance-init DIR` to be each
	// instance's init process.
	Exe     string
	DataDir string
	RunDir  string
	Log     *slog.Logger

	mu sync.Mutex
	// noNamespaces is set once a namespaced launch has been refused, so
	// later launches go straight to plain processes.
	noNamespaces bool
	// spare is an init waiting to become the next namespaced instance.
	spare             *initProc
	refilling, closed bool
	wg                sync.WaitGroup
}

// instanceDirs are the host directories each namespaced instance has its
// own copy of, from its root directory.
var instanceDirs = []string{"opt", "var", "tmp", "srv", "home", "root"}

// InstanceDir is the directory of instance id.
func (rt *Runtime) InstanceDir(id string) string { return filepath.Join(rt.Dir, id) }

// RootDir is instance id's root directory as the host sees it.
func (rt *Runtime) RootDir(id string) string { return filepath.Join(rt.Dir, id, "root") }

// ConsoleLog is the path of instance id's console log (its init's and its
// user data's output).
func (rt *Runtime) ConsoleLog(id string) string { return filepath.Join(rt.Dir, id, "console.log") }

func (rt *Runtime) socket(id string) string { return filepath.Join(rt.Dir, id, "net.sock") }

// Prepare makes instance id's directory: the root directory with its usual
// subdirectories, the user data, and the instance's configuration file (how
// cfn-signal and slipway reach the server from inside).
func (rt *Runtime) Prepare(id string, userData []byte, config any) error {
	root := rt.RootDir(id)
	for _, d := range append(instanceDirs, "opt/aws/bin", "var/lib/slipway/server", "var/lib/cloud/instance", "var/log", "var/tmp") {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("instance %s: %w", id, err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return fmt.Errorf("instance %s: %w", id, err)
	}
	// The binary is bind-mounted here by the init; cfn-signal is the same
	// binary under the name AWS templates call.
	exe := filepath.Join(root, "opt/aws/bin/slipway")
	if err := os.WriteFile(exe, nil, 0o755); err != nil {
		return fmt.Errorf("instance %s: %w", id, err)
	}
	link := filepath.Join(root, "opt/aws/bin/cfn-signal")
	if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink("slipway", link); err != nil {
			return fmt.Errorf("instance %s: %w", id, err)
		}
	}
	for name, target := range map[string]string{"var/run": "../run", "var/lock": "../run/lock"} {
		if _, err := os.Lstat(filepath.Join(root, name)); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				return fmt.Errorf("instance %s: %w", id, err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/cloud/instance/user-data"), userData, 0o700); err != nil {
		return fmt.Errorf("instance %s: %w", id, err)
	}
	b, err := json.Marshal(config)
	if err != nil {
		return err
	}
	// Readable only by the instance's own user: it holds the instance's
	// credential.
	return os.WriteFile(filepath.Join(root, "var/lib/slipway/instance.json"), b, 0o600)
}

// Launch starts instance spec.ID's init process, namespaced where the
// machine allows, and returns once the instance is set up (its user data
// is then running). The process outlives the server: it is in its own
// session, and Adopt finds it again after a restart.
func (rt *Runtime) Launch(ctx context.Context, spec Spec) (Proc, error) {
	rt.mu.Lock()
	namespaces := !rt.noNamespaces
	rt.mu.Unlock()
	if namespaces {
		spec.Mode = ModeNamespaced
		p, err := rt.launch(ctx, spec)
		if err == nil || !errors.Is(err, errNamespaces) {
			return p, err
		}
		rt.Log.Warn("instances run as plain processes: this machine refuses new namespaces", "err", err)
		rt.mu.Lock()
		rt.noNamespaces = true
		rt.mu.Unlock()
	}
	port, err := freePort()
	if err != nil {
		return Proc{}, fmt.Errorf("instance %s: %w", spec.ID, err)
	}
	spec.Mode, spec.Port = ModeProcess, port
	return rt.launch(ctx, spec)
}

var errNamespaces = errors.New("namespaces refused")

func (rt *Runtime) launch(ctx context.Context, spec Spec) (Proc, error) {
	dir := rt.InstanceDir(spec.ID)
	limits := ""
	if spec.InstanceType != "" {
		if l, ok := LimitsFor(spec.InstanceType); !ok {
			limits = "no limits: instance type " + spec.InstanceType + " is recorded only (its size is not in Slipway's table)"
		} else if dirs, err := setupCgroups(spec.ID, l); err != nil {
			limits = fmt.Sprintf("no limits: this machine does not let the server make control groups (%v); %s is recorded only", err, spec.InstanceType)
		} else {
			spec.Cgroups = dirs
			limits = fmt.Sprintf("limits of %s: %s", spec.InstanceType, l)
		}
	}
	p, err := rt.launchSpec(ctx, spec, dir)
	p.Limits = limits
	if err != nil {
		removeCgroups(spec.ID)
	}
	return p, err
}

func (rt *Runtime) launchSpec(ctx context.Context, spec Spec, dir string) (Proc, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return Proc{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "spec.json"), b, 0o600); err != nil {
		return Proc{}, fmt.Errorf("instance %s: %w", spec.ID, err)
	}
	if spec.Mode == ModeNamespaced {
		// Whichever way this one starts, the next finds a spare waiting.
		defer rt.refill()
		if sp := rt.takeSpare(); sp != nil {
			p, err := rt.useSpare(ctx, sp, dir)
			if err == nil {
				return p, nil
			}
			rt.Log.Warn("a spare instance init failed; launching afresh", "instance", spec.ID, "err", err)
		}
	}
	console, err := os.OpenFile(rt.ConsoleLog(spec.ID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Proc{}, fmt.Errorf("instance %s: %w", spec.ID, err)
	}
	defer console.Close()
	ip, err := rt.start(spec.Mode, dir, console)
	if err != nil {
		return Proc{}, fmt.Errorf("instance %s: %w", spec.ID, err)
	}
	defer ip.ready.Close()
	p, err := rt.handshake(ctx, ip, spec.Mode == ModeNamespaced, spec.Port)
	if err != nil {
		return Proc{}, fmt.Errorf("instance %s: %w (its console log: %s)", spec.ID, err, rt.ConsoleLog(spec.ID))
	}
	return p, nil
}

// initProc is an init process just started, before it is ready.
type initProc struct {
	pid    int
	mode   string
	ready  *os.File // its first line: "ok" or "error: ..."
	ctl    *os.File // a spare's control pipe: the instance directory goes here
	exited chan struct{}
}

// start runs `Exe instance-init ARG` in mode's namespaces, in a session of
// its own, with the ready pipe on descriptor 3 (and, for a spare, the
// control pipe on 4).
func (rt *Runtime) start(mode, arg string, console *os.File) (*initProc, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyW.Close()
	cmd := exec.Command(rt.Exe, "instance-init", arg)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if console != nil {
		cmd.Stdout, cmd.Stderr = console, console
	}
	cmd.ExtraFiles = []*os.File{readyW}
	var ctlW *os.File
	if arg == spareArg {
		ctlR, w, err := os.Pipe()
		if err != nil {
			readyR.Close()
			return nil, err
		}
		defer ctlR.Close()
		ctlW = w
		cmd.ExtraFiles = append(cmd.ExtraFiles, ctlR)
	}
	attr := &syscall.SysProcAttr{Setsid: true}
	if mode == ModeNamespaced {
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC
		if os.Geteuid() != 0 {
			// Unprivileged: a user namespace where the server's user is root,
			// which is what lets the init mount and name its host.
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
			attr.GidMappingsEnableSetgroups = false
		}
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		readyR.Close()
		if ctlW != nil {
			ctlW.Close()
		}
		if mode == ModeNamespaced && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES)) {
			return nil, fmt.Errorf("%w: %v", errNamespaces, err)
		}
		return nil, fmt.Errorf("start: %w", err)
	}
	// The server reaps the children it launched; adopted instances belong
	// to whoever inherited them.
	ip := &initProc{pid: cmd.Process.Pid, mode: mode, ready: readyR, ctl: ctlW, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(ip.exited)
	}()
	return ip, nil
}

// handshake waits for a started init to be set up.
func (rt *Runtime) handshake(ctx context.Context, ip *initProc, namespaced bool, port int) (Proc, error) {
	msg, err := readReady(ctx, ip.ready, ip.exited)
	if err != nil || msg != "ok" {
		_ = syscall.Kill(ip.pid, syscall.SIGKILL)
		if err == nil {
			err = errors.New(strings.TrimPrefix(msg, "error: "))
		}
		if namespaced && strings.Contains(err.Error(), "operation not permitted") {
			return Proc{}, fmt.Errorf("%w: %v", errNamespaces, err)
		}
		return Proc{}, fmt.Errorf("init: %w", err)
	}
	start, err := startTime(ip.pid)
	if err != nil {
		return Proc{}, err
	}
	return Proc{PID: ip.pid, Start: start, Mode: ip.mode, Port: port}, nil
}

// spareArg starts an init that waits, its namespaces made, for the
// directory of the instance it is to become: launching then costs only the
// instance's own set-up, not starting the binary.
const spareArg = "spare"

// takeSpare returns the waiting spare init, if there is a live one.
func (rt *Runtime) takeSpare() *initProc {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	sp := rt.spare
	rt.spare = nil
	if sp != nil {
		select {
		case <-sp.exited:
			sp.ready.Close()
			sp.ctl.Close()
			return nil
		default:
		}
	}
	return sp
}

// useSpare hands the spare its instance directory and waits for it.
func (rt *Runtime) useSpare(ctx context.Context, sp *initProc, dir string) (Proc, error) {
	defer sp.ready.Close()
	_, err := fmt.Fprintln(sp.ctl, dir)
	sp.ctl.Close()
	if err != nil {
		_ = syscall.Kill(sp.pid, syscall.SIGKILL)
		return Proc{}, err
	}
	return rt.handshake(ctx, sp, true, 0)
}

// refill starts a spare init in the background when there is none.
func (rt *Runtime) refill() {
	rt.mu.Lock()
	if rt.spare != nil || rt.refilling || rt.closed || rt.noNamespaces {
		rt.mu.Unlock()
		return
	}
	rt.refilling = true
	rt.mu.Unlock()
	rt.wg.Go(func() {
		sp, err := rt.start(ModeNamespaced, spareArg, nil)
		rt.mu.Lock()
		defer rt.mu.Unlock()
		rt.refilling = false
		if errors.Is(err, errNamespaces) {
			rt.noNamespaces = true
			return
		}
		if err != nil {
			rt.Log.Warn("no spare instance init", "err", err)
			return
		}
		if rt.closed {
			rt.killSpare(sp)
			return
		}
		rt.spare = sp
	})
}

func (rt *Runtime) killSpare(sp *initProc) {
	sp.ctl.Close() // the spare exits on its own when its control pipe ends
	sp.ready.Close()
	_ = syscall.Kill(sp.pid, syscall.SIGKILL)
}

// Close stops the spare init. Instances are left alone.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	rt.closed = true
	sp := rt.spare
	rt.spare = nil
	rt.mu.Unlock()
	rt.wg.Wait()
	if sp != nil {
		rt.killSpare(sp)
	}
}

// readReady waits for the init's one line on the ready pipe: "ok" or
// "error: ...".
func readReady(ctx context.Context, r *os.File, exited <-chan struct{}) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if errors.Is(err, io.EOF) && line != "" {
			err = nil
		}
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			return "", errors.New("the init process exited before it was ready")
		}
		return res.line, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(30 * time.Second):
		return "", errors.New("the init process was not ready within 30s")
	}
}

// Alive reports whether p is still the running instance it was launched as.
func (rt *Runtime) Alive(p Proc) bool {
	if p.PID <= 0 {
		return false
	}
	start, err := startTime(p.PID)
	return err == nil && start == p.Start
}

// Stop ends an instance: SIGTERM to its init, which passes it on to every
// process of the instance, then after grace SIGKILL. A namespaced
// instance's PID namespace dies with its init; a plain instance's
// descendants are killed one by one.
func (rt *Runtime) Stop(ctx context.Context, p Proc, grace time.Duration) {
	if !rt.Alive(p) {
		return
	}
	// A plain instance's processes may have left its process group (a
	// daemon's setsid), but the init is their subreaper: they are its
	// descendants, listed before the init goes.
	var rest []int
	if p.Mode == ModeProcess {
		rest = Descendants(p.PID)
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for rt.Alive(p) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	for _, pid := range rest {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for i := 0; i < 200 && rt.Alive(p); i++ {
		time.Sleep(5 * time.Millisecond)
	}
}

// own takes the instance directory's lock, waiting while another server
// process on the same data directory holds it, and returns its release.
func (rt *Runtime) own(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(rt.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(rt.Dir, ".owner"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			if waited {
				rt.Log.Info("fleet: this server now runs the data directory's instances")
			}
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if !waited {
			rt.Log.Info("fleet: another server process on this data directory runs its instances; this one takes over if that one stops")
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// Remove deletes instance id's directory and control groups.
func (rt *Runtime) Remove(id string) error {
	removeCgroups(id)
	return os.RemoveAll(rt.InstanceDir(id))
}

// Dial connects to port on instance id, through the instance's forwarder:
// the caller writes the port, the forwarder connects inside the instance and
// answers one status byte (0 connected, otherwise an error message follows).
func (rt *Runtime) Dial(ctx context.Context, id string, port int) (net.Conn, error) {
	var d net.Dialer
	path, done, err := ShortSocketPath(rt.socket(id))
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", id, err)
	}
	c, err := d.DialContext(ctx, "unix", path)
	done()
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", id, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := fmt.Fprintf(c, "%d\n", port); err != nil {
		c.Close()
		return nil, fmt.Errorf("instance %s: %w", id, err)
	}
	var status [1]byte
	if _, err := io.ReadFull(c, status[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("instance %s port %d: %w", id, port, err)
	}
	if status[0] != 0 {
		msg, _ := io.ReadAll(io.LimitReader(c, 512))
		c.Close()
		return nil, fmt.Errorf("instance %s port %d: %s", id, port, msg)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// startTime reads a process's start time (clock ticks since boot, field 22
// of /proc/PID/stat), "" for a zombie.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("pid %d: unreadable stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("pid %d: unreadable stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return "", fmt.Errorf("pid %d has exited", pid)
	}
	return f[19], nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Descendants lists the processes descended from pid, children first.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// ShortSocketPath returns a path for the Unix socket at path that fits the
// kernel's 108-byte limit: path itself when short, or else the socket's
// name under /proc/self/fd/N, N a descriptor of its directory. done closes
// that descriptor once the socket is bound or connected.
func ShortSocketPath(path string) (short string, done func(), err error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)), func() { dir.Close() }, nil
}
