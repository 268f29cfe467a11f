package fleet

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// recordingBalancer stands in for the load balancer service, whose own
// tests and the end-to-end tests cover it: it records registrations and
// fails the health of the instances it is told to.
type recordingBalancer struct {
	mu         sync.Mutex
	registered map[string]bool
	failing    map[string]bool
	drained    []string
}

func (b *recordingBalancer) Register(_ context.Context, tg, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.registered[tg+"/"+id] = true
	return nil
}

func (b *recordingBalancer) Deregister(_ context.Context, tg, id string, wait bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.registered, tg+"/"+id)
	if wait {
		b.drained = append(b.drained, id)
	}
	return nil
}

func (b *recordingBalancer) TargetState(_ context.Context, tg, id string) (string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.registered[tg+"/"+id]:
		return "", ""
	case b.failing[id]:
		return "unhealthy", "Target.ResponseCodeMismatch"
	}
	return "healthy", ""
}

func (b *recordingBalancer) has(tg, id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.registered[tg+"/"+id]
}

func (b *recordingBalancer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.registered)
}

type fixture struct {
	db      *store.DB
	rt      *Runtime
	svc     *Service
	project string
	stop    func()
}

func start(t *testing.T, db *store.DB, rt *Runtime, b Balancer) (*Service, func()) {
	t.Helper()
	svc := New(Config{DB: db, Runtime: rt, Balancer: b, Interval: 20 * time.Millisecond, StopGrace: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	return svc, func() { cancel(); <-done }
}

func newFixture(t *testing.T, db *store.DB, b Balancer) *fixture {
	t.Helper()
	f := &fixture{db: db, rt: newRuntime(t), project: store.NewID()}
	if _, err := db.ExecContext(context.Background(), "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
		f.project, "p-"+f.project[:8], store.Millis(time.Now())); err != nil {
		t.Fatal(err)
	}
	f.svc, f.stop = start(t, db, f.rt, b)
	t.Cleanup(func() {
		f.stop()
		_ = f.svc.StopAll(context.Background())
	})
	return f
}

const sleeperUserData = "#!/bin/sh\nsleep 600 &\necho up\n"

func (f *fixture) group(t *testing.T, name string, desired int, tgs ...string) *Group {
	t.Helper()
	ctx := context.Background()
	if _, err := f.svc.CreateLaunchConfiguration(ctx, LaunchConfiguration{ProjectID: f.project, Name: name + "-lc",
		ImageID: "ami-local", InstanceType: "t3.micro", UserData: sleeperUserData}); err != nil {
		t.Fatal(err)
	}
	g, err := f.svc.CreateGroup(ctx, Group{ProjectID: f.project, Name: name, LaunchConfiguration: name + "-lc",
		MinSize: 0, MaxSize: 4, Desired: desired, TargetGroups: tgs, HealthCheckType: CheckELB})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *fixture) live(t *testing.T, g *Group) []*Instance {
	t.Helper()
	ins, err := f.svc.Instances(context.Background(), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*Instance
	for _, in := range ins {
		if in.State == InService {
			out = append(out, in)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFleet_GroupReplacesADeadInstanceAndDeleteLeavesNoProcess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := &recordingBalancer{registered: map[string]bool{}, failing: map[string]bool{}}
		f := newFixture(t, db, b)
		ctx := context.Background()
		g := f.group(t, "web", 2, "tg-1")
		if err := f.svc.WaitInService(ctx, f.project, "web", 2); err != nil {
			t.Fatal(err)
		}
		first := f.live(t, g)
		for _, in := range first {
			if !b.has("tg-1", in.ID) {
				t.Errorf("%s in service but not registered with its target group", in.ID)
			}
		}
		// An instance whose init dies fails the EC2 health check.
		victim := first[0]
		if err := syscall.Kill(victim.proc.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a replacement", func() bool {
			live := f.live(t, g)
			return len(live) == 2 && !slices.ContainsFunc(live, func(in *Instance) bool { return in.ID == victim.ID })
		})
		old, err := f.svc.Instance(ctx, f.project, victim.ID)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the dead instance terminated", func() bool {
			old, _ = f.svc.Instance(ctx, f.project, victim.ID)
			return old.State == Terminated
		})
		if old.Reason == "" || b.has("tg-1", victim.ID) {
			t.Errorf("dead instance: reason %q, still registered %v", old.Reason, b.has("tg-1", victim.ID))
		}
		// The target group's health check fails another: replaced too.
		second := f.live(t, g)[1]
		b.mu.Lock()
		b.failing[second.ID] = true
		b.mu.Unlock()
		eventually(t, "the ELB-unhealthy instance replaced", func() bool {
			in, _ := f.svc.Instance(ctx, f.project, second.ID)
			return in.State == Terminated && len(f.live(t, g)) == 2
		})
		var procs []Proc
		for _, in := range f.live(t, g) {
			procs = append(procs, in.proc)
		}
		if err := f.svc.DeleteGroup(ctx, f.project, "web"); err != nil {
			t.Fatal(err)
		}
		for _, p := range procs {
			if f.rt.Alive(p) {
				t.Errorf("pid %d outlived its group", p.PID)
			}
		}
		entries, _ := os.ReadDir(f.rt.Dir)
		for _, e := range entries {
			if e.IsDir() { // beside them is only the lock file
				t.Errorf("instance directory left: %s", e.Name())
			}
		}
		if _, err := f.svc.Group(ctx, f.project, "web"); err == nil {
			t.Error("the group is still there")
		}
		if n := b.count(); n != 0 {
			t.Errorf("%d instances still registered", n)
		}
	})
}

func TestFleet_ARestartedServerAdoptsLiveInstancesAndScalesIn(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, nil)
	ctx := context.Background()
	g := f.group(t, "api", 3)
	if err := f.svc.WaitInService(ctx, f.project, "api", 3); err != nil {
		t.Fatal(err)
	}
	before := f.live(t, g)
	// The server goes away without stopping its instances (a crash, or
	// --keep-instances); a new one adopts them rather than launching more.
	f.stop()
	f.svc, f.stop = start(t, db, f.rt, nil)
	time.Sleep(200 * time.Millisecond)
	after := f.live(t, g)
	if len(after) != 3 {
		t.Fatalf("%d instances in service after the restart, want the 3 adopted", len(after))
	}
	for i := range after {
		if after[i].ID != before[i].ID || !f.rt.Alive(after[i].proc) {
			t.Errorf("instance %d: %s (alive %v), want %s adopted", i, after[i].ID, f.rt.Alive(after[i].proc), before[i].ID)
		}
	}
	// Scale in: the oldest go first.
	if _, err := f.svc.SetDesired(ctx, f.project, "api", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "scale in to 1", func() bool {
		ins, _ := f.svc.Instances(ctx, g.ID)
		n := 0
		for _, in := range ins {
			if in.State != Terminated {
				n++
			}
		}
		return n == 1
	})
	if live := f.live(t, g); len(live) != 1 || live[0].ID != before[2].ID {
		t.Errorf("kept %v, want the newest %s", live, before[2].ID)
	}
	if _, err := f.svc.SetDesired(ctx, f.project, "api", 9); err == nil {
		t.Error("desired above MaxSize accepted")
	}
}

func TestFleet_AnInstanceCredentialNamesItsInstanceAndGroup(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, nil)
	ctx := context.Background()
	if _, err := f.svc.CreateLaunchConfiguration(ctx, LaunchConfiguration{ProjectID: f.project, Name: "lc",
		ImageID: "ami-local", InstanceType: "t3.micro", UserData: sleeperUserData}); err != nil {
		t.Fatal(err)
	}
	g, err := f.svc.CreateGroup(ctx, Group{ProjectID: f.project, Name: "sig", LaunchConfiguration: "lc", MinSize: 0, MaxSize: 1, Desired: 1,
		StackName: "app", LogicalID: "Fleet"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.WaitInService(ctx, f.project, "sig", 1); err != nil {
		t.Fatal(err)
	}
	in := f.live(t, g)[0]
	b, err := os.ReadFile(filepath.Join(f.rt.RootDir(in.ID), "var/lib/slipway/instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg InstanceConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	got, grp, err := f.svc.Authenticate(ctx, cfg.Token)
	if err != nil || got.ID != in.ID || grp.StackName != "app" || grp.LogicalID != "Fleet" || cfg.Stack != "app" || cfg.Resource != "Fleet" {
		t.Fatalf("authenticate: %v %+v %+v %+v", err, got, grp, cfg)
	}
	if _, _, err := f.svc.Authenticate(ctx, cfg.Token+"x"); err == nil {
		t.Error("a wrong credential authenticated")
	}
	if _, err := f.svc.Terminate(ctx, f.project, in.ID, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "termination", func() bool {
		i, _ := f.svc.Instance(ctx, f.project, in.ID)
		return i.State == Terminated
	})
	if _, _, err := f.svc.Authenticate(ctx, cfg.Token); err == nil {
		t.Error("a terminated instance's credential still works")
	}
}

func TestFleet_RollingReplaceKeepsTheMinimumInServiceAndSignalsEachBatch(t *testing.T) {
	for _, tc := range []struct {
		name         string
		minInService int
	}{
		{"terminate first", 1},
		{"launch first", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.SQLite(t)
			b := &recordingBalancer{registered: map[string]bool{}, failing: map[string]bool{}}
			f := newFixture(t, db, b)
			ctx := context.Background()
			g := f.group(t, "roll", 2, "tg-1")
			if err := f.svc.WaitInService(ctx, f.project, "roll", 2); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.CreateLaunchConfiguration(ctx, LaunchConfiguration{ProjectID: f.project, Name: "roll-v2",
				ImageID: "ami-local", InstanceType: "t3.micro", UserData: sleeperUserData}); err != nil {
				t.Fatal(err)
			}
			upd := *g
			upd.LaunchConfiguration = "roll-v2"
			if _, err := f.svc.UpdateGroup(ctx, upd); err != nil {
				t.Fatal(err)
			}
			// A new launch configuration alone replaces nothing.
			time.Sleep(100 * time.Millisecond)
			for _, in := range f.live(t, g) {
				if in.LaunchConfiguration != "roll-lc" {
					t.Fatalf("%s launched from %s before the rolling update", in.ID, in.LaunchConfiguration)
				}
			}
			// Watch the instances that take traffic all along.
			stop := make(chan struct{})
			lowest := make(chan int)
			go func() {
				low := 2
				for {
					select {
					case <-stop:
						lowest <- low
						return
					case <-time.After(5 * time.Millisecond):
					}
					n := 0
					for _, in := range f.live(t, g) {
						if func() bool { st, _ := b.TargetState(ctx, "tg-1", in.ID); return st == "healthy" }() {
							n++
						}
					}
					low = min(low, n)
				}
			}()
			var batches [][]string
			err := f.svc.RollingReplace(ctx, f.project, "roll", RollingPolicy{MinInService: tc.minInService, MaxBatch: 1},
				func(_ context.Context, ids []string) error {
					batches = append(batches, ids)
					return nil
				})
			close(stop)
			low := <-lowest
			if err != nil {
				t.Fatal(err)
			}
			if len(batches) != 2 || len(batches[0]) != 1 || len(batches[1]) != 1 {
				t.Errorf("signalled batches %v, want two of one", batches)
			}
			eventually(t, "two instances of the new configuration only", func() bool {
				live := f.live(t, g)
				return len(live) == 2 && live[0].LaunchConfiguration == "roll-v2" && live[1].LaunchConfiguration == "roll-v2"
			})
			if low < tc.minInService {
				t.Errorf("%d instances took traffic at the lowest, want at least %d", low, tc.minInService)
			}
		})
	}
}

// Of two servers on one data directory, one runs the instances; the other
// takes over when it stops, adopting them.
func TestFleet_OneServerPerDataDirectoryRunsTheInstances(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db, nil)
	ctx := context.Background()
	g := f.group(t, "solo", 2)
	if err := f.svc.WaitInService(ctx, f.project, "solo", 2); err != nil {
		t.Fatal(err)
	}
	before := f.live(t, g)
	// A second service over the same database and directory waits.
	second, stopSecond := start(t, db, f.rt, nil)
	defer stopSecond()
	time.Sleep(300 * time.Millisecond)
	if err := second.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, in := range before {
		if !f.rt.Alive(in.proc) {
			t.Fatalf("the waiting server's StopAll stopped %s", in.ID)
		}
	}
	if n := len(f.live(t, g)); n != 2 {
		t.Fatalf("%d instances in service with two servers, want 2", n)
	}
	// The first stops (without stopping its instances); the second takes
	// over and adopts them.
	f.stop()
	f.stop = func() {}
	eventually(t, "the second server to run the group", func() bool {
		_, err := second.SetDesired(ctx, f.project, "solo", 3)
		if err != nil {
			t.Fatal(err)
		}
		return len(f.live(t, g)) == 3
	})
	live := f.live(t, g)
	for _, in := range before {
		if !slices.ContainsFunc(live, func(l *Instance) bool { return l.ID == in.ID }) {
			t.Errorf("%s was not adopted", in.ID)
		}
	}
	f.svc = second
}
