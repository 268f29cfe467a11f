package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/store"
)

// newFleet makes the fleet service: instances under DATA/instances, the
// server's socket for them under DATA/run.
func newFleet(db *store.DB, dataDir string, log *slog.Logger) (*fleet.Service, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("find the slipway binary (instances run it as their init): %w", err)
	}
	rt := &fleet.Runtime{Dir: filepath.Join(dataDir, "instances"), Exe: exe, DataDir: dataDir,
		RunDir: filepath.Join(dataDir, "run"), Log: log}
	for _, d := range []string{rt.Dir, rt.RunDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, "", err
		}
	}
	return fleet.New(fleet.Config{DB: db, Runtime: rt, Log: log, Agent: true}), rt.RunDir, nil
}

// listenUnix listens on the Unix socket at path, replacing a stale one.
func listenUnix(path string) (net.Listener, error) {
	_ = os.Remove(path)
	short, done, err := fleet.ShortSocketPath(path)
	if err != nil {
		return nil, err
	}
	defer done()
	ln, err := net.Listen("unix", short)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}

// fleetBalancer is the load balancer service as the fleet uses it.
type fleetBalancer struct{ lb *lbsvc.Service }

func (b fleetBalancer) Register(ctx context.Context, targetGroup, instanceID string) error {
	return b.lb.RegisterTargets(ctx, targetGroup, lbsvc.Target{ID: instanceID})
}

// Deregister takes a target group that is already gone as done: its
// targets went with it.
func (b fleetBalancer) Deregister(ctx context.Context, targetGroup, instanceID string, wait bool) error {
	err := b.lb.DeregisterTargets(ctx, targetGroup, wait, lbsvc.Target{ID: instanceID})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (b fleetBalancer) TargetState(ctx context.Context, targetGroup, instanceID string) (state, reason string) {
	ths, err := b.lb.TargetHealth(ctx, targetGroup)
	if err != nil {
		return "", ""
	}
	for _, th := range ths {
		if th.ID == instanceID {
			return th.State, th.Reason + ": " + th.Description
		}
	}
	return "", ""
}
