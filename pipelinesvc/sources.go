package pipelinesvc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/repo"
)

// CodeCommitSource is the Source/CodeCommit action on a hosted repository:
// the branch's commit (the pushed one, for an execution a push started) as
// a zip archive of its tree, without .git, in the artifact store.
type CodeCommitSource struct {
	Repos     *repo.Service
	Artifacts artifact.Store
	// WorkDir holds the temporary trees.
	WorkDir string
}

// Run exports the commit and stores the archive.
func (c *CodeCommitSource) Run(ctx context.Context, r *ActionRun) (*ActionResult, error) {
	name, branch := r.Configuration["RepositoryName"], r.Configuration["BranchName"]
	rp, err := c.Repos.Get(ctx, r.ProjectID, name)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	ref := r.ExternalID // the commit an earlier attempt resolved
	if ref == "" {
		ref = r.Trigger.Commit(name, branch)
	}
	if ref == "" {
		ref = branch
	}
	if err := os.MkdirAll(c.WorkDir, 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.WorkDir, "source-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	commit, err := c.Repos.Export(ctx, rp, ref, dir)
	if err != nil {
		return nil, err
	}
	if err := r.Record(ctx, commit); err != nil {
		return nil, err
	}
	art, err := packDir(ctx, c.Artifacts, c.WorkDir, dir)
	if err != nil {
		return nil, err
	}
	out := map[string]Artifact{}
	if len(r.Action.OutputArtifacts) > 0 {
		out[r.Action.OutputArtifacts[0].Name] = art
	}
	return &ActionResult{Outputs: out, Summary: "commit " + commit,
		Variables: map[string]string{"CommitId": commit, "BranchName": branch, "RepositoryName": name},
		Revision:  &Revision{Action: r.Action.Name, Repository: name, Branch: branch, Commit: commit}}, nil
}

// packDir zips a tree into the artifact store (through a temporary file:
// the store streams it, the archive is never whole in memory).
func packDir(ctx context.Context, store artifact.Store, tmpDir, dir string) (Artifact, error) {
	f, err := os.CreateTemp(tmpDir, "artifact-*.zip")
	if err != nil {
		return Artifact{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := build.Pack(f, dir, &buildspec.Artifacts{Files: []string{"**/*"}, EnableSymlinks: true}); err != nil {
		return Artifact{}, fmt.Errorf("pack source: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Artifact{}, err
	}
	info, err := store.Put(ctx, f)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Digest: info.Digest, Size: info.Size}, nil
}

// Commit returns the commit a push trigger carries for a repository's
// branch (or any tag: a tag trigger builds the tagged commit), or "".
func (t Trigger) Commit(repository, branch string) string {
	if t.Type != TriggerPush || t.Repository != repository ||
		t.Ref != "refs/heads/"+branch && !strings.HasPrefix(t.Ref, "refs/tags/") {
		return ""
	}
	return t.New
}

// CodeBuildAction is the Build/CodeBuild (and Test/CodeBuild) action: a
// build of a build project from the primary input artifact, whose
// artifacts become the action's outputs (the primary one the first output
// artifact, each secondary one the output of its identifier's name) and
// whose exported variables its variables.
type CodeBuildAction struct {
	Builds *buildsvc.Service
	// Poll is how often the action looks at its build; default 100ms.
	Poll time.Duration
}

// Run starts the build (or finds the one an earlier attempt started) and
// waits for it.
func (c *CodeBuildAction) Run(ctx context.Context, r *ActionRun) (*ActionResult, error) {
	bp, err := c.Builds.GetProject(ctx, r.ProjectID, r.Configuration["ProjectName"])
	if err != nil {
		return nil, fmt.Errorf("build project %s: %w", r.Configuration["ProjectName"], err)
	}
	id := r.ExternalID
	if id == "" {
		src := r.Configuration["PrimarySource"]
		if src == "" && len(r.Action.InputArtifacts) > 0 {
			src = r.Action.InputArtifacts[0].Name
		}
		in, ok := r.Inputs[src]
		if !ok {
			return nil, fmt.Errorf("no input artifact %q to build", src)
		}
		env, err := actionEnv(r.Configuration["EnvironmentVariables"])
		if err != nil {
			return nil, err
		}
		b, err := c.Builds.Start(ctx, bp, in.Digest, "codepipeline/"+r.PipelineName, env...)
		if err != nil {
			return nil, err
		}
		id = b.ID
		if err := r.Record(ctx, id); err != nil {
			return nil, err
		}
	}
	poll := c.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for {
		b, err := c.Builds.Get(ctx, r.ProjectID, id)
		if err != nil {
			return nil, err
		}
		if b.Finished() {
			if b.Status != "SUCCEEDED" {
				return nil, fmt.Errorf("build %s ended %s: see slipway logs %s", b.ID, b.Status, b.ID)
			}
			out := map[string]Artifact{}
			for _, a := range b.Artifacts {
				name := a.Identifier
				if name == "" && len(r.Action.OutputArtifacts) > 0 {
					name = r.Action.OutputArtifacts[0].Name
				}
				if declared(r.Action.OutputArtifacts, name) {
					out[name] = Artifact{Digest: a.Digest, Size: a.Size}
				}
			}
			for _, o := range r.Action.OutputArtifacts {
				if _, ok := out[o.Name]; !ok {
					return nil, fmt.Errorf("build %s made no artifact for the output %s: declare it in the buildspec's artifacts (or secondary-artifacts %s)", b.ID, o.Name, o.Name)
				}
			}
			return &ActionResult{Outputs: out, Variables: b.Exported, Summary: "build " + b.ID}, nil
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(poll):
		}
	}
}

// actionEnv reads a CodeBuild action's EnvironmentVariables: a JSON array
// of {"name", "value", "type"}, with #{...} variables already resolved.
func actionEnv(text string) ([]buildsvc.EnvVar, error) {
	if text == "" {
		return nil, nil
	}
	var vars []struct{ Name, Value, Type string }
	if err := json.Unmarshal([]byte(text), &vars); err != nil {
		return nil, fmt.Errorf("EnvironmentVariables: %w", err)
	}
	out := make([]buildsvc.EnvVar, len(vars))
	for i, v := range vars {
		out[i] = buildsvc.EnvVar{Name: v.Name, Value: v.Value, Type: v.Type}
	}
	return out, nil
}

func declared(outputs []pipeline.Artifact, name string) bool {
	for _, o := range outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}
