package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deliveryPipeline is the sample's pipeline in full: each environment's
// stage deploys its infrastructure, then CodeDeploy puts the build on it.
const deliveryPipeline = `Name: golang-app
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
          ParameterOverrides: '{"ApplicationName": "golang-app", "EnvironmentName": "staging"}'
        InputArtifacts: [{Name: Built}]
      - Name: DeployApplication
        RunOrder: 2
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: "1"}
        Configuration: {ApplicationName: golang-app, DeploymentGroupName: staging}
        InputArtifacts: [{Name: Built}]
  - Name: Approvals
    Actions:
      - Name: Approve
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
  - Name: Production
    Actions:
      - Name: DeployInfrastructure
        RunOrder: 1
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
        Configuration:
          ActionMode: CREATE_UPDATE
          Capabilities: CAPABILITY_NAMED_IAM
          RoleArn: arn:aws:iam::000000000000:role/golang-app-cfn
          StackName: golang-app-production
          TemplatePath: Built::cloudformation/infrastructure.yml
          TemplateConfiguration: Built::config/production.conf
          ParameterOverrides: '{"ApplicationName": "golang-app", "EnvironmentName": "production"}'
        InputArtifacts: [{Name: Built}]
      - Name: DeployApplication
        RunOrder: 2
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: "1"}
        Configuration: {ApplicationName: golang-app, DeploymentGroupName: production}
        InputArtifacts: [{Name: Built}]
`

// deliveryInfrastructure is one environment: instances behind a load
// balancer, and the deployment group CodeDeploy deploys to.
const deliveryInfrastructure = `Parameters:
  ApplicationName: {Type: String}
  EnvironmentName: {Type: String, AllowedValues: [staging, production]}
  InstanceCount: {Type: Number, MinValue: 1}
Resources:
  LaunchConfig:
    Type: AWS::AutoScaling::LaunchConfiguration
    Properties:
      ImageId: ami-0123456789abcdef0
      InstanceType: t3.micro
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      LaunchConfigurationName: !Ref LaunchConfig
      MinSize: !Ref InstanceCount
      MaxSize: !Ref InstanceCount
      DesiredCapacity: !Ref InstanceCount
      TargetGroupARNs: [!Ref TargetGroup]
  TargetGroup:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: !Sub ${ApplicationName}-${EnvironmentName}
      Port: 8000
      Protocol: HTTP
      VpcId: vpc-local
      HealthCheckIntervalSeconds: 5
      HealthCheckTimeoutSeconds: 2
      HealthyThresholdCount: 2
      TargetGroupAttributes:
        - {Key: deregistration_delay.timeout_seconds, Value: "1"}
  LoadBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: !Sub ${ApplicationName}-${EnvironmentName}
      Subnets: [subnet-1, subnet-2]
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - {Type: forward, TargetGroupArn: !Ref TargetGroup}
  DeploymentGroup:
    Type: AWS::CodeDeploy::DeploymentGroup
    Properties:
      ApplicationName: !Ref ApplicationName
      DeploymentGroupName: !Ref EnvironmentName
      ServiceRoleArn: arn:aws:iam::000000000000:role/codedeploy
      DeploymentConfigName: CodeDeployDefault.OneAtATime
      AutoScalingGroups: [!Ref Group]
      DeploymentStyle: {DeploymentType: IN_PLACE, DeploymentOption: WITH_TRAFFIC_CONTROL}
      LoadBalancerInfo:
        TargetGroupInfoList:
          - Name: !GetAtt TargetGroup.TargetGroupName
      AutoRollbackConfiguration: {Enabled: true, Events: [DEPLOYMENT_FAILURE]}
Outputs:
  URL:
    Value: !Sub http://${LoadBalancer.DNSName}
`

func TestDeployPipeline_APushShipsTheGoServiceToStagingThenAfterApprovalToProduction(t *testing.T) {
	needTools(t, "curl", "busybox")
	s := startServer(t)
	src := map[string]string{
		"cloudformation/infrastructure.yml": deliveryInfrastructure,
		"config/staging.conf":               `{"Parameters": {"InstanceCount": "2"}}`,
		"config/production.conf":            `{"Parameters": {"InstanceCount": "2"}}`,
		"appspec.yml":                       deployAppspec,
	}
	for k, v := range deployScripts {
		src[k] = v
	}
	goserviceFiles(t, src, "go.mod", "main.go", "main_test.go", "buildspec.yml")
	s.mustCLI(s.token, nil, "repo", "create", "golang-app")
	s.mustCLI(s.token, nil, "build", "project", "create", "golang-app-build", "--env", "GOCACHE="+goCache(t), "--env", "CGO_ENABLED=0")
	s.mustCLI(s.token, nil, "deploy", "app", "create", "golang-app")
	file := filepath.Join(t.TempDir(), "pipeline.yml")
	if err := os.WriteFile(file, []byte(deliveryPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustCLI(s.token, nil, "pipeline", "create", "--file", file)

	pushFiles(t, s, "golang-app", src)
	first := firstExecution(t, s, "golang-app")
	atApproval := func(e *pipelineExecution) bool {
		a := e.action("Approvals")
		return ended(e) || a != nil && a.Status == "InProgress"
	}
	e1 := waitExecution(t, s, first, "the first execution to wait for approval", atApproval)
	if e1.Status != "InProgress" {
		t.Fatalf("first execution: %s %s\n%s", e1.Status, e1.Reason, s.log)
	}
	staging := stackURL(t, s, "golang-app-staging")
	if got := answers(t, 10, staging); got["Hello from goservice 1.0.0"] != 10 {
		t.Fatalf("staging answers %v", got)
	}
	var deps []deploymentView
	s.mustCLI(s.token, &deps, "deploy", "list", "--app", "golang-app", "--group", "staging")
	if len(deps) != 1 || deps[0].Status != "Succeeded" || deps[0].Overview["Succeeded"] != 2 {
		t.Fatalf("staging deployments %+v", deps)
	}
	if e1.Artifacts["Built"].Digest != deps[0].Revision.Digest {
		t.Errorf("staging runs %s, the build made %s", deps[0].Revision.Digest, e1.Artifacts["Built"].Digest)
	}
	if _, _, err := s.cli(s.token, "stack", "describe", "golang-app-production"); err == nil {
		t.Error("production exists before the approval")
	}

	s.mustCLI(s.token, nil, "approve", "golang-app", "Approvals", "Approve", "--execution", first, "--comment", "ship it")
	e1 = waitExecution(t, s, first, "the first execution to end", ended)
	if e1.Status != "Succeeded" {
		t.Fatalf("first execution: %s %s\n%s", e1.Status, e1.Reason, s.log)
	}
	production := stackURL(t, s, "golang-app-production")
	if got := answers(t, 10, production); got["Hello from goservice 1.0.0"] != 10 {
		t.Fatalf("production answers %v", got)
	}

	// A new version reaches staging through the same pipeline; the
	// infrastructure has no change, the code does.
	pushFiles(t, s, "golang-app", map[string]string{"main.go": strings.Replace(src["main.go"], `"1.0.0"`, `"2.0.0"`, 1)})
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
	e2 := waitExecution(t, s, second, "the second execution to wait for approval", atApproval)
	if e2.Status != "InProgress" {
		t.Fatalf("second execution: %s %s", e2.Status, e2.Reason)
	}
	if got := answers(t, 10, staging); got["Hello from goservice 2.0.0"] != 10 {
		t.Errorf("staging after the second push answers %v", got)
	}
	if got := answers(t, 4, production); got["Hello from goservice 1.0.0"] != 4 {
		t.Errorf("production before the second approval answers %v", got)
	}
}
