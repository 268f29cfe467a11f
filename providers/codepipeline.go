package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

const codePipelineType = "AWS::CodePipeline::Pipeline"

// codePipelineSchema follows CloudFormation's AWS::CodePipeline::Pipeline;
// the declaration's own rules are package pipeline's.
var codePipelineSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Name":                           replace,
		"RoleArn":                        requiredInPlace,
		"Stages":                         requiredInPlace,
		"ArtifactStore":                  inPlace,
		"ArtifactStores":                 inPlace,
		"DisableInboundStageTransitions": inPlace,
		"ExecutionMode":                  inPlace,
		"PipelineType":                   inPlace,
		"RestartExecutionOnUpdate":       inPlace,
		"Tags":                           inPlace,
		"Triggers":                       inPlace,
		"Variables":                      inPlace,
	},
	Attributes:   []string{"Version"},
	NameProperty: "Name",
}

// codePipeline provides AWS::CodePipeline::Pipeline: a pipeline of the
// pipeline service, whose physical ID is its name, as on AWS. As on AWS,
// creating one starts an execution, and so does an update when
// RestartExecutionOnUpdate is set.
type codePipeline struct {
	d *Deps
}

func (p *codePipeline) Schema() stack.Schema { return codePipelineSchema }

func (p *codePipeline) declaration(r *stack.Request) (*pipeline.Declaration, error) {
	d, err := pipeline.FromProperties(r.Logical, r.Properties)
	if err != nil {
		return nil, err
	}
	if d.Name == "" {
		d.Name = generatedName(r, 100)
	}
	return d, nil
}

func (p *codePipeline) outcome(pl *pipelinesvc.Pipeline) *stack.Outcome {
	return &stack.Outcome{PhysicalID: pl.Name, Attrs: map[string]any{"Version": json.Number(fmt.Sprint(pl.Version))}}
}

func (p *codePipeline) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	d, err := p.declaration(r)
	if err != nil {
		return nil, err
	}
	pl, err := p.d.Pipelines.Create(ctx, r.ProjectID, d)
	if errors.Is(err, store.ErrConflict) {
		// A resumed create finds the pipeline it made: the same declaration.
		if have, gerr := p.d.Pipelines.Get(ctx, r.ProjectID, d.Name); gerr == nil && sameDeclaration(have.Declaration, d) {
			return p.outcome(have), nil
		}
		return nil, fmt.Errorf("%s already exists", d.Name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := p.d.Pipelines.Start(ctx, pl, pipelinesvc.Trigger{Type: pipelinesvc.TriggerCreate, By: "stack " + r.StackName},
		"create:"+r.Token); err != nil {
		return nil, err
	}
	return p.outcome(pl), nil
}

func sameDeclaration(a, b *pipeline.Declaration) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return reflect.DeepEqual(x, y)
}

func (p *codePipeline) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	d, err := p.declaration(r)
	if err != nil {
		return nil, err
	}
	d.Name = r.PhysicalID
	pl, err := p.d.Pipelines.Update(ctx, r.ProjectID, d)
	if err != nil {
		return nil, err
	}
	if d.RestartExecutionOnUpdate {
		if _, err := p.d.Pipelines.Start(ctx, pl, pipelinesvc.Trigger{Type: pipelinesvc.TriggerUpdate, By: "stack " + r.StackName},
			fmt.Sprintf("update:%s:%d", r.Token, pl.Version)); err != nil {
			return nil, err
		}
	}
	return p.outcome(pl), nil
}

func (p *codePipeline) Delete(ctx context.Context, r *stack.Request) error {
	if r.PhysicalID == "" {
		return nil // the create failed: a pipeline of that name is someone else's
	}
	err := p.d.Pipelines.Delete(ctx, r.ProjectID, r.PhysicalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
