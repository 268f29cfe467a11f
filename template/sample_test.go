package template

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeEnv returns an Env whose resources all exist: Ref gives
// "phys-<logical>" and GetAtt "<logical>.<attr>-value", except for the
// resources named in pending, which are not created yet. Exports are the
// given map.
func fakeEnv(params Params, exports map[string]string, pending ...string) *Env {
	isPending := func(name string) bool {
		for _, p := range pending {
			if p == name {
				return true
			}
		}
		return false
	}
	return &Env{
		Params: params,
		Pseudo: DefaultPseudo("stack"),
		Ref: func(logical string) (string, bool) {
			return "phys-" + logical, !isPending(logical)
		},
		Attr: func(logical, attr string) (Value, bool) {
			return logical + "." + attr + "-value", !isPending(logical)
		},
		Import: func(name string) (string, error) {
			if v, ok := exports[name]; ok {
				return v, nil
			}
			return "", fmt.Errorf("No export named %s found", name)
		},
	}
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "sample", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, file string, data []byte) *Template {
	t.Helper()
	tpl, err := Parse(file, data)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return tpl
}

func TestBothSampleTemplatesParseWithoutErrors(t *testing.T) {
	for _, name := range []string{"pipeline.yml", "infrastructure.yml"} {
		t.Run(name, func(t *testing.T) {
			tpl := mustParse(t, name, readSample(t, name))
			if len(tpl.ResourceOrder) == 0 || len(tpl.OutputOrder) == 0 {
				t.Errorf("resources %v, outputs %v", tpl.ResourceOrder, tpl.OutputOrder)
			}
			if _, err := tpl.Order(nil); err != nil {
				t.Errorf("Order: %v", err)
			}
		})
	}
}

func TestTheInfrastructureSampleBindsAndEvaluatesWithStagingConfig(t *testing.T) {
	tpl := mustParse(t, "infrastructure.yml", readSample(t, "infrastructure.yml"))
	if tpl.FormatVersion != "" {
		t.Errorf("FormatVersion = %q; the sample has none", tpl.FormatVersion)
	}
	cfg, err := ParseConfig("staging.conf", readSample(t, "staging.conf"))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	overrides := map[string]string{"ApplicationName": "app", "EnvironmentName": "staging", "ArtifactS3Bucket": "artifacts-123"}
	params, err := tpl.Bind(MergeParameters(cfg.Parameters, overrides))
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if params["InstanceCount"] != "2" {
		t.Errorf("InstanceCount = %#v, want the string \"2\" from staging.conf", params["InstanceCount"])
	}
	if params["VpcCIDR"] != "10.110.0.0/16" {
		t.Errorf("VpcCIDR = %#v, want the configuration file's value over the Default", params["VpcCIDR"])
	}

	env := fakeEnv(params, map[string]string{
		"CodeDeployApplication-app":    "app",
		"CodeDeployServiceRoleArn-app": "arn:aws:iam::000000000000:role/app-CodeDeploy",
	})
	conds, err := tpl.EvalConditions(env)
	if err != nil {
		t.Fatalf("EvalConditions: %v", err)
	}
	order, err := tpl.Order(conds)
	if err != nil {
		t.Fatalf("Order: %v", err)
	}
	props := map[string]map[string]any{}
	for _, name := range order {
		p, err := tpl.EvalProperties(env, conds, name)
		if err != nil {
			t.Fatalf("EvalProperties(%s): %v", name, err)
		}
		props[name] = p
	}

	asg := props["AutoScalingGroup"]
	tag := asg["Tags"].([]any)[0].(map[string]any)
	if tag["Value"] != "$!Sub app-staging" {
		t.Errorf("ASG tag = %q, want the literal $!Sub kept", tag["Value"])
	}
	if asg["MinSize"] != "2" || asg["LaunchConfigurationName"] != "phys-LaunchConfiguration" {
		t.Errorf("ASG MinSize %#v, LaunchConfigurationName %#v", asg["MinSize"], asg["LaunchConfigurationName"])
	}
	lc := props["LaunchConfiguration"]
	if lc["ImageId"] != "ami-0local0000000000a" {
		t.Errorf("ImageId = %v, want the AMI of region local", lc["ImageId"])
	}
	script, err := base64.StdEncoding.DecodeString(lc["UserData"].(string))
	if err != nil {
		t.Fatalf("UserData is not base64: %v", err)
	}
	for _, want := range []string{
		"#!/bin/bash\n",
		"curl -sO https://aws-codedeploy-local.s3.amazonaws.com/latest/install\n",
		"cfn-signal -e $? --stack stack --resource AutoScalingGroup --region local\n",
	} {
		if !strings.Contains(string(script), want) {
			t.Errorf("UserData lacks %q:\n%s", want, script)
		}
	}
	if got := props["NatGateway1"]["AllocationId"]; got != "NatGateway1EIP.AllocationId-value" {
		t.Errorf("AllocationId = %v", got)
	}
	if got := props["PublicSubnet1"]["AvailabilityZone"]; got != "locala" {
		t.Errorf("AvailabilityZone = %v, want the first zone of the default region", got)
	}
	if got := props["PrivateSubnet2"]["AvailabilityZone"]; got != "localb" {
		t.Errorf("AvailabilityZone = %v", got)
	}
	dg := props["DeploymentGroup"]
	if dg["ApplicationName"] != "app" || dg["ServiceRoleArn"] != "arn:aws:iam::000000000000:role/app-CodeDeploy" {
		t.Errorf("DeploymentGroup imports: %v, %v", dg["ApplicationName"], dg["ServiceRoleArn"])
	}
	if dg["DeploymentConfigName"] != "CodeDeployDefault.OneAtATime" {
		t.Errorf("DeploymentConfigName = %v", dg["DeploymentConfigName"])
	}
	if got := props["VPC"]["EnableDnsHostnames"]; got != true {
		t.Errorf("EnableDnsHostnames = %#v, want the boolean", got)
	}

	policy, err := tpl.EvalNode(env, conds, tpl.Resources["AutoScalingGroup"].CreationPolicy)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"ResourceSignal": map[string]any{"Count": "2", "Timeout": "PT15M"}}
	if !reflect.DeepEqual(policy, want) {
		t.Errorf("CreationPolicy = %#v", policy)
	}
	update, err := tpl.EvalNode(env, conds, tpl.Resources["AutoScalingGroup"].UpdatePolicy)
	if err != nil {
		t.Fatal(err)
	}
	rolling := update.(map[string]any)["AutoScalingRollingUpdate"].(map[string]any)
	if rolling["PauseTime"] != "PT15M" || rolling["WaitOnResourceSignals"] != true {
		t.Errorf("UpdatePolicy = %#v", update)
	}

	outputs, err := tpl.EvalOutputs(env, conds)
	if err != nil {
		t.Fatal(err)
	}
	if outputs[0].Value != "http://LoadBalancer.DNSName-value" {
		t.Errorf("LoadBalancerURL = %v", outputs[0].Value)
	}
	if outputs[1].ExportName != "app-staging-VPC" || outputs[1].Value != "phys-VPC" {
		t.Errorf("VPC output = %+v", outputs[1])
	}
}

func TestTheSampleDependenciesFollowRefGetAttSubAndDependsOn(t *testing.T) {
	tpl := mustParse(t, "infrastructure.yml", readSample(t, "infrastructure.yml"))
	deps := tpl.Dependencies(nil)
	for name, want := range map[string][]string{
		"NatGateway1EIP":   {"InternetGatewayAttachment"},
		"NatGateway1":      {"PublicSubnet1", "NatGateway1EIP"},
		"AutoScalingGroup": {"PrivateSubnet1", "PrivateSubnet2", "DefaultPrivateRoute1", "DefaultPrivateRoute2", "TargetGroup", "LaunchConfiguration"},
		"DeploymentGroup":  {"AutoScalingGroup"},
		"VPC":              {},
	} {
		if got := deps[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("Dependencies[%s] = %v, want %v", name, got, want)
		}
	}
	order, err := tpl.Order(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{}
	for i, name := range order {
		at[name] = i
	}
	for name, ds := range deps {
		for _, d := range ds {
			if at[d] > at[name] {
				t.Errorf("%s comes before its dependency %s", name, d)
			}
		}
	}
}

func TestThePipelineSampleEvaluatesItsOverridesAndExports(t *testing.T) {
	tpl := mustParse(t, "pipeline.yml", readSample(t, "pipeline.yml"))
	if !reflect.DeepEqual(tpl.Transform, []string(nil)) || tpl.FormatVersion != "2010-09-09" {
		t.Errorf("Transform %v, FormatVersion %q", tpl.Transform, tpl.FormatVersion)
	}
	params, err := tpl.Bind(map[string]string{"ApplicationName": "app"})
	if err != nil {
		t.Fatal(err)
	}
	env := fakeEnv(params, nil)
	conds, err := tpl.EvalConditions(env)
	if err != nil {
		t.Fatal(err)
	}
	if conds["NotifyApprovers"] {
		t.Error("NotifyApprovers holds with Notify No")
	}
	if got := tpl.Active(conds); len(got) != len(tpl.ResourceOrder)-1 {
		t.Errorf("Active = %v; ApprovalTopic should be left out", got)
	}
	props, err := tpl.EvalProperties(env, conds, "Pipeline")
	if err != nil {
		t.Fatal(err)
	}
	stages := props["Stages"].([]any)
	staging := stages[2].(map[string]any)["Actions"].([]any)[0].(map[string]any)["Configuration"].(map[string]any)
	wantOverrides := "{\n  \"ApplicationName\": \"app\",\n  \"EnvironmentName\": \"staging\",\n  \"ArtifactS3Bucket\": \"phys-ArtifactS3Bucket\"\n}\n"
	if staging["ParameterOverrides"] != wantOverrides {
		t.Errorf("ParameterOverrides = %q", staging["ParameterOverrides"])
	}
	approval := stages[3].(map[string]any)["Actions"].([]any)[0].(map[string]any)
	if _, ok := approval["Configuration"]; ok {
		t.Errorf("the approval's Configuration should be removed by AWS::NoValue: %v", approval)
	}
	outputs, err := tpl.EvalOutputs(env, conds)
	if err != nil {
		t.Fatal(err)
	}
	exports := map[string]Value{}
	for _, o := range outputs {
		if o.ExportName != "" {
			exports[o.ExportName] = o.Value
		}
	}
	want := map[string]Value{
		"CodeDeployApplication-app":    "phys-CodeDeployApplication",
		"CodeDeployServiceRoleArn-app": "CodeDeployServiceRole.Arn-value",
	}
	if !reflect.DeepEqual(exports, want) {
		t.Errorf("exports = %v", exports)
	}

	// With notifications on, the topic exists and the approval needs it.
	params, err = tpl.Bind(map[string]string{"ApplicationName": "app", "Notify": "Yes"})
	if err != nil {
		t.Fatal(err)
	}
	conds, err = tpl.EvalConditions(fakeEnv(params, nil))
	if err != nil {
		t.Fatal(err)
	}
	if deps := tpl.Dependencies(conds)["Pipeline"]; !contains(deps, "ApprovalTopic") {
		t.Errorf("Pipeline dependencies %v lack ApprovalTopic", deps)
	}
	if deps := tpl.Dependencies(map[string]bool{"NotifyApprovers": false})["Pipeline"]; contains(deps, "ApprovalTopic") {
		t.Errorf("Pipeline depends on ApprovalTopic through the branch not taken: %v", deps)
	}
}

func TestUnknownValuesPropagateUntilTheResourceExists(t *testing.T) {
	tpl := mustParse(t, "infrastructure.yml", readSample(t, "infrastructure.yml"))
	params, err := tpl.Bind(nil)
	if err != nil {
		t.Fatal(err)
	}
	env := fakeEnv(params, nil, "LoadBalancer", "NatGateway1EIP")
	props, err := tpl.EvalProperties(env, nil, "NatGateway1")
	if err != nil {
		t.Fatal(err)
	}
	if got := props["AllocationId"]; got != (Unknown{Ref: "NatGateway1EIP.AllocationId"}) {
		t.Errorf("AllocationId = %#v", got)
	}
	outputs, err := tpl.EvalOutputs(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := outputs[0].Value; got != (Unknown{Ref: "LoadBalancer.DNSName"}) {
		t.Errorf("LoadBalancerURL = %#v", got)
	}
	// A missing export fails with CloudFormation's message and the place.
	_, err = tpl.EvalProperties(env, nil, "DeploymentGroup")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("want two import errors, got %v", err)
	}
	if errs[0].Msg != "No export named CodeDeployApplication-golang-app found" || errs[0].Pos.Line == 0 {
		t.Errorf("error = %v", errs[0])
	}
}
