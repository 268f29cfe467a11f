package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The sample application's two templates (hand-written fixtures of the
// same shape as the public sample's, kept with the template package).
var sampleDir = filepath.Join("..", "template", "testdata", "sample")

func TestStackSample_BothTemplatesValidateAndTheInfrastructurePlanNamesWhatIsNotImplementedYet(t *testing.T) {
	s := startServer(t)
	// Every type of the pipeline stack is provided; the infrastructure's
	// deployment group is not yet (its instances and load balancer are).
	for name, warns := range map[string]bool{"pipeline.yml": false, "infrastructure.yml": true} {
		out, errs, err := s.cli(s.token, "stack", "validate", filepath.Join(sampleDir, name))
		if err != nil {
			t.Fatalf("validate %s: %v\n%s%s", name, err, out, errs)
		}
		if strings.Contains(errs, "warning:") != warns || warns && !strings.Contains(errs, "AWS::CodeDeploy::DeploymentGroup") {
			t.Errorf("validate %s warned %v, want %v:\n%s%s", name, !warns, warns, out, errs)
		}
	}
	out, errs, err := s.cli(s.token, "stack", "plan", "golang-app-staging",
		"--template", filepath.Join(sampleDir, "infrastructure.yml"),
		"--config", filepath.Join(sampleDir, "staging.conf"),
		"--parameter-overrides", "ApplicationName=golang-app", "EnvironmentName=staging", "ArtifactS3Bucket=golang-app-artifacts")
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("plan of the infrastructure succeeded or crashed: %v\n%s%s", err, out, errs)
	}
	if !strings.Contains(errs, "AWS::CodeDeploy::DeploymentGroup") {
		t.Errorf("the plan's error does not name AWS::CodeDeploy::DeploymentGroup:\n%s", errs)
	}
	// The load balancer's and the instances' types are provided now.
	_, unrecognized, _ := strings.Cut(errs, "Unrecognized resource types: [")
	unrecognized, _, _ = strings.Cut(unrecognized, "]")
	for _, provided := range []string{"ElasticLoadBalancingV2", "AutoScaling"} {
		if strings.Contains(unrecognized, provided) {
			t.Errorf("the plan's error names a %s type as unrecognized: [%s]", provided, unrecognized)
		}
	}
	if !strings.Contains(errs, "Unrecognized resource types") || !strings.Contains(errs, "supported types") {
		t.Errorf("the plan's error does not say what is supported:\n%s", errs)
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
