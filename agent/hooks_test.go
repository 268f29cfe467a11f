package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/appspec"
)

// revision writes scripts (path → content, mode) under a fresh root.
func revision(t *testing.T, files map[string]string, modes map[string]os.FileMode) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o755)
		if m, ok := modes[name]; ok {
			mode = m
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func hook(location string, timeout time.Duration) appspec.Hook {
	return appspec.Hook{Location: location, Timeout: timeout}
}

var dep = Deployment{ID: "d-ABC123", ApplicationName: "app", GroupName: "staging", GroupID: "dg-1"}

func TestRunHook_RunsScriptsInOrderWithTheirEnvironmentAndStopsAtTheFirstFailure(t *testing.T) {
	root := revision(t, map[string]string{
		"scripts/env.sh":   "#!/bin/sh\necho \"$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME $DEPLOYMENT_GROUP_ID $(pwd)\"\necho oops >&2\n",
		"scripts/plain.sh": "echo no interpreter line",
		"scripts/empty.sh": "",
		"scripts/fail.sh":  "#!/bin/sh\necho failing\nexit 3\n",
		"scripts/never.sh": "#!/bin/sh\ntouch never-ran\n",
	}, map[string]os.FileMode{"scripts/plain.sh": 0o644})
	var log bytes.Buffer
	r := &Runner{}
	res := r.RunHook(context.Background(), root, appspec.AfterInstall, []appspec.Hook{
		hook("scripts/env.sh", time.Minute), hook("/scripts/plain.sh", time.Minute), hook("scripts/empty.sh", time.Minute),
		hook("scripts/fail.sh", time.Minute), hook("scripts/never.sh", time.Minute),
	}, dep, &log)
	if len(res) != 4 {
		t.Fatalf("%d results, want 4 (the run stops at the failure): %+v", len(res), res)
	}
	for _, r := range res[:3] {
		if r.Code != Succeeded {
			t.Errorf("%s: %v %s", r.Location, r.Code, r.Message)
		}
	}
	if want := "AfterInstall d-ABC123 app staging dg-1 " + root; !strings.Contains(log.String(), "[stdout] "+want+"\n") {
		t.Errorf("environment line missing from the log:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "[stderr] oops\n") || !strings.Contains(log.String(), "[stdout] no interpreter line\n") {
		t.Errorf("log:\n%s", log.String())
	}
	if fi, _ := os.Stat(filepath.Join(root, "scripts/plain.sh")); fi.Mode()&0o111 != 0o111 {
		t.Errorf("a script that was not executable was not made so: %v", fi.Mode())
	}
	f := res[3]
	if f.Code != ScriptFailed || f.ExitCode != 3 || f.Message != "Script at specified location: scripts/fail.sh failed with exit code 3" || f.Tail != "failing\n" {
		t.Errorf("failure: %+v", f)
	}
	if _, err := os.Stat(filepath.Join(root, "never-ran")); err == nil {
		t.Error("a script after the failure ran")
	}
}

func TestRunHook_MissingScriptsAndEscapesAreScriptMissing(t *testing.T) {
	root := revision(t, map[string]string{"a.sh": "#!/bin/sh\n"}, nil)
	outside := filepath.Join(filepath.Dir(root), "outside.sh")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\ntouch "+outside+".ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{"nope.sh", "../outside.sh", "/"} {
		res := (&Runner{}).RunHook(context.Background(), root, appspec.BeforeInstall, []appspec.Hook{hook(loc, time.Minute)}, dep, &bytes.Buffer{})
		if len(res) != 1 || res[0].Code != ScriptMissing || !strings.HasPrefix(res[0].Message, "Script does not exist at specified location: "+root) {
			t.Errorf("%s: %+v", loc, res)
		}
	}
	if _, err := os.Stat(outside + ".ran"); err == nil {
		t.Error("a script outside the revision ran")
	}
}

func TestRunHook_ATimeoutEndsTheWholeProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	root := revision(t, map[string]string{
		"slow.sh": "#!/bin/sh\nsleep 60 > /dev/null 2>&1 &\necho $! > " + pidFile + "\nsleep 60\n",
	}, nil)
	start := time.Now()
	res := (&Runner{KillGrace: time.Second}).RunHook(context.Background(), root, appspec.ApplicationStart,
		[]appspec.Hook{hook("slow.sh", time.Second)}, dep, &bytes.Buffer{})
	if len(res) != 1 || res[0].Code != ScriptTimedOut || res[0].Message != "Script at specified location: slow.sh failed to complete in 1 seconds" {
		t.Fatalf("%+v", res)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the timed-out hook returned after %s", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the script's background child %d outlived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunHook_ABackgroundProcessHangsTheHookOnlyIfItKeepsTheOutputOpen(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "bg.pid")
	root := revision(t, map[string]string{
		// The sample's start script: the server in the background, its
		// output redirected.
		"start.sh": "#!/bin/sh\nsleep 30 > /dev/null 2>&1 &\necho $! > " + pidFile + "\necho started\n",
		"leaky.sh": "#!/bin/sh\nsleep 30 &\necho $! > " + pidFile + ".leaky\necho started\n",
	}, nil)
	t.Cleanup(func() {
		for _, f := range []string{pidFile, pidFile + ".leaky"} {
			b, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	r := &Runner{OutputGrace: 300 * time.Millisecond}
	res := r.RunHook(context.Background(), root, appspec.ApplicationStart, []appspec.Hook{hook("start.sh", time.Minute)}, dep, &bytes.Buffer{})
	if len(res) != 1 || res[0].Code != Succeeded {
		t.Errorf("a redirected background process: %+v", res)
	}
	b, _ := os.ReadFile(pidFile)
	if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); !alive(pid) {
		t.Error("the background process did not outlive its hook")
	}
	res = r.RunHook(context.Background(), root, appspec.ApplicationStart, []appspec.Hook{hook("leaky.sh", time.Minute)}, dep, &bytes.Buffer{})
	if len(res) != 1 || res[0].Code != OutputsLeftOpen || res[0].Duration > 20*time.Second {
		t.Errorf("a background process holding the output: %+v", res)
	}
}

func TestRunHook_RunAsRunsTheScriptAsThatUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runas needs the agent to run as root, as CodeDeploy's does")
	}
	if _, err := os.Stat("/bin/su"); err != nil {
		t.Skip("needs su")
	}
	root := revision(t, map[string]string{"who.sh": "#!/bin/sh\nid -un\nexit 7\n"}, nil)
	res := (&Runner{}).RunHook(context.Background(), root, appspec.AfterInstall,
		[]appspec.Hook{{Location: "who.sh", Timeout: time.Minute, RunAs: "root"}}, dep, &bytes.Buffer{})
	if len(res) != 1 || res[0].Tail != "root\n" || res[0].Message != "Script at specified location: who.sh run as user root failed with exit code 7" {
		t.Errorf("%+v", res)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
