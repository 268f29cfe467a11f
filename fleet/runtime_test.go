package fleet

import (
	"context"
	"fmt"
	"github.com/slipway/slipway/store/storetest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be an instance's init, as the slipway
// binary is (`slipway instance-init DIR`).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "instance-init" {
		if err := Init(os.Args[2]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(storetest.Main(m))
}

func newRuntime(t testing.TB) *Runtime {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	rt := &Runtime{Dir: filepath.Join(base, "instances"), Exe: exe, DataDir: base, RunDir: filepath.Join(base, "run"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, d := range []string{rt.Dir, rt.RunDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(rt.Close)
	return rt
}

// httpVia returns a client whose every connection is dialled to port on
// the instance, through its forwarder.
func httpVia(rt *Runtime, id string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			var p int
			for _, c := range port {
				p = p*10 + int(c-'0')
			}
			return rt.Dial(ctx, id, p)
		}}}
}

func getEventually(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			err = &url2err{resp.Status}
		}
		if time.Now().After(deadline) {
			t.Errorf("GET %s: %v", url, err)
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type url2err struct{ s string }

func (e *url2err) Error() string { return e.s }

const webUserData = `#!/bin/sh
mkdir -p /opt/www
echo "host $(hostname)" > /opt/www/index.html
echo private > /tmp/marker
cat %s/secret > /opt/www/leak 2>/dev/null
busybox httpd -p 8000 -h /opt/www
echo started
`

func TestRuntime_NamespacedInstanceIsAHostOfItsOwn(t *testing.T) {
	rt := newRuntime(t)
	if err := os.WriteFile(filepath.Join(rt.DataDir, "secret"), []byte("server secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var procs []Proc
	for _, id := range []string{"i-aaa", "i-bbb"} {
		if err := rt.Prepare(id, []byte(strings.ReplaceAll(webUserData, "%s", rt.DataDir)), InstanceConfig{InstanceID: id}); err != nil {
			t.Fatal(err)
		}
		p, err := rt.Launch(ctx, Spec{ID: id, Hostname: id, DataDir: rt.DataDir, RunDir: rt.RunDir})
		if err != nil {
			t.Fatal(err)
		}
		if p.Mode != ModeNamespaced {
			t.Skipf("this machine refuses namespaces (mode %s); the plain-process mode is tested separately", p.Mode)
		}
		procs = append(procs, p)
	}
	// Both listen on the same port 8000, each in its own network.
	for _, id := range []string{"i-aaa", "i-bbb"} {
		body := getEventually(t, httpVia(rt, id), "http://instance:8000/")
		if strings.TrimSpace(body) != "host "+id {
			t.Errorf("%s answered %q", id, body)
		}
		if b, err := os.ReadFile(filepath.Join(rt.RootDir(id), "tmp/marker")); err != nil || string(b) != "private\n" {
			t.Errorf("%s: its /tmp is not its root's tmp: %q %v", id, b, err)
		}
		if b, _ := os.ReadFile(filepath.Join(rt.RootDir(id), "opt/www/leak")); len(b) > 0 {
			t.Errorf("%s read the server's data directory: %q", id, b)
		}
	}
	if _, err := os.Stat("/tmp/marker"); err == nil {
		t.Error("an instance wrote the host's /tmp")
	}
	// killall inside one instance touches only its own processes.
	if err := rt.Prepare("i-ccc", []byte("#!/bin/sh\nkillall busybox; echo killed $?\n"), InstanceConfig{}); err != nil {
		t.Fatal(err)
	}
	pc, err := rt.Launch(ctx, Spec{ID: "i-ccc", Hostname: "i-ccc", DataDir: rt.DataDir, RunDir: rt.RunDir})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(rt.ConsoleLog("i-ccc"))
		if strings.Contains(string(b), "killed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("user data did not run: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	getEventually(t, httpVia(rt, "i-aaa"), "http://instance:8000/")
	// Nothing listens on another port: the dial fails with a clear error.
	if _, err := rt.Dial(ctx, "i-aaa", 9); err == nil || !strings.Contains(err.Error(), "nothing listens on port 9") {
		t.Errorf("dial to a closed port: %v", err)
	}
	if t.Failed() {
		for _, id := range []string{"i-aaa", "i-bbb", "i-ccc"} {
			b, _ := os.ReadFile(rt.ConsoleLog(id))
			t.Logf("%s console:\n%s", id, b)
		}
	}
	for _, p := range append(procs, pc) {
		rt.Stop(ctx, p, 2*time.Second)
		if rt.Alive(p) {
			t.Errorf("pid %d survived Stop", p.PID)
		}
	}
	if _, err := httpVia(rt, "i-aaa").Get("http://instance:8000/"); err == nil {
		t.Error("the instance's web server outlived its instance")
	}
}

func TestRuntime_AliveTellsAReusedPID(t *testing.T) {
	rt := newRuntime(t)
	self, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !rt.Alive(Proc{PID: os.Getpid(), Start: self}) {
		t.Error("this process is not alive")
	}
	if rt.Alive(Proc{PID: os.Getpid(), Start: self + "1"}) {
		t.Error("a different start time still counts as the same process")
	}
	if rt.Alive(Proc{}) {
		t.Error("no pid is alive")
	}
}

func TestRuntime_PlainProcessInstanceListensOnPORT(t *testing.T) {
	rt := newRuntime(t)
	rt.noNamespaces = true
	ud := "#!/bin/sh\nmkdir -p $INSTANCE_ROOT/opt/www\necho \"port $PORT\" > $INSTANCE_ROOT/opt/www/index.html\nbusybox httpd -p 127.0.0.1:$PORT -h $INSTANCE_ROOT/opt/www\n"
	if err := rt.Prepare("i-plain", []byte(ud), InstanceConfig{}); err != nil {
		t.Fatal(err)
	}
	p, err := rt.Launch(context.Background(), Spec{ID: "i-plain", Hostname: "i-plain", DataDir: rt.DataDir, RunDir: rt.RunDir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeProcess || p.Port == 0 {
		t.Fatalf("launched %+v, want a plain process with a port", p)
	}
	// The load balancer asks for the application's port (8000); a plain
	// instance's every port is its $PORT.
	body := getEventually(t, httpVia(rt, "i-plain"), "http://instance:8000/")
	if strings.TrimSpace(body) != fmt.Sprintf("port %d", p.Port) {
		t.Errorf("answered %q", body)
	}
	rt.Stop(context.Background(), p, 2*time.Second)
	if rt.Alive(p) {
		t.Error("the init survived Stop")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.Port), time.Second); err == nil {
		c.Close()
		t.Error("the instance's web server outlived its instance")
	}
}

func TestRuntime_InstanceTypeLimitsTheInstanceWhereTheMachineAllows(t *testing.T) {
	if l, ok := LimitsFor("t3a.micro"); !ok || l.CPUs != 2 || l.MemoryBytes != 1<<30 {
		t.Errorf("t3a.micro: %+v %v", l, ok)
	}
	if _, ok := LimitsFor("x9.huge"); ok {
		t.Error("an unknown type has limits")
	}
	rt := newRuntime(t)
	ctx := context.Background()
	for _, tc := range []struct{ typ, want string }{
		{"x9.huge", "no limits: instance type x9.huge is recorded only"},
		{"t3.nano", "limits of t3.nano: 2 vCPU, 512 MiB"},
	} {
		id := "i-" + strings.ReplaceAll(tc.typ, ".", "")
		if err := rt.Prepare(id, nil, InstanceConfig{}); err != nil {
			t.Fatal(err)
		}
		p, err := rt.Launch(ctx, Spec{ID: id, Hostname: id, DataDir: rt.DataDir, RunDir: rt.RunDir, InstanceType: tc.typ})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.Limits, "no limits: this machine") {
			t.Logf("%s: %s", tc.typ, p.Limits)
			rt.Stop(ctx, p, time.Second)
			continue
		}
		if !strings.HasPrefix(p.Limits, tc.want) {
			t.Errorf("%s: limits %q, want %q", tc.typ, p.Limits, tc.want)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
		if inGroup := strings.Contains(string(b), "slipway/"+id); inGroup != strings.HasPrefix(tc.want, "limits") {
			t.Errorf("%s: the init's control groups:\n%s", tc.typ, b)
		}
		rt.Stop(ctx, p, time.Second)
		if err := rt.Remove(id); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{"slipway/" + id, "memory/slipway/" + id, "cpu/slipway/" + id} {
			if _, err := os.Stat("/sys/fs/cgroup/" + dir); err == nil {
				t.Errorf("control group %s left behind", dir)
			}
		}
	}
}
