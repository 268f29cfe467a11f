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
	for _, name := range []string{"pipeline.yml", "infrastructure.yml"} {
		out, errs, err := s.cli(s.token, "stack", "validate", filepath.Join(sampleDir, name))
		if err != nil {
			t.Fatalf("validate %s: %v\n%s%s", name, err, out, errs)
		}
		if !strings.Contains(out+errs, "AWS::") {
			t.Errorf("validate %s does not name the types it cannot deploy yet:\n%s%s", name, out, errs)
		}
	}
	out, errs, err := s.cli(s.token, "stack", "plan", "golang-app-staging",
		"--template", filepath.Join(sampleDir, "infrastructure.yml"),
		"--config", filepath.Join(sampleDir, "staging.conf"),
		"--parameter-overrides", "ApplicationName=golang-app", "EnvironmentName=staging", "ArtifactS3Bucket=golang-app-artifacts")
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("plan of the infrastructure succeeded or crashed: %v\n%s%s", err, out, errs)
	}
	for _, typ := range []string{"AWS::AutoScaling::AutoScalingGroup", "AWS::AutoScaling::LaunchConfiguration",
		"AWS::CodeDeploy::DeploymentGroup", "AWS::ElasticLoadBalancingV2::LoadBalancer"} {
		if !strings.Contains(errs, typ) {
			t.Errorf("the plan's error does not name %s:\n%s", typ, errs)
		}
	}
	if !strings.Contains(errs, "Unrecognized resource types") || !strings.Contains(errs, "supported types") {
		t.Errorf("the plan's error does not say what is supported:\n%s", errs)
	}
}
