package pipelinesvc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/repo"
)

// WatchPushes starts an execution of every pipeline whose CodeCommit source
// watches a pushed branch, at once (no polling), until ctx is done. Every
// server process watches; the push's event ID makes the start happen once.
// A push whose event is lost (its server died between the push and the
// delivery) starts nothing: `slipway pipeline start` does it by hand.
func (s *Service) WatchPushes(ctx context.Context, bus *events.Bus) error {
	ch, cancel := bus.Subscribe(repo.TopicPush)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			var p repo.PushPayload
			if err := json.Unmarshal(ev.Payload, &p); err != nil {
				s.cfg.Log.Warn("pipeline triggers: undecodable push event", "event", ev.ID, "err", err)
				continue
			}
			if err := s.onPush(ctx, ev.ID, p); err != nil {
				s.cfg.Log.Error("pipeline triggers: start on push", "event", ev.ID, "repository", p.Repository, "err", err)
			}
		}
	}
}

// deletedRef is the new commit of a deleted ref.
const deletedRef = "0000000000000000000000000000000000000000"

func (s *Service) onPush(ctx context.Context, eventID int64, p repo.PushPayload) error {
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	if !ok || p.New == deletedRef || p.New == "" {
		return nil
	}
	pipes, err := s.List(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	for i := range pipes {
		pp := &pipes[i]
		if !watches(pp.Declaration, p.Repository, branch) {
			continue
		}
		tr := Trigger{Type: TriggerPush, By: p.Pusher, Repository: p.Repository, Ref: p.Ref, New: p.New}
		if _, err := s.Start(ctx, pp, tr, fmt.Sprintf("push:%d:%s", eventID, pp.ID)); err != nil {
			return fmt.Errorf("pipeline %s: %w", pp.Name, err)
		}
	}
	return nil
}

// watches reports whether a declaration has a CodeCommit source on the
// repository's branch.
func watches(d *pipeline.Declaration, repository, branch string) bool {
	if len(d.Stages) == 0 {
		return false
	}
	for _, a := range d.Stages[0].Actions {
		if a.ActionTypeID.Provider == pipeline.CodeCommit && a.Configuration["RepositoryName"] == repository &&
			a.Configuration["BranchName"] == branch {
			return true
		}
	}
	return false
}
