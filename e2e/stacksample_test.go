package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// The sample application's two templates (hand-written fixtures of the
// same shape as the public sample's, kept with the template package).
var sampleDir = filepath.Join("..", "template", "testdata", "sample")

func TestStackSample_BothTemplatesValidateAndTheInfrastructurePlansOnThePipelineStacksExports(t *testing.T) {
	s := startServer(t)
	// Every type of both templates is provided, the infrastructure's
	// deployment group included.
	for _, name := range []string{"pipeline.yml", "infrastructure.yml"} {
		out, errs, err := s.cli(s.token, "stack", "validate", filepath.Join(sampleDir, name))
		if err != nil {
			t.Fatalf("validate %s: %v\n%s%s", name, err, out, errs)
		}
		if strings.Contains(errs, "warning:") {
			t.Errorf("validate %s warned:\n%s%s", name, out, errs)
		}
	}
	// The infrastructure imports the CodeDeploy application and service
	// role the pipeline stack exports.
	out, errs, err := s.cli(s.token, "stack", "deploy", "golang-app-pipeline",
		"--template", filepath.Join(sampleDir, "pipeline.yml"), "--parameter-overrides", "ApplicationName=golang-app")
	if err != nil {
		t.Fatalf("deploy the pipeline stack: %v\n%s%s", err, out, errs)
	}
	var changes []struct {
		Action   string `json:"action"`
		Logical  string `json:"logical_id"`
		Type     string `json:"type"`
		Modelled bool   `json:"modelled"`
	}
	s.mustCLI(s.token, &changes, "stack", "plan", "golang-app-staging",
		"--template", filepath.Join(sampleDir, "infrastructure.yml"),
		"--config", filepath.Join(sampleDir, "staging.conf"),
		"--parameter-overrides", "ApplicationName=golang-app", "EnvironmentName=staging", "ArtifactS3Bucket=golang-app-artifacts")
	added := map[string]string{}
	for _, c := range changes {
		if c.Action != "Add" {
			t.Errorf("the first plan of the stack has %s %s", c.Action, c.Logical)
		}
		added[c.Logical] = c.Type
		if c.Logical == "DeploymentGroup" && c.Modelled {
			t.Errorf("the deployment group is modelled, not made by the deployment service")
		}
	}
	for logical, typ := range map[string]string{
		"DeploymentGroup":  "AWS::CodeDeploy::DeploymentGroup",
		"AutoScalingGroup": "AWS::AutoScaling::AutoScalingGroup",
		"LoadBalancer":     "AWS::ElasticLoadBalancingV2::LoadBalancer",
	} {
		if added[logical] != typ {
			t.Errorf("the plan adds %s as %q, want %s; plan: %v", logical, added[logical], typ, added)
		}
	}
}

func TestStackSample_ThePipelineStackDeploysAndMakesAPipelineThatRuns(t *testing.T) {
	s := startServer(t)
	out, errs, err := s.cli(s.token, "stack", "deploy", "golang-app-pipeline",
		"--template", filepath.Join(sampleDir, "pipeline.yml"), "--parameter-overrides", "ApplicationName=golang-app")
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errs)
	}
	var pl struct {
		Name        string `json:"name"`
		Declaration struct {
			Stages []struct{ Name string } `json:"Stages"`
		} `json:"declaration"`
	}
	s.mustCLI(s.token, &pl, "pipeline", "get", "golang-app")
	var names []string
	for _, st := range pl.Declaration.Stages {
		names = append(names, st.Name)
	}
	if strings.Join(names, ",") != "Source,Build,Staging,Approvals,Production" {
		t.Fatalf("stages %v", names)
	}
	// As on AWS, the new pipeline runs at once (on an empty repository its
	// source has nothing to fetch yet).
	id := firstExecution(t, s, "golang-app")
	e := waitExecution(t, s, id, "the first execution to end", ended)
	if e.Trigger.Type != "CreatePipeline" || e.Status != "Failed" || e.Stage != "Source" {
		t.Fatalf("first execution: %+v", e)
	}
	var repo struct{ Name string }
	s.mustCLI(s.token, &repo, "repo", "get", "golang-app")
	var exports []struct{ Name string }
	s.mustCLI(s.token, &exports, "stack", "exports")
	if len(exports) != 2 {
		t.Fatalf("exports %+v", exports)
	}
}
