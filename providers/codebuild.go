package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

const codeBuildType = "AWS::CodeBuild::Project"

// codeBuildSchema follows CloudFormation's AWS::CodeBuild::Project. Name,
// Description, Environment (compute type, image, variables), Source's
// BuildSpec, TimeoutInMinutes and Cache become the build project's
// settings; the rest is accepted as on AWS and has no effect here (the
// source of a server build is given when it starts, artifacts go to the
// artifact store, and there are no IAM roles).
var codeBuildSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Name":                    replace,
		"Artifacts":               requiredInPlace,
		"Environment":             requiredInPlace,
		"ServiceRole":             requiredInPlace,
		"Source":                  requiredInPlace,
		"BadgeEnabled":            inPlace,
		"BuildBatchConfig":        inPlace,
		"Cache":                   inPlace,
		"ConcurrentBuildLimit":    inPlace,
		"Description":             inPlace,
		"EncryptionKey":           inPlace,
		"FileSystemLocations":     inPlace,
		"LogsConfig":              inPlace,
		"QueuedTimeoutInMinutes":  inPlace,
		"ResourceAccessRole":      inPlace,
		"SecondaryArtifacts":      inPlace,
		"SecondarySources":        inPlace,
		"SecondarySourceVersions": inPlace,
		"SourceVersion":           inPlace,
		"Tags":                    inPlace,
		"TimeoutInMinutes":        inPlace,
		"Triggers":                inPlace,
		"Visibility":              inPlace,
		"VpcConfig":               inPlace,
	},
	Attributes:   []string{"Arn"},
	NameProperty: "Name",
}

// codeBuildProject provides AWS::CodeBuild::Project: a build project of the
// build service. Its physical ID is the project's name, as on AWS.
type codeBuildProject struct {
	d *Deps
}

func (p *codeBuildProject) Schema() stack.Schema { return codeBuildSchema }

func (p *codeBuildProject) name(r *stack.Request) string {
	if n := read(r).str("Name"); n != "" {
		return n
	}
	return generatedName(r, 255)
}

// buildSettings translates the properties into the build project's settings.
func buildSettings(r *stack.Request) (buildsvc.Settings, error) {
	var in struct {
		Description string
		Environment struct {
			ComputeType, Image   string
			EnvironmentVariables []struct{ Name, Value, Type string }
		}
		Source struct {
			BuildSpec string
		}
		TimeoutInMinutes json.Number
		Cache            struct {
			Type  string
			Modes []string
		}
	}
	b, err := json.Marshal(r.Properties)
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	if err != nil {
		return buildsvc.Settings{}, fmt.Errorf("Properties validation failed for resource %s with message: %v", r.Logical, err)
	}
	st := buildsvc.Settings{Description: in.Description, Buildspec: in.Source.BuildSpec}
	st.Environment.ComputeType, st.Environment.Image = in.Environment.ComputeType, in.Environment.Image
	for _, v := range in.Environment.EnvironmentVariables {
		st.Environment.Variables = append(st.Environment.Variables, buildsvc.EnvVar{Name: v.Name, Value: v.Value, Type: v.Type})
	}
	if in.TimeoutInMinutes != "" {
		n, err := strconv.Atoi(in.TimeoutInMinutes.String())
		if err != nil {
			return st, fmt.Errorf("Properties validation failed for resource %s with message: #/TimeoutInMinutes: expected type: Integer", r.Logical)
		}
		st.TimeoutInMinutes = n
	}
	// CodeBuild's LOCAL cache is ours; its S3 cache has nowhere to go here
	// and keeps the cache local too.
	switch in.Cache.Type {
	case "LOCAL", "S3":
		st.Cache = buildsvc.Cache{Type: "LOCAL", Modes: in.Cache.Modes}
	}
	return st, nil
}

func (p *codeBuildProject) outcome(name string) *stack.Outcome {
	return &stack.Outcome{PhysicalID: name, Attrs: map[string]any{
		"Arn": fmt.Sprintf("arn:%s:codebuild:%s:%s:project/%s", p.d.Partition, p.d.Region, p.d.AccountID, name)}}
}

func (p *codeBuildProject) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	st, err := buildSettings(r)
	if err != nil {
		return nil, err
	}
	name := p.name(r)
	_, err = p.d.Builds.CreateProject(ctx, r.ProjectID, name, st)
	if errors.Is(err, store.ErrConflict) {
		// A resumed create finds the project it made: the same settings
		// under the same name. Anything else is someone else's project.
		if have, gerr := p.d.Builds.GetProject(ctx, r.ProjectID, name); gerr == nil && sameSettings(have.Settings, st) {
			return p.outcome(name), nil
		}
		return nil, fmt.Errorf("%s already exists", name)
	}
	if err != nil {
		return nil, err
	}
	return p.outcome(name), nil
}

// sameSettings compares settings once both have their defaults.
func sameSettings(have, want buildsvc.Settings) bool {
	if err := buildsvc.Normalize(&want); err != nil {
		return false
	}
	return reflect.DeepEqual(have, want)
}

func (p *codeBuildProject) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	st, err := buildSettings(r)
	if err != nil {
		return nil, err
	}
	if _, err := p.d.Builds.UpdateProject(ctx, r.ProjectID, r.PhysicalID, st); err != nil {
		return nil, err
	}
	return p.outcome(r.PhysicalID), nil
}

func (p *codeBuildProject) Delete(ctx context.Context, r *stack.Request) error {
	if r.PhysicalID == "" {
		// The create failed (a resumed one is retried before anything is
		// deleted): a project of that name is someone else's.
		return nil
	}
	err := p.d.Builds.DeleteProject(ctx, r.ProjectID, r.PhysicalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
