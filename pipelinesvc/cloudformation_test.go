package pipelinesvc

import (
	"context"
	"strings"
	"testing"

	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

const cfnDeclaration = `
Name: infra
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: artifacts}
Stages:
  - Name: Source
    Actions:
      - Name: App
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Source}]
        Namespace: SourceVariables
  - Name: Staging
    Actions:
      - Name: Deploy
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
        Configuration:
          ActionMode: CREATE_UPDATE
          StackName: app-staging
          RoleArn: arn:aws:iam::000000000000:role/cfn
          TemplatePath: Source::cloudformation/stack.yml
          TemplateConfiguration: Source::config/staging.conf
          ParameterOverrides: '{"Env": "staging", "Cidr": {"Fn::GetParam": ["Source", "params.json", "cidr"]}, "Commit": "#{SourceVariables.CommitId}"}'
          OutputFileName: outputs.json
        InputArtifacts: [{Name: Source}]
        OutputArtifacts: [{Name: StackOut}]
        Namespace: DeployVariables
`

const cfnTemplate = `Parameters:
  Env: {Type: String, Default: dev}
  Cidr: {Type: String}
  Size: {Type: Number}
  Commit: {Type: String}
Resources:
  Vpc:
    Type: Custom::Network
    Properties:
      CidrBlock: !Ref Cidr
      Tags: [{Key: env, Value: !Ref Env}, {Key: commit, Value: !Ref Commit}]
Outputs:
  VpcId:
    Value: !Ref Vpc
  Env:
    Value: !Sub "${Env}-${Size}"
`

func TestCloudFormationAction_DeploysTheTemplateFromTheArtifactWithConfigAndOverrides(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		stacks := f.stacks
		if _, err := f.repos.Create(ctx, "p1", "p1", "app", ""); err != nil {
			t.Fatal(err)
		}
		commit := f.commit(t, "app", map[string]string{
			"cloudformation/stack.yml": cfnTemplate,
			"config/staging.conf":      `{"Parameters": {"Env": "from-config", "Size": "3"}}`,
			"params.json":              `{"cidr": "10.1.0.0/16"}`,
		})
		p := f.create(t, cfnDeclaration)
		x, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e := f.waitFor(t, x.ID, "ended", ended)
		if e.Status != Succeeded {
			t.Fatalf("%s: %s", e.Status, e.Reason)
		}
		st, err := stacks.Get(ctx, "p1", "app-staging")
		if err != nil || st.Status != stack.CreateComplete {
			t.Fatalf("stack %+v %v", st, err)
		}
		params := map[string]string{}
		for _, p := range st.Parameters {
			params[p.Key] = p.Value
		}
		// The override beats the configuration file; the rest come from it,
		// from Fn::GetParam and from a variable of the source action.
		if params["Env"] != "staging" || params["Size"] != "3" || params["Cidr"] != "10.1.0.0/16" || params["Commit"] != commit {
			t.Fatalf("parameters %v", params)
		}
		if e.Variables["DeployVariables"]["Env"] != "staging-3" || !strings.HasPrefix(e.Variables["DeployVariables"]["VpcId"], "net-") {
			t.Fatalf("variables %+v", e.Variables)
		}
		if e.Artifacts["StackOut"].Digest == "" {
			t.Fatalf("no output file artifact: %+v", e.Artifacts)
		}
	})
}

// A server killed between the stack operation's start and its record: the
// resumed action sees the stack changed since the attempt's "starting"
// record, and waits for that operation instead of starting another (which
// the stack, still in progress, would refuse).
func TestCloudFormationAction_AResumedStartFindsTheOperationItsAttemptStarted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		c := &CloudFormationAction{Stacks: f.stacks}
		var recorded []string
		run := func(externalID string) *ActionRun {
			return &ActionRun{ProjectID: "p1", Configuration: map[string]string{"StackName": "net"}, ExternalID: externalID,
				Record: func(_ context.Context, id string) error { recorded = append(recorded, id); return nil }}
		}
		starts := 0
		deploy := func() error {
			starts++
			_, err := f.stacks.Deploy(ctx, stacksvc.Project{ID: "p1"}, "net", stacksvc.Input{Template: cfnTemplate,
				Parameters: map[string]string{"Cidr": "10.0.0.0/16", "Size": "1", "Commit": "c"}})
			return err
		}
		// The first attempt records, starts, and is killed before it can
		// record that it started.
		if err := c.startOnce(ctx, run(""), deploy); err != nil {
			t.Fatal(err)
		}
		if starts != 1 || len(recorded) != 2 || recorded[0] != "starting:none" || recorded[1] != "stack:net" {
			t.Fatalf("first attempt: %d starts, recorded %v", starts, recorded)
		}
		recorded = nil
		if err := c.startOnce(ctx, run("starting:none"), deploy); err != nil {
			t.Fatal(err)
		}
		if starts != 1 || len(recorded) != 1 || recorded[0] != "stack:net" {
			t.Fatalf("resumed after the start: %d starts, recorded %v", starts, recorded)
		}
		// Killed before its start: the stack is as the record says, so the
		// resumed attempt starts it.
		if _, err := c.settle(ctx, "p1", "net", ""); err != nil {
			t.Fatal(err)
		}
		mark, err := c.stackMark(ctx, "p1", "net")
		if err != nil {
			t.Fatal(err)
		}
		recorded = nil
		_ = c.startOnce(ctx, run("starting:"+mark), deploy)
		if starts != 2 {
			t.Fatalf("resumed before the start: %d starts, recorded %v", starts, recorded)
		}
	})
}
