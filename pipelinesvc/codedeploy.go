package pipelinesvc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slipway/slipway/deploy"
)

// CodeDeployAction is the Deploy/CodeDeploy action: it deploys its input
// artifact to a deployment group (ApplicationName, DeploymentGroupName)
// and succeeds or fails with the deployment.
type CodeDeployAction struct {
	Deploys *deploy.Service
}

// Run creates the deployment (once: a resumed run follows the one it
// recorded) and waits for it to end.
func (c *CodeDeployAction) Run(ctx context.Context, r *ActionRun) (*ActionResult, error) {
	app, group := r.Configuration["ApplicationName"], r.Configuration["DeploymentGroupName"]
	id, ok := strings.CutPrefix(r.ExternalID, "deployment:")
	if !ok {
		if len(r.Inputs) != 1 {
			return nil, fmt.Errorf("the CodeDeploy action takes exactly one input artifact, not %d", len(r.Inputs))
		}
		var art Artifact
		for _, a := range r.Inputs {
			art = a
		}
		desc := fmt.Sprintf("pipeline %s execution %s", r.PipelineName, r.ExecutionID)
		if _, err := c.Deploys.RegisterArtifact(ctx, r.ProjectID, app, art.Digest, desc); err != nil {
			return nil, fmt.Errorf("register the input artifact with application %s: %w", app, err)
		}
		d, err := c.Deploys.Create(ctx, r.ProjectID, deploy.CreateInput{Application: app, Group: group, Digest: art.Digest,
			CreatedBy: "pipeline " + r.PipelineName, Options: deploy.Options{Description: desc}})
		if err != nil {
			return nil, err
		}
		if err := r.Record(ctx, "deployment:"+d.ID); err != nil {
			return nil, err
		}
		id = d.ID
	}
	d, err := c.Deploys.Wait(ctx, r.ProjectID, id)
	if err != nil {
		return nil, err
	}
	if d.Status != deploy.Succeeded {
		msg := fmt.Sprintf("deployment %s to %s/%s ended %s", d.ID, app, group, d.Status)
		if d.ErrorMessage != "" {
			msg += ": " + d.ErrorMessage
		}
		if d.Rollback.RollbackDeploymentID != "" {
			msg += " (rolled back by " + d.Rollback.RollbackDeploymentID + ")"
		}
		return nil, errors.New(msg + " (see slipway deploy instances " + d.ID + ")")
	}
	return &ActionResult{Summary: fmt.Sprintf("deployment %s to %s/%s succeeded on %d instances", d.ID, app, group, d.Overview.Succeeded),
		Variables: map[string]string{"DeploymentId": d.ID}}, nil
}
