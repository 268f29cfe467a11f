package pipelinesvc

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
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
	if p.New == deletedRef || p.New == "" {
		return nil
	}
	pipes, err := s.List(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	var changed []string // read once, when a file path filter asks
	files := func() ([]string, error) {
		if changed != nil {
			return changed, nil
		}
		rp, err := s.cfg.Repos.Get(ctx, p.ProjectID, p.Repository)
		if err != nil {
			return nil, err
		}
		if changed, err = s.cfg.Repos.ChangedFiles(ctx, rp, p.Old, p.New); changed == nil {
			changed = []string{}
		}
		return changed, err
	}
	for i := range pipes {
		pp := &pipes[i]
		ok, err := matches(pp.Declaration, p, files)
		if err != nil {
			return fmt.Errorf("pipeline %s: %w", pp.Name, err)
		}
		if !ok {
			continue
		}
		tr := Trigger{Type: TriggerPush, By: p.Pusher, Repository: p.Repository, Ref: p.Ref, New: p.New}
		if _, err := s.Start(ctx, pp, tr, fmt.Sprintf("push:%d:%s", eventID, pp.ID)); err != nil {
			return fmt.Errorf("pipeline %s: %w", pp.Name, err)
		}
	}
	return nil
}

// matches reports whether a push starts a pipeline. Without triggers, a
// push to the branch of a CodeCommit source does. With triggers (V2), a
// push does when one of a trigger's push filters takes it (any push to
// the source's branch when the trigger has no filter): tags by name,
// branches by name, and with FilePaths also by the files it changed.
// Excludes win over includes; patterns are globs.
func matches(d *pipeline.Declaration, p repo.PushPayload, files func() ([]string, error)) (bool, error) {
	if len(d.Stages) == 0 {
		return false, nil
	}
	sources := map[string]*pipeline.Action{}
	for _, a := range d.Stages[0].Actions {
		if a.ActionTypeID.Provider == pipeline.CodeCommit && a.Configuration["RepositoryName"] == p.Repository {
			sources[a.Name] = a
		}
	}
	branch, isBranch := strings.CutPrefix(p.Ref, "refs/heads/")
	tag, isTag := strings.CutPrefix(p.Ref, "refs/tags/")
	if len(d.Triggers) == 0 {
		for _, a := range sources {
			if isBranch && a.Configuration["BranchName"] == branch {
				return true, nil
			}
		}
		return false, nil
	}
	for _, t := range d.Triggers {
		a := sources[t.GitConfiguration.SourceActionName]
		if a == nil {
			continue
		}
		if len(t.GitConfiguration.Push) == 0 {
			if isBranch && a.Configuration["BranchName"] == branch {
				return true, nil
			}
			continue
		}
		for _, f := range t.GitConfiguration.Push {
			switch {
			case f.Tags != nil:
				if isTag && takes(f.Tags, tag) {
					return true, nil
				}
			case f.Branches != nil && isBranch && takes(f.Branches, branch):
				if f.FilePaths == nil {
					return true, nil
				}
				fs, err := files()
				if err != nil {
					return false, err
				}
				for _, file := range fs {
					if takes(f.FilePaths, file) {
						return true, nil
					}
				}
			}
		}
	}
	return false, nil
}

// takes applies a filter's patterns to a name: excludes win; no includes
// means everything.
func takes(f *pipeline.GitFilter, name string) bool {
	for _, p := range f.Excludes {
		if glob(p, name) {
			return false
		}
	}
	if len(f.Includes) == 0 {
		return true
	}
	for _, p := range f.Includes {
		if glob(p, name) {
			return true
		}
	}
	return false
}

// glob matches a name against a pattern whose "*" and "?" stay within a
// path element and whose "**" element matches any number of elements.
func glob(pattern, name string) bool {
	return globParts(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func globParts(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if globParts(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
