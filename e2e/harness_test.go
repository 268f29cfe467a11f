// Package e2e drives the real slipway binary, the real git client and real
// HTTP, as a user would.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/store/storetest"
)

// binary is built once per test run by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "slipway-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "slipway")
	build := exec.Command("go", "build", "-o", binary, "../cmd/slipway")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build slipway:", err)
		os.Exit(1)
	}
	code := storetest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running slipway server process.
type server struct {
	t      testing.TB
	data   string
	addr   string
	url    string
	cmd    *exec.Cmd
	log    *syncBuffer
	stdout *syncBuffer
	token  string
	extra  []string
	// env adds to the server's environment; noListenFlag leaves --listen out
	// so SLIPWAY_LISTEN can supply it.
	env          []string
	noListenFlag bool
	client       *http.Client
	// verb is the command that runs the server, "server" unless set ("up");
	// dir is its working directory; noDataFlag leaves --data out, so that
	// the default (.slipway in dir) is data.
	verb       string
	dir        string
	noDataFlag bool
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs `slipway server` on a free port with a temp data directory.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	s := &server{t: t, data: t.TempDir(), addr: freeAddr(t), extra: args}
	s.url = "http://" + s.addr
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.log, s.stdout = &syncBuffer{}, &syncBuffer{}
	args := []string{cmp.Or(s.verb, "server")}
	if !s.noDataFlag {
		args = append(args, "--data", s.data)
	}
	if !s.noListenFlag {
		args = append(args, "--listen", s.addr)
	}
	s.cmd = exec.Command(binary, append(args, s.extra...)...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.log
	// Load balancers and DNS on free ports, so that servers started side
	// by side (and beside a developer's own) do not collide; s.env may
	// say otherwise.
	s.cmd.Env = append(append(gitEnv(s.t), "SLIPWAY_LB_PORT_MAP=80=0", "SLIPWAY_DNS_LISTEN=127.0.0.1:0"), s.env...)
	if s.client == nil {
		s.client = http.DefaultClient
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server did not become healthy: %v\n%s", err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(b))
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("server exited with %v\n%s", err, s.log)
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		s.t.Errorf("server did not stop within 20s of SIGTERM\n%s", s.log)
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs a client verb with the given token and returns stdout, stderr and
// the error of the run.
func (s *server) cli(token string, args ...string) (string, string, error) {
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(gitEnv(s.t), "SLIPWAY_URL="+s.url, "SLIPWAY_TOKEN="+token)
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// mustCLI runs a client verb that must succeed and decodes its --output json.
func (s *server) mustCLI(token string, v any, args ...string) string {
	s.t.Helper()
	if v != nil {
		args = append(args, "--output", "json")
	}
	out, errs, err := s.cli(token, args...)
	if err != nil {
		s.t.Fatalf("slipway %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errs)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			s.t.Fatalf("slipway %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return out
}

// gitURL is a clone URL carrying credentials (user name is arbitrary).
func (s *server) gitURL(token, path string) string {
	if token == "" {
		return s.url + "/git/" + path
	}
	return "http://anyone:" + token + "@" + s.addr + "/git/" + path
}

// gitEnv isolates git from the machine's configuration and never prompts.
func gitEnv(t testing.TB) []string {
	home := t.TempDir()
	return append(os.Environ(),
		"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	)
}

// git runs git in dir and returns its combined output.
func git(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := git(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// metrics returns the server's /metrics text, read with token.
func (s *server) metrics(token string) string {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		s.t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// goCache is this machine's Go build cache: builds in the tests use it
// warm, since a cold one costs minutes on two cores.
func goCache(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// goserviceFiles reads the named files of testdata/goservice into dst
// (path -> content), which it returns.
func goserviceFiles(t testing.TB, dst map[string]string, names ...string) map[string]string {
	t.Helper()
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("testdata", "goservice", name))
		if err != nil {
			t.Fatal(err)
		}
		dst[name] = string(b)
	}
	return dst
}
