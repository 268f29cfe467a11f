package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// samplePipeline is the sample application's pipeline on a Go service:
// Source → Build → Staging (a stack from the build's template and
// config/staging.conf) → Approvals → Production (the same template and
// artifact, config/production.conf).
const samplePipeline = `Name: golang-app
RoleArn: arn:aws:iam::000000000000:role/golang-app-pipeline
ArtifactStore: {Type: S3, Location: golang-app-artifacts}
Stages:
  - Name: Source
    Actions:
      - Name: App
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: golang-app, BranchName: main}
        OutputArtifacts: [{Name: Source}]
  - Name: Build
    Actions:
      - Name: CodeBuild
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration: {ProjectName: golang-app-build}
        InputArtifacts: [{Name: Source}]
        OutputArtifacts: [{Name: Built}]
  - Name: Staging
    Actions:
      - Name: DeployInfrastructure
        RunOrder: 1
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
        Configuration:
          ActionMode: REPLACE_ON_FAILURE
          Capabilities: CAPABILITY_NAMED_IAM
          RoleArn: arn:aws:iam::000000000000:role/golang-app-cfn
          StackName: golang-app-staging
          TemplatePath: Built::cloudformation/infrastructure.yml
          TemplateConfiguration: Built::config/staging.conf
          ParameterOverrides: '{"ApplicationName": "golang-app", "EnvironmentName": "staging", "ArtifactKey": {"Fn::GetArtifactAtt": ["Built", "ObjectKey"]}}'
        InputArtifacts: [{Name: Built}]
  - Name: Approvals
    Actions:
      - Name: Approve
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
  - Name: Production
    Actions:
      - Name: DeployInfrastructure
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
        Configuration:
          ActionMode: CREATE_UPDATE
          Capabilities: CAPABILITY_NAMED_IAM
          RoleArn: arn:aws:iam::000000000000:role/golang-app-cfn
          StackName: golang-app-production
          TemplatePath: Built::cloudformation/infrastructure.yml
          TemplateConfiguration: Built::config/production.conf
          ParameterOverrides: '{"ApplicationName": "golang-app", "EnvironmentName": "production", "ArtifactKey": {"Fn::GetArtifactAtt": ["Built", "ObjectKey"]}}'
        InputArtifacts: [{Name: Built}]
`

// sampleInfrastructure is what each environment's stack holds here: the
// types this version provides, in the sample's shape.
const sampleInfrastructure = `Description: one environment of the Go service
Parameters:
  ApplicationName: {Type: String}
  EnvironmentName: {Type: String, AllowedValues: [staging, production]}
  InstanceCount: {Type: Number, MinValue: 1}
  ArtifactKey: {Type: String}
Resources:
  Artifacts:
    Type: AWS::S3::Bucket
  AppSecurityGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: !Sub "${ApplicationName}-${EnvironmentName} instances"
Outputs:
  Revision:
    Value: !Ref ArtifactKey
  Instances:
    Value: !Ref InstanceCount
`

type sampleStack struct {
	Status     string `json:"status"`
	Parameters []struct {
		Key, Value string
	} `json:"parameters"`
	Outputs []struct {
		Key, Value string
	} `json:"outputs"`
}

func (st sampleStack) output(key string) string {
	for _, o := range st.Outputs {
		if o.Key == key {
			return o.Value
		}
	}
	return ""
}

func TestPipelineSample_APushGoesThroughStagingAndApprovalToProductionWithTheSameArtifact(t *testing.T) {
	s := startServer(t)
	src := map[string]string{"cloudformation/infrastructure.yml": sampleInfrastructure,
		"config/staging.conf":    `{"Parameters": {"InstanceCount": "1"}}`,
		"config/production.conf": `{"Parameters": {"InstanceCount": "2"}}`}
	goserviceFiles(t, src, "go.mod", "main.go", "main_test.go", "buildspec.yml", "appspec.yml", "codedeploy/ApplicationStop.sh")
	s.mustCLI(s.token, nil, "repo", "create", "golang-app")
	s.mustCLI(s.token, nil, "build", "project", "create", "golang-app-build", "--env", "GOCACHE="+goCache(t))
	file := filepath.Join(t.TempDir(), "pipeline.yml")
	if err := os.WriteFile(file, []byte(samplePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustCLI(s.token, nil, "pipeline", "create", "--file", file)

	pushFiles(t, s, "golang-app", src)
	first := firstExecution(t, s, "golang-app")
	e1 := waitExecution(t, s, first, "the first execution to wait for approval", func(e *pipelineExecution) bool {
		a := e.action("Approvals")
		return ended(e) || a != nil && a.Status == "InProgress"
	})
	if e1.Status != "InProgress" {
		t.Fatalf("first execution: %s %s", e1.Status, e1.Reason)
	}
	built := e1.Artifacts["Built"].Digest
	var staging sampleStack
	s.mustCLI(s.token, &staging, "stack", "describe", "golang-app-staging")
	if staging.Status != "CREATE_COMPLETE" || staging.output("Revision") != built || staging.output("Instances") != "1" {
		t.Fatalf("staging stack %+v, built %s", staging, built)
	}

	// A second push while the first waits for approval: it runs through
	// Staging and waits in front of Approvals (the stage the first holds).
	src["main.go"] = strings.Replace(src["main.go"], "package main", "// second revision\npackage main", 1)
	pushFiles(t, s, "golang-app", map[string]string{"main.go": src["main.go"]})
	var second string
	waitFor(t, "the second push to start an execution", func() bool {
		var es []pipelineExecution
		s.mustCLI(s.token, &es, "pipeline", "executions", "golang-app")
		for _, e := range es {
			if e.ID != first {
				second = e.ID
			}
		}
		return second != ""
	})
	e2 := waitExecution(t, s, second, "the second execution to wait for the Approvals stage", func(e *pipelineExecution) bool {
		return ended(e) || e.Stage == "Approvals"
	})
	if e2.Status != "InProgress" {
		t.Fatalf("second execution: %s %s", e2.Status, e2.Reason)
	}

	s.mustCLI(s.token, nil, "approve", "golang-app", "Approvals", "Approve", "--execution", first, "--comment", "ship it")
	e1 = waitExecution(t, s, first, "the first execution to end", ended)
	if e1.Status != "Succeeded" {
		t.Fatalf("first execution: %s %s", e1.Status, e1.Reason)
	}
	var production sampleStack
	s.mustCLI(s.token, &production, "stack", "describe", "golang-app-production")
	// Production deployed the very artifact Staging deployed.
	if production.Status != "CREATE_COMPLETE" || production.output("Revision") != built || production.output("Instances") != "2" {
		t.Fatalf("production stack %+v, built %s", production, built)
	}
	// The second now holds the approval.
	waitExecution(t, s, second, "the second execution to reach the approval", func(e *pipelineExecution) bool {
		a := e.action("Approvals")
		return ended(e) || a != nil && a.Status == "InProgress"
	})

	// A failing test fails the Build stage and deploys nothing.
	s.mustCLI(s.token, nil, "reject", "golang-app", "Approvals", "Approve", "--execution", second)
	s.mustCLI(s.token, &staging, "stack", "describe", "golang-app-staging")
	before := staging.output("Revision")
	pushFiles(t, s, "golang-app", map[string]string{"main_test.go": strings.Replace(src["main_test.go"], "!strings.Contains", "strings.Contains", 1)})
	var third string
	waitFor(t, "the third push to start an execution", func() bool {
		var es []pipelineExecution
		s.mustCLI(s.token, &es, "pipeline", "executions", "golang-app")
		for _, e := range es {
			if e.ID != first && e.ID != second {
				third = e.ID
			}
		}
		return third != ""
	})
	e3 := waitExecution(t, s, third, "the third execution to end", ended)
	if e3.Status != "Failed" || e3.Stage != "Build" {
		t.Fatalf("third execution: %s at %s: %s", e3.Status, e3.Stage, e3.Reason)
	}
	s.mustCLI(s.token, &staging, "stack", "describe", "golang-app-staging")
	if staging.output("Revision") != before {
		t.Fatal("a failed build changed the staging stack")
	}
}
