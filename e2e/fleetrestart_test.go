package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const restartTemplate = `Resources:
  LaunchConfig:
    Type: AWS::AutoScaling::LaunchConfiguration
    Properties:
      ImageId: ami-local
      InstanceType: t3.nano
      UserData: |
        #!/bin/sh
        sleep 3600 &
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      AutoScalingGroupName: keeper
      LaunchConfigurationName: !Ref LaunchConfig
      MinSize: "2"
      MaxSize: "2"
`

// inService returns the group's instances in service, by ID.
func inService(t *testing.T, s *server) []string {
	t.Helper()
	var g groupView
	s.mustCLI(s.token, &g, "fleet", "get", "keeper")
	var ids []string
	for _, in := range g.Instances {
		if in.State == "InService" {
			ids = append(ids, in.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func stopServer(t *testing.T, s *server, sig syscall.Signal) {
	t.Helper()
	_ = s.cmd.Process.Signal(sig)
	_ = s.cmd.Wait()
}

func TestFleetRestart_InstancesOutliveACrashAndKeepInstancesButStopWithTheServer(t *testing.T) {
	needTools(t, "busybox")
	s := startServer(t)
	tpl := filepath.Join(t.TempDir(), "group.yml")
	if err := os.WriteFile(tpl, []byte(restartTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "keeper", "--template", tpl); code != 0 {
		t.Fatalf("create (exit %d):\n%s", code, out)
	}
	first := inService(t, s)
	procs := instanceProcs(t, s.data)
	if len(first) != 2 || len(procs) != 2 {
		t.Fatalf("in service %v, init processes %v", first, procs)
	}

	// A crash: the instances run on, and the next server adopts them.
	stopServer(t, s, syscall.SIGKILL)
	if got := instanceProcs(t, s.data); !maps.Equal(got, procs) {
		t.Fatalf("the instances did not outlive the server: %v, were %v", got, procs)
	}
	s.start()
	if got := inService(t, s); !slices.Equal(got, first) {
		t.Fatalf("after a crash the group has %v, want %v adopted", got, first)
	}

	// --keep-instances: a clean stop leaves them for the next start too.
	stopServer(t, s, syscall.SIGKILL)
	s.extra = []string{"--keep-instances"}
	s.start()
	stopServer(t, s, syscall.SIGTERM)
	if got := instanceProcs(t, s.data); !maps.Equal(got, procs) {
		t.Fatalf("--keep-instances: the instances did not outlive the server: %v, were %v", got, procs)
	}
	s.extra = nil
	s.start()
	if got := inService(t, s); !slices.Equal(got, first) {
		t.Fatalf("after --keep-instances the group has %v, want %v adopted", got, first)
	}

	// A clean stop without it stops them, and the next start replaces them.
	stopServer(t, s, syscall.SIGTERM)
	if got := instanceProcs(t, s.data); len(got) != 0 {
		t.Fatalf("a clean stop left instances running: %v", got)
	}
	for _, pid := range procs {
		if running(pid) {
			t.Errorf("init %d still runs", pid)
		}
	}
	s.start()
	waitFor(t, "two new instances", func() bool {
		ids := inService(t, s)
		return len(ids) == 2 && !slices.Contains(ids, first[0]) && !slices.Contains(ids, first[1])
	})
	if _, errs, err := s.cli(s.token, "stack", "delete", "keeper", "--yes"); err != nil {
		t.Fatalf("delete: %v\n%s", err, errs)
	}
	waitFor(t, "the stack to go", func() bool {
		_, _, err := s.cli(s.token, "stack", "describe", "keeper")
		return err != nil
	})
	if left := instanceProcs(t, s.data); len(left) != 0 {
		t.Errorf("processes left after the stack was deleted: %v", left)
	}
	entries, _ := os.ReadDir(filepath.Join(s.data, "instances"))
	var names []string
	for _, e := range entries {
		if e.IsDir() { // beside them is only the lock file
			names = append(names, e.Name())
		}
	}
	if len(names) != 0 {
		t.Errorf("instance directories left: %s", strings.Join(names, " "))
	}
}

// running reports whether pid is a live process (not a zombie: inits
// orphaned by a killed server are reaped by whoever adopted them, which in
// some sandboxes is nobody).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
