package repo

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slipway/slipway/store/storetest"
)

func TestSeed_MakesTheFirstCommitWithExecutableScriptsAndAPushEvent(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	rp := f.create(t, "hello")
	content := fstest.MapFS{
		"main.go":           {Data: []byte("package main\n\nfunc main() {}\n")},
		"codedeploy/run.sh": {Data: []byte("#!/bin/sh\necho run\n")},
		"config/empty.conf": {Data: []byte{}},
	}
	ctx := context.Background()
	commit, err := f.svc.Seed(ctx, rp, "main", content, "Starter content\n", "Slipway <slipway@localhost>", "alice")
	if err != nil {
		t.Fatal(err)
	}
	dir := f.serverDir("hello")
	out, err := exec.Command("git", "--git-dir", dir, "ls-tree", "-r", "main").Output()
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		meta, path, _ := strings.Cut(line, "\t")
		modes[path] = strings.Fields(meta)[0]
	}
	if modes["codedeploy/run.sh"] != "100755" || modes["main.go"] != "100644" || modes["config/empty.conf"] != "100644" || len(modes) != 3 {
		t.Errorf("files and modes in the commit: %v", modes)
	}
	log, err := exec.Command("git", "--git-dir", dir, "log", "--format=%H %an <%ae> %s", "main").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(log)); got != commit+" Slipway <slipway@localhost> Starter content" {
		t.Errorf("history: %s", got)
	}
	head, _ := exec.Command("git", "--git-dir", dir, "symbolic-ref", "HEAD").Output()
	if strings.TrimSpace(string(head)) != "refs/heads/main" {
		t.Errorf("HEAD is %s", head)
	}
	evs, err := f.svc.PushEvents(ctx, rp.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Ref != "refs/heads/main" || evs[0].NewCommit != commit || evs[0].Pusher != "alice" || strings.Trim(evs[0].OldCommit, "0") != "" {
		t.Errorf("push events %+v", evs)
	}

	// A branch that exists is never overwritten.
	if _, err := f.svc.Seed(ctx, rp, "main", content, "again", "Slipway <slipway@localhost>", "alice"); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("seeding an existing branch: %v, want ErrNotEmpty", err)
	}
	if _, err := f.svc.Seed(ctx, rp, "-x", content, "bad", "a <b>", "alice"); err == nil {
		t.Error("a branch name starting with - was accepted")
	}
}
