package pipelinesvc

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/template"
)

// CloudFormationAction is the Deploy/CloudFormation action: it deploys,
// replaces or deletes a stack, or makes and executes change sets, from a
// template in an input artifact, with CodePipeline's ActionModes,
// TemplateConfiguration and ParameterOverrides (overrides win), and gives
// the stack's outputs as its variables (and, with OutputFileName, as a
// JSON file in its output artifact).
type CloudFormationAction struct {
	Stacks    *stacksvc.Service
	Artifacts artifact.Store
	// WorkDir holds temporary copies of artifacts.
	WorkDir string
	// Poll is how often the action looks at its stack; default 100ms.
	Poll time.Duration
}

// maxTemplateFile bounds what is read out of an artifact for a template or
// a configuration file (CloudFormation's own template limit).
const maxTemplateFile = 1 << 20

// Run performs the action's mode and waits for the stack to settle.
func (c *CloudFormationAction) Run(ctx context.Context, r *ActionRun) (*ActionResult, error) {
	cfg := r.Configuration
	name, mode := cfg["StackName"], cfg["ActionMode"]
	pr := stacksvc.Project{ID: r.ProjectID}
	switch mode {
	case "DELETE_ONLY":
		if _, err := c.Stacks.Get(ctx, r.ProjectID, name); errors.Is(err, store.ErrNotFound) {
			return &ActionResult{Summary: "stack " + name + " does not exist"}, nil
		}
		if err := c.startOnce(ctx, r, func() error { _, err := c.Stacks.Delete(ctx, pr, name); return err }); err != nil {
			return nil, err
		}
		_, err := c.settle(ctx, r.ProjectID, name, stack.DeleteComplete)
		return &ActionResult{Summary: "deleted stack " + name}, err
	case "CHANGE_SET_EXECUTE":
		if err := c.startOnce(ctx, r, func() error {
			_, err := c.Stacks.ExecuteChangeSet(ctx, pr, name, cfg["ChangeSetName"])
			return err
		}); err != nil {
			return nil, err
		}
		return c.finish(ctx, r, name)
	}
	in, err := c.input(ctx, r)
	if err != nil {
		return nil, err
	}
	switch mode {
	case "CHANGE_SET_REPLACE":
		cs, err := c.Stacks.CreateChangeSet(ctx, pr, name, cfg["ChangeSetName"], in)
		if err != nil {
			return nil, err
		}
		return &ActionResult{Summary: fmt.Sprintf("change set %s of stack %s: %d changes", cs.Name, name, len(cs.Changes))}, nil
	case "REPLACE_ON_FAILURE":
		st, err := c.Stacks.Get(ctx, r.ProjectID, name)
		if err == nil && r.ExternalID == "" && replaceable(st.Status) {
			// A stack in a failed state is deleted and made anew.
			if _, err := c.Stacks.Delete(ctx, pr, name); err != nil {
				return nil, err
			}
			if _, err := c.settle(ctx, r.ProjectID, name, stack.DeleteComplete); err != nil {
				return nil, err
			}
		}
	}
	err = c.startOnce(ctx, r, func() error {
		_, err := c.Stacks.Deploy(ctx, pr, name, in)
		if errors.Is(err, stacksvc.ErrNoUpdates) {
			return nil // as the action does: no updates is a success
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.finish(ctx, r, name)
}

// replaceable lists the failed states REPLACE_ON_FAILURE starts over from.
func replaceable(status string) bool {
	switch status {
	case stack.RollbackComplete, stack.RollbackFailed, stack.CreateFailed, stack.DeleteFailed, stack.UpdateRollbackFailed:
		return true
	}
	return false
}

// startOnce starts the stack operation unless an earlier attempt of this
// run did: a resumed action then only waits. The attempt records what the
// stack was like before it starts ("starting:" and the stack's mark), then
// that it started: one stopped between the two (a server killed then) is
// known to have started the operation by the stack having changed since.
func (c *CloudFormationAction) startOnce(ctx context.Context, r *ActionRun, start func() error) error {
	name := r.Configuration["StackName"]
	started := "stack:" + name
	if r.ExternalID == started {
		return nil
	}
	mark, err := c.stackMark(ctx, r.ProjectID, name)
	if err != nil {
		return err
	}
	if before, ok := strings.CutPrefix(r.ExternalID, "starting:"); ok && before != mark {
		return r.Record(ctx, started)
	}
	if err := r.Record(ctx, "starting:"+mark); err != nil {
		return err
	}
	if err := start(); err != nil {
		return err
	}
	return r.Record(ctx, started)
}

// stackMark names the stack's state as its latest operation left it: the
// time that operation began, or "none" when there is no stack.
func (c *CloudFormationAction) stackMark(ctx context.Context, projectID, name string) (string, error) {
	st, err := c.Stacks.Get(ctx, projectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return "none", nil
	}
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(st.UpdatedAt.UnixMilli(), 10), nil
}

// finish waits for the stack and reports its outputs.
func (c *CloudFormationAction) finish(ctx context.Context, r *ActionRun, name string) (*ActionResult, error) {
	st, err := c.settle(ctx, r.ProjectID, name, "")
	if err != nil {
		return nil, err
	}
	if st.Status != stack.CreateComplete && st.Status != stack.UpdateComplete {
		return nil, fmt.Errorf("stack %s ended %s: %s (see slipway stack events %s)", name, st.Status, st.StatusReason, name)
	}
	vars := map[string]string{}
	for _, o := range st.Outputs {
		vars[o.Key] = o.Value
	}
	res := &ActionResult{Variables: vars, Summary: "stack " + name + " " + st.Status, Outputs: map[string]Artifact{}}
	if file := r.Configuration["OutputFileName"]; file != "" && len(r.Action.OutputArtifacts) > 0 {
		art, err := c.outputFile(ctx, file, vars)
		if err != nil {
			return nil, err
		}
		res.Outputs[r.Action.OutputArtifacts[0].Name] = art
	}
	return res, nil
}

// settle waits until the stack's operation ends (or the stack is gone,
// when want is DELETE_COMPLETE).
func (c *CloudFormationAction) settle(ctx context.Context, projectID, name, want string) (*stacksvc.Stack, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	for {
		st, err := c.Stacks.Get(ctx, projectID, name)
		if errors.Is(err, store.ErrNotFound) && want == stack.DeleteComplete {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !stack.InProgress(st.Status) {
			if want == stack.DeleteComplete {
				return nil, fmt.Errorf("stack %s ended %s: %s", name, st.Status, st.StatusReason)
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(poll):
		}
	}
}

// input reads the template, the configuration file and the overrides.
func (c *CloudFormationAction) input(ctx context.Context, r *ActionRun) (stacksvc.Input, error) {
	cfg := r.Configuration
	tplArt, tplPath, err := pipeline.ParseArtifactPath(cfg["TemplatePath"])
	if err != nil {
		return stacksvc.Input{}, fmt.Errorf("TemplatePath: %w", err)
	}
	body, err := c.readFile(ctx, r, tplArt, tplPath)
	if err != nil {
		return stacksvc.Input{}, fmt.Errorf("TemplatePath %s: %w", cfg["TemplatePath"], err)
	}
	in := stacksvc.Input{TemplateName: tplPath, Template: string(body), Parameters: map[string]string{}, Tags: map[string]string{}}
	if tc := cfg["TemplateConfiguration"]; tc != "" {
		art, path, err := pipeline.ParseArtifactPath(tc)
		if err != nil {
			return in, fmt.Errorf("TemplateConfiguration: %w", err)
		}
		data, err := c.readFile(ctx, r, art, path)
		if err != nil {
			return in, fmt.Errorf("TemplateConfiguration %s: %w", tc, err)
		}
		conf, err := template.ParseConfig(path, data)
		if err != nil {
			return in, err
		}
		in.Parameters, in.Tags = conf.Parameters, conf.Tags
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
	}
	if po := cfg["ParameterOverrides"]; po != "" {
		overrides, err := c.overrides(ctx, r, po)
		if err != nil {
			return in, fmt.Errorf("ParameterOverrides: %w", err)
		}
		in.Parameters = template.MergeParameters(in.Parameters, overrides)
	}
	return in, nil
}

// overrides reads ParameterOverrides: a JSON object of strings, or of
// Fn::GetParam [artifact, file, key] and Fn::GetArtifactAtt [artifact, attr].
func (c *CloudFormationAction) overrides(ctx context.Context, r *ActionRun, text string) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	out := map[string]string{}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var s string
		if json.Unmarshal(raw[k], &s) == nil {
			out[k] = s
			continue
		}
		var fn map[string][]string
		if err := json.Unmarshal(raw[k], &fn); err != nil {
			return nil, fmt.Errorf("%s: give a string, Fn::GetParam or Fn::GetArtifactAtt", k)
		}
		switch args := fn["Fn::GetParam"]; {
		case len(args) == 3:
			data, err := c.readFile(ctx, r, args[0], args[1])
			if err != nil {
				return nil, fmt.Errorf("%s: Fn::GetParam: %w", k, err)
			}
			var params map[string]any
			if err := json.Unmarshal(data, &params); err != nil {
				return nil, fmt.Errorf("%s: Fn::GetParam: %s is not a JSON object: %w", k, args[1], err)
			}
			v, ok := params[args[2]]
			if !ok {
				return nil, fmt.Errorf("%s: Fn::GetParam: %s has no key %s", k, args[1], args[2])
			}
			out[k] = fmt.Sprint(v)
		case fn["Fn::GetArtifactAtt"] != nil && len(fn["Fn::GetArtifactAtt"]) == 2:
			a := fn["Fn::GetArtifactAtt"]
			art, ok := r.Inputs[a[0]]
			if !ok {
				return nil, fmt.Errorf("%s: Fn::GetArtifactAtt: %s is not an input artifact of the action", k, a[0])
			}
			switch a[1] {
			case "ObjectKey":
				out[k] = art.Digest
			case "BucketName":
				out[k] = "slipway-artifacts"
			case "URL":
				out[k] = "artifact://" + art.Digest
			default:
				return nil, fmt.Errorf("%s: Fn::GetArtifactAtt: attribute %s: use BucketName, ObjectKey or URL", k, a[1])
			}
		default:
			return nil, fmt.Errorf("%s: give a string, Fn::GetParam [artifact, file, key] or Fn::GetArtifactAtt [artifact, attribute]", k)
		}
	}
	return out, nil
}

// readFile reads one file out of an input artifact (a zip archive).
func (c *CloudFormationAction) readFile(ctx context.Context, r *ActionRun, artifactName, path string) ([]byte, error) {
	art, ok := r.Inputs[artifactName]
	if !ok {
		return nil, fmt.Errorf("%s is not an input artifact of the action", artifactName)
	}
	rc, info, err := c.Artifacts.Open(ctx, art.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := os.MkdirAll(c.WorkDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(c.WorkDir, "artifact-*.zip")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, info.Size)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", artifactName, err)
	}
	want := strings.TrimPrefix(path, "./")
	for _, zf := range zr.File {
		if zf.Name != want {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxTemplateFile+1))
		if err != nil {
			return nil, err
		}
		if len(data) > maxTemplateFile {
			return nil, fmt.Errorf("%s is larger than 1 MB", path)
		}
		return data, nil
	}
	return nil, fmt.Errorf("artifact %s has no file %s", artifactName, path)
}

// outputFile writes the outputs as a JSON file in a zip archive.
func (c *CloudFormationAction) outputFile(ctx context.Context, name string, vars map[string]string) (Artifact, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		return Artifact{}, err
	}
	if err := json.NewEncoder(w).Encode(vars); err != nil {
		return Artifact{}, err
	}
	if err := zw.Close(); err != nil {
		return Artifact{}, err
	}
	info, err := c.Artifacts.Put(ctx, &buf)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Digest: info.Digest, Size: info.Size}, nil
}
