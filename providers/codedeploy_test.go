package providers

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// codeDeployFixture is a fixture whose registry also has the deployment
// service and the fleet (which is never run: its groups are records whose
// names a deployment group may give).
type codeDeployFixture struct {
	*fixture
	deploys *deploy.Service
	fleet   *fleet.Service
}

func newCodeDeployFixture(t *testing.T, db *store.DB) *codeDeployFixture {
	t.Helper()
	f := &codeDeployFixture{fixture: newFixture(t, db)}
	arts, err := artifact.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.deploys = deploy.New(deploy.Config{DB: db, Artifacts: arts, Log: log})
	f.fleet = fleet.New(fleet.Config{DB: db, Runtime: &fleet.Runtime{}, Log: log})
	f.reg = stack.NewRegistry()
	Register(f.reg, Deps{LoadBalancers: f.lbs, Fleet: f.fleet, Deploys: f.deploys})
	return f
}

// autoScalingGroup records an empty instance group called name.
func (f *codeDeployFixture) autoScalingGroup(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.fleet.CreateLaunchConfiguration(ctx, fleet.LaunchConfiguration{ProjectID: f.projectID, Name: name + "-lc", ImageID: "ami-1", InstanceType: "t2.micro"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.fleet.CreateGroup(ctx, fleet.Group{ProjectID: f.projectID, Name: name, LaunchConfiguration: name + "-lc"}); err != nil {
		t.Fatal(err)
	}
}

// create creates a resource that must be made.
func (f *codeDeployFixture) create(t *testing.T, typ, logical, token string, props map[string]any) *stack.Outcome {
	t.Helper()
	out, err := f.provider(t, typ).Create(context.Background(), f.request(typ, logical, token, props))
	if err != nil {
		t.Fatalf("create %s: %v", logical, err)
	}
	return out
}

// wantError checks that err is the one CloudFormation would give, or
// contains want when want does not start as CloudFormation's do.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("no error, want %q", want)
	case strings.HasPrefix(want, "Properties validation failed") && err.Error() != want:
		t.Errorf("error %q\n want %q", err, want)
	case !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestCodeDeploy_UpdateBehavioursFollowCloudFormation(t *testing.T) {
	reg := schemaOnly()
	for typ, props := range map[string]map[string]stack.Property{
		codeDeployApplicationType: {"ApplicationName": replace, "ComputePlatform": replace, "Tags": inPlace},
		deploymentConfigType: {"DeploymentConfigName": replace, "ComputePlatform": replace, "MinimumHealthyHosts": replace,
			"TrafficRoutingConfig": replace, "ZonalConfig": replace},
		deploymentGroupType: {"ApplicationName": requiredReplace, "ServiceRoleArn": requiredInPlace, "DeploymentGroupName": replace,
			"DeploymentConfigName": inPlace, "AutoScalingGroups": inPlace, "OnPremisesInstanceTagFilters": inPlace, "LoadBalancerInfo": inPlace,
			"AutoRollbackConfiguration": inPlace, "DeploymentStyle": inPlace, "OutdatedInstancesStrategy": inPlace},
	} {
		p, ok := reg.Provider(typ)
		if !ok {
			t.Fatalf("%s is not registered", typ)
		}
		s := p.Schema()
		if s.Modelled {
			t.Errorf("%s is marked modelled", typ)
		}
		for prop, want := range props {
			if got, ok := s.Properties[prop]; !ok || got != want {
				t.Errorf("%s.%s: %+v (present %v), want %+v", typ, prop, got, ok, want)
			}
		}
	}
}

func TestCodeDeploy_ApplicationIsAnApplicationOfTheDeploymentService(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newCodeDeployFixture(t, db)
		p := f.provider(t, codeDeployApplicationType)
		props := map[string]any{"ApplicationName": "golang-app", "ComputePlatform": "Server", "Tags": []any{map[string]any{"Key": "team", "Value": "web"}}}

		out := f.create(t, codeDeployApplicationType, "App", "tok-app", props)
		if want := (&stack.Outcome{PhysicalID: "golang-app", Attrs: map[string]any{"ApplicationName": "golang-app"}}); !reflect.DeepEqual(out, want) {
			t.Errorf("outcome %+v, want %+v", out, want)
		}
		a, err := f.deploys.Application(ctx, f.projectID, "golang-app")
		if err != nil || a.ManagedBy != "tok-app" {
			t.Fatalf("application %+v %v", a, err)
		}
		if again := f.create(t, codeDeployApplicationType, "App", "tok-app", props); !reflect.DeepEqual(again, out) {
			t.Errorf("resumed create gave %+v, first gave %+v", again, out)
		}
		_, err = p.Create(ctx, f.request(codeDeployApplicationType, "Other", "tok-other", props))
		wantError(t, err, "application names are unique in a project; choose another ApplicationName")

		gen := f.create(t, codeDeployApplicationType, "App", "tok-gen", map[string]any{})
		if !regexp.MustCompile(`^app-staging-App-[0-9A-Z]{12}$`).MatchString(gen.PhysicalID) {
			t.Errorf("generated name %q", gen.PhysicalID)
		}

		for platform, want := range map[string]string{
			"Lambda": "Properties validation failed for resource App with message: #/ComputePlatform: Lambda is not supported: Slipway deploys to instances and on-premises hosts only; use Server or leave ComputePlatform out",
			"ECS":    "Properties validation failed for resource App with message: #/ComputePlatform: ECS is not supported: Slipway deploys to instances and on-premises hosts only; use Server or leave ComputePlatform out",
			"Metal":  "Properties validation failed for resource App with message: #/ComputePlatform: Metal is not a valid enum value (Server, Lambda or ECS; only Server is supported)",
		} {
			_, err := p.Create(ctx, f.request(codeDeployApplicationType, "App", "tok-"+platform, map[string]any{"ComputePlatform": platform}))
			wantError(t, err, want)
		}

		upd := f.request(codeDeployApplicationType, "App", "tok-app", map[string]any{"ApplicationName": "golang-app", "Tags": []any{}})
		upd.PhysicalID, upd.Previous = "golang-app", props
		if uout, err := p.Update(ctx, upd); err != nil || !reflect.DeepEqual(uout, out) {
			t.Errorf("update gave %+v %v", uout, err)
		}

		// A create cut short before it returned is deleted by its token
		// only: another stack's application of the name stays.
		cut := f.request(codeDeployApplicationType, "App", "tok-other", props)
		if err := p.Delete(ctx, cut); err != nil {
			t.Fatal(err)
		}
		if _, err := f.deploys.Application(ctx, f.projectID, "golang-app"); err != nil {
			t.Fatalf("another token's delete removed the application: %v", err)
		}
		cut.Token = "tok-app"
		if err := p.Delete(ctx, cut); err != nil {
			t.Fatal(err)
		}
		if _, err := f.deploys.Application(ctx, f.projectID, "golang-app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := p.Delete(ctx, upd); err != nil {
			t.Errorf("deleting a deleted application: %v", err)
		}
		_, err = p.Update(ctx, upd)
		wantError(t, err, "CodeDeploy application golang-app no longer exists")
	})
}

func TestCodeDeploy_DeploymentConfigIsACustomRuleThatEveryChangeReplaces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newCodeDeployFixture(t, db)
		p := f.provider(t, deploymentConfigType)
		props := map[string]any{"DeploymentConfigName": "ThreeQuarters", "ComputePlatform": "Server",
			"MinimumHealthyHosts": map[string]any{"Type": "FLEET_PERCENT", "Value": json.Number("75")}}

		out := f.create(t, deploymentConfigType, "Config", "tok-cfg", props)
		if out.PhysicalID != "ThreeQuarters" || len(out.Attrs) != 0 {
			t.Errorf("outcome %+v", out)
		}
		c, err := f.deploys.Config(ctx, f.projectID, "ThreeQuarters")
		if err != nil || c.MinimumHealthyHosts != (deploy.MinimumHealthyHosts{Type: deploy.FleetPercent, Value: 75}) || c.ManagedBy != "tok-cfg" {
			t.Fatalf("configuration %+v %v", c, err)
		}
		if again := f.create(t, deploymentConfigType, "Config", "tok-cfg", props); !reflect.DeepEqual(again, out) {
			t.Errorf("resumed create gave %+v, first gave %+v", again, out)
		}
		// CloudFormation takes a number given as a string.
		gen := f.create(t, deploymentConfigType, "Config", "tok-gen", map[string]any{"MinimumHealthyHosts": map[string]any{"Type": "HOST_COUNT", "Value": "2"}})
		if !regexp.MustCompile(`^app-staging-Config-[0-9A-Z]{12}$`).MatchString(gen.PhysicalID) {
			t.Errorf("generated name %q", gen.PhysicalID)
		}
		for _, prop := range p.Schema().Properties {
			if prop.Update != stack.Replace {
				t.Errorf("a deployment configuration property updates in place: %+v", p.Schema().Properties)
			}
		}

		const prefix = "Properties validation failed for resource Config with message: "
		for _, tc := range []struct {
			props map[string]any
			want  string
		}{
			{map[string]any{}, prefix + "#: required key [MinimumHealthyHosts] not found (a Server deployment configuration is its MinimumHealthyHosts)"},
			{map[string]any{"MinimumHealthyHosts": map[string]any{"Type": "MOST_CONCURRENCY", "Value": "1"}},
				prefix + "#/MinimumHealthyHosts/Type: MOST_CONCURRENCY is not a valid enum value (one of [HOST_COUNT FLEET_PERCENT])"},
			{map[string]any{"MinimumHealthyHosts": map[string]any{"Type": "HOST_COUNT"}}, prefix + "#/MinimumHealthyHosts: required key [Value] not found"},
			{map[string]any{"MinimumHealthyHosts": map[string]any{"Type": "FLEET_PERCENT", "Value": "100"}},
				prefix + "#/MinimumHealthyHosts/Value: MinimumHealthyHosts FLEET_PERCENT must be from 0 to 99, not 100"},
			{map[string]any{"ComputePlatform": "Lambda", "TrafficRoutingConfig": map[string]any{"Type": "AllAtOnce"}},
				prefix + "#/ComputePlatform: Lambda is not supported: Slipway deploys to instances and on-premises hosts only; use Server or leave ComputePlatform out"},
			{map[string]any{"TrafficRoutingConfig": map[string]any{"Type": "AllAtOnce"}},
				prefix + "#/TrafficRoutingConfig: not supported: traffic shifting is for Lambda and ECS deployments; a Server configuration has MinimumHealthyHosts"},
			{map[string]any{"MinimumHealthyHosts": map[string]any{"Type": "HOST_COUNT", "Value": "1"}, "ZonalConfig": map[string]any{}},
				prefix + "#/ZonalConfig: not supported: instances here are in no Availability Zone; deployments proceed by MinimumHealthyHosts alone"},
			{map[string]any{"DeploymentConfigName": deploy.AllAtOnce, "MinimumHealthyHosts": map[string]any{"Type": "HOST_COUNT", "Value": "0"}},
				"is predefined"},
		} {
			_, err := p.Create(ctx, f.request(deploymentConfigType, "Config", "tok-bad", tc.props))
			wantError(t, err, tc.want)
		}

		// A configuration in use by a group stays until the group goes.
		f.create(t, codeDeployApplicationType, "App", "tok-app", map[string]any{"ApplicationName": "web"})
		group := f.create(t, deploymentGroupType, "Group", "tok-dg", map[string]any{"ApplicationName": "web", "ServiceRoleArn": "arn:aws:iam::000000000000:role/cd",
			"DeploymentConfigName": "ThreeQuarters"})
		del := f.request(deploymentConfigType, "Config", "tok-cfg", props)
		del.PhysicalID = "ThreeQuarters"
		wantError(t, p.Delete(ctx, del), "used by 1 deployment groups")
		gdel := f.request(deploymentGroupType, "Group", "tok-dg", map[string]any{"ApplicationName": "web"})
		gdel.PhysicalID = group.PhysicalID
		if err := f.provider(t, deploymentGroupType).Delete(ctx, gdel); err != nil {
			t.Fatal(err)
		}
		if err := p.Delete(ctx, del); err != nil {
			t.Fatal(err)
		}
		if err := p.Delete(ctx, del); err != nil {
			t.Errorf("deleting a deleted configuration: %v", err)
		}
		// A create cut short is deleted by its token.
		cut := f.request(deploymentConfigType, "Config", "tok-gen", map[string]any{"MinimumHealthyHosts": map[string]any{"Type": "HOST_COUNT", "Value": "2"}})
		if err := p.Delete(ctx, cut); err != nil {
			t.Fatal(err)
		}
		all, _ := f.deploys.Configs(ctx, f.projectID)
		if slices.ContainsFunc(all, func(c deploy.DeploymentConfig) bool { return c.Name == gen.PhysicalID }) {
			t.Errorf("the cut-short create's configuration %s is left", gen.PhysicalID)
		}
	})
}

// revisionZip is the smallest revision a deployment can name.
func revisionZip(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create("appspec.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("version: 0.0\nos: linux\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCodeDeploy_DeploymentGroupSelectsInstancesAndTargetGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newCodeDeployFixture(t, db)
		p := f.provider(t, deploymentGroupType)
		f.create(t, codeDeployApplicationType, "App", "tok-app", map[string]any{"ApplicationName": "golang-app"})
		f.create(t, deploymentConfigType, "Config", "tok-cfg", map[string]any{"DeploymentConfigName": "TwoUp",
			"MinimumHealthyHosts": map[string]any{"Type": "HOST_COUNT", "Value": json.Number("2")}})
		f.autoScalingGroup(t, "web")
		f.autoScalingGroup(t, "web-2")
		tg := f.create(t, targetGroupType, "TargetGroup", "tok-tg", map[string]any{"Name": "golang-app-staging", "Port": json.Number("8000"), "Protocol": "HTTP"})

		props := map[string]any{
			"ApplicationName":              "golang-app",
			"DeploymentGroupName":          "staging",
			"ServiceRoleArn":               "arn:aws:iam::000000000000:role/golang-app-CodeDeploy",
			"DeploymentConfigName":         "TwoUp",
			"AutoScalingGroups":            []any{"web"},
			"OnPremisesInstanceTagFilters": []any{map[string]any{"Key": "env", "Value": "staging"}, map[string]any{"Key": "canary", "Type": "KEY_ONLY"}},
			"LoadBalancerInfo":             map[string]any{"TargetGroupInfoList": []any{map[string]any{"Name": "golang-app-staging"}}},
			"AutoRollbackConfiguration":    map[string]any{"Enabled": true, "Events": []any{"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"}},
			"DeploymentStyle":              map[string]any{"DeploymentType": "IN_PLACE", "DeploymentOption": "WITH_TRAFFIC_CONTROL"},
			"OutdatedInstancesStrategy":    "UPDATE",
			"AlarmConfiguration":           map[string]any{"Enabled": false, "Alarms": []any{}},
			"TriggerConfigurations":        []any{map[string]any{"TriggerName": "t", "TriggerTargetArn": "arn:aws:sns:local:000000000000:t", "TriggerEvents": []any{"DeploymentFailure"}}},
			"TerminationHookEnabled":       false,
			"Tags":                         []any{map[string]any{"Key": "env", "Value": "staging"}},
		}
		out := f.create(t, deploymentGroupType, "DeploymentGroup", "tok-dg", props)
		if out.PhysicalID != "staging" || len(out.Attrs) != 0 {
			t.Errorf("outcome %+v", out)
		}
		g, err := f.deploys.Group(ctx, f.projectID, "golang-app", "staging")
		if err != nil {
			t.Fatal(err)
		}
		want := deploy.GroupSpec{
			Config:            "TwoUp",
			AutoScalingGroups: []string{"web"},
			TagFilters: []deploy.TagFilter{{Key: "env", Value: "staging", Type: "KEY_AND_VALUE"},
				{Key: "canary", Type: "KEY_ONLY"}},
			TargetGroups:              []string{tg.PhysicalID},
			AutoRollback:              deploy.AutoRollback{Enabled: true, Events: []string{deploy.RollbackOnFailure, deploy.RollbackOnStop}},
			DeploymentType:            "IN_PLACE",
			DeploymentOption:          "WITH_TRAFFIC_CONTROL",
			OutdatedInstancesStrategy: "UPDATE",
			ServiceRole:               "arn:aws:iam::000000000000:role/golang-app-CodeDeploy",
		}
		if !reflect.DeepEqual(g.GroupSpec, want) || g.ManagedBy != "tok-dg" {
			t.Errorf("group %+v (managed by %q),\nwant %+v", g.GroupSpec, g.ManagedBy, want)
		}
		if again := f.create(t, deploymentGroupType, "DeploymentGroup", "tok-dg", props); !reflect.DeepEqual(again, out) {
			t.Errorf("resumed create gave %+v, first gave %+v", again, out)
		}
		_, err = p.Create(ctx, f.request(deploymentGroupType, "Other", "tok-other", props))
		wantError(t, err, "application golang-app already has a deployment group of that name; choose another DeploymentGroupName")

		// In place: the configuration falls back to OneAtATime, and without
		// a DeploymentStyle the target groups are ignored, as
		// CloudFormation ignores LoadBalancerInfo without
		// WITH_TRAFFIC_CONTROL.
		next := map[string]any{
			"ApplicationName":     "golang-app",
			"DeploymentGroupName": "staging",
			"ServiceRoleArn":      "arn:aws:iam::000000000000:role/other",
			"AutoScalingGroups":   []any{"web", "web-2"},
			"LoadBalancerInfo":    map[string]any{"TargetGroupInfoList": []any{map[string]any{"Name": "golang-app-staging"}}},
			"OnPremisesTagSet": map[string]any{"OnPremisesTagSetList": []any{map[string]any{
				"OnPremisesTagGroup": []any{map[string]any{"Key": "role", "Value": "web", "Type": "KEY_AND_VALUE"}}}}},
		}
		upd := f.request(deploymentGroupType, "DeploymentGroup", "tok-dg", next)
		upd.PhysicalID, upd.Previous = out.PhysicalID, props
		uout, err := p.Update(ctx, upd)
		if err != nil || uout.PhysicalID != "staging" {
			t.Fatalf("update: %+v %v", uout, err)
		}
		g, _ = f.deploys.Group(ctx, f.projectID, "golang-app", "staging")
		want = deploy.GroupSpec{Config: deploy.OneAtATime, AutoScalingGroups: []string{"web", "web-2"},
			TagFilters:     []deploy.TagFilter{{Key: "role", Value: "web", Type: "KEY_AND_VALUE"}},
			TargetGroups:   []string{tg.PhysicalID},
			DeploymentType: "IN_PLACE", DeploymentOption: "WITHOUT_TRAFFIC_CONTROL", ServiceRole: "arn:aws:iam::000000000000:role/other"}
		if !reflect.DeepEqual(g.GroupSpec, want) {
			t.Errorf("updated group %+v,\nwant %+v", g.GroupSpec, want)
		}

		// A group with a deployment under way is not deleted; the
		// service says why and what to do.
		if _, err := f.deploys.RegisterRevision(ctx, f.projectID, "golang-app", bytes.NewReader(revisionZip(t)), ""); err != nil {
			t.Fatal(err)
		}
		revs, err := f.deploys.Revisions(ctx, f.projectID, "golang-app")
		if err != nil || len(revs) != 1 {
			t.Fatalf("revisions %v %v", revs, err)
		}
		d, err := f.deploys.Create(ctx, f.projectID, deploy.CreateInput{Application: "golang-app", Group: "staging", Digest: revs[0].Digest})
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, p.Delete(ctx, upd), "deployment group staging has a deployment in progress; stop it first")
		if _, err := f.deploys.Group(ctx, f.projectID, "golang-app", "staging"); err != nil {
			t.Fatalf("the group went with its deployment %s under way: %v", d.ID, err)
		}

		// A group deleted outside the stack: an update says so, a delete
		// is done.
		gen := f.create(t, deploymentGroupType, "Canary", "tok-gen", map[string]any{"ApplicationName": "golang-app", "ServiceRoleArn": "r"})
		if !regexp.MustCompile(`^app-staging-Canary-[0-9A-Z]{12}$`).MatchString(gen.PhysicalID) {
			t.Errorf("generated name %q", gen.PhysicalID)
		}
		if err := f.deploys.DeleteGroup(ctx, f.projectID, "golang-app", gen.PhysicalID); err != nil {
			t.Fatal(err)
		}
		gone := f.request(deploymentGroupType, "Canary", "tok-gen", map[string]any{"ApplicationName": "golang-app", "ServiceRoleArn": "r2"})
		gone.PhysicalID = gen.PhysicalID
		_, err = p.Update(ctx, gone)
		wantError(t, err, "deployment group "+gen.PhysicalID+" no longer exists")
		if err := p.Delete(ctx, gone); err != nil {
			t.Errorf("deleting a deleted group: %v", err)
		}

		// A create cut short is deleted by its token.
		f.create(t, deploymentGroupType, "Cut", "tok-cut", map[string]any{"ApplicationName": "golang-app", "DeploymentGroupName": "cut", "ServiceRoleArn": "r"})
		cut := f.request(deploymentGroupType, "Cut", "tok-other", map[string]any{"ApplicationName": "golang-app", "DeploymentGroupName": "cut", "ServiceRoleArn": "r"})
		if err := p.Delete(ctx, cut); err != nil {
			t.Fatal(err)
		}
		if _, err := f.deploys.Group(ctx, f.projectID, "golang-app", "cut"); err != nil {
			t.Fatalf("another token's delete removed the group: %v", err)
		}
		cut.Token = "tok-cut"
		if err := p.Delete(ctx, cut); err != nil {
			t.Fatal(err)
		}
		if _, err := f.deploys.Group(ctx, f.projectID, "golang-app", "cut"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
	})
}

func TestCodeDeploy_DeploymentGroupRefusesWhatItCannotDoAndNamesWhatIsMissing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newCodeDeployFixture(t, db)
		p := f.provider(t, deploymentGroupType)
		f.create(t, codeDeployApplicationType, "App", "tok-app", map[string]any{"ApplicationName": "golang-app"})
		base := map[string]any{"ApplicationName": "golang-app", "DeploymentGroupName": "staging", "ServiceRoleArn": "arn:aws:iam::000000000000:role/cd"}
		with := func(extra map[string]any) map[string]any {
			m := maps.Clone(base)
			maps.Copy(m, extra)
			return m
		}
		const prefix = "Properties validation failed for resource DG with message: #/"
		for _, tc := range []struct {
			extra map[string]any
			want  string
		}{
			{map[string]any{"Ec2TagFilters": []any{map[string]any{"Key": "Name", "Value": "web", "Type": "KEY_AND_VALUE"}}},
				prefix + "Ec2TagFilters: not supported: local instances have no EC2 tags; use AutoScalingGroups"},
			{map[string]any{"Ec2TagSet": map[string]any{"Ec2TagSetList": []any{}}},
				prefix + "Ec2TagSet: not supported: local instances have no EC2 tags; use AutoScalingGroups"},
			{map[string]any{"Deployment": map[string]any{"Revision": map[string]any{"RevisionType": "S3"}}},
				prefix + "Deployment: not supported: create deployments with a pipeline's CodeDeploy action or slipway deploy create"},
			{map[string]any{"ECSServices": []any{map[string]any{"ClusterName": "c", "ServiceName": "s"}}},
				prefix + "ECSServices: not supported: there are no ECS services here; Slipway deploys to instances and on-premises hosts"},
			{map[string]any{"DeploymentStyle": map[string]any{"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}},
				prefix + "DeploymentStyle/DeploymentType: BLUE_GREEN is not supported: deployments here are IN_PLACE (a blue/green fleet would need copies of the Auto Scaling group)"},
			{map[string]any{"DeploymentStyle": map[string]any{"DeploymentOption": "SOMETIMES"}},
				prefix + "DeploymentStyle/DeploymentOption: SOMETIMES is not a valid enum value (one of [WITH_TRAFFIC_CONTROL WITHOUT_TRAFFIC_CONTROL])"},
			{map[string]any{"LoadBalancerInfo": map[string]any{"ElbInfoList": []any{map[string]any{"Name": "classic"}}}},
				prefix + "LoadBalancerInfo/ElbInfoList: not supported: there are no Classic Load Balancers; use TargetGroupInfoList with the Name of an AWS::ElasticLoadBalancingV2::TargetGroup"},
			{map[string]any{"LoadBalancerInfo": map[string]any{"TargetGroupPairInfoList": []any{}}},
				prefix + "LoadBalancerInfo/TargetGroupPairInfoList: not supported: target group pairs are for ECS blue/green deployments; use TargetGroupInfoList"},
			{map[string]any{"LoadBalancerInfo": map[string]any{"TargetGroupInfoList": []any{map[string]any{}}}},
				prefix + "LoadBalancerInfo/TargetGroupInfoList/0: required key [Name] not found"},
			{map[string]any{"TerminationHookEnabled": "true"},
				prefix + "TerminationHookEnabled: not supported: no lifecycle event runs when an Auto Scaling group terminates an instance; leave it out or set it to false"},
			{map[string]any{"AlarmConfiguration": map[string]any{"Enabled": true, "Alarms": []any{map[string]any{"Name": "errors"}}}},
				prefix + "AlarmConfiguration/Enabled: not supported: there are no CloudWatch alarms to stop a deployment; leave AlarmConfiguration out or set Enabled to false"},
			{map[string]any{"OnPremisesTagSet": map[string]any{"OnPremisesTagSetList": []any{
				map[string]any{"OnPremisesTagGroup": []any{map[string]any{"Key": "a"}}},
				map[string]any{"OnPremisesTagGroup": []any{map[string]any{"Key": "b"}}}}}},
				prefix + "OnPremisesTagSet/OnPremisesTagSetList: not supported: 2 tag groups would select only hosts that match every group; give one group (or OnPremisesInstanceTagFilters)"},
			{map[string]any{"OnPremisesInstanceTagFilters": []any{map[string]any{"Key": "a"}},
				"OnPremisesTagSet": map[string]any{"OnPremisesTagSetList": []any{map[string]any{"OnPremisesTagGroup": []any{map[string]any{"Key": "b"}}}}}},
				prefix + "OnPremisesTagSet: give either OnPremisesInstanceTagFilters or OnPremisesTagSet, not both"},
			{map[string]any{"OnPremisesInstanceTagFilters": []any{map[string]any{"Key": "a", "Type": "KEY"}}},
				prefix + "OnPremisesInstanceTagFilters/0/Type: KEY is not a valid enum value (one of [KEY_ONLY VALUE_ONLY KEY_AND_VALUE])"},
			{map[string]any{"AutoRollbackConfiguration": map[string]any{"Enabled": true}},
				prefix + "AutoRollbackConfiguration/Events: Enabled needs Events: name DEPLOYMENT_FAILURE and/or DEPLOYMENT_STOP_ON_REQUEST"},
			{map[string]any{"AutoRollbackConfiguration": map[string]any{"Enabled": true, "Events": []any{"DEPLOYMENT_FAILURE", "ON_MONDAYS"}}},
				prefix + "AutoRollbackConfiguration/Events/1: ON_MONDAYS is not a valid enum value (one of [DEPLOYMENT_FAILURE DEPLOYMENT_STOP_ON_REQUEST DEPLOYMENT_STOP_ON_ALARM])"},
			{map[string]any{"OutdatedInstancesStrategy": "SOMETIMES"},
				prefix + "OutdatedInstancesStrategy: SOMETIMES is not a valid enum value (one of [UPDATE IGNORE])"},
			{map[string]any{"AutoScalingGroups": "web"},
				prefix + "AutoScalingGroups: expected type: JSONArray, found: String"},

			{map[string]any{"ApplicationName": "nobody"},
				"DG: ApplicationName nobody: no CodeDeploy application of that name in this project; create it first (an AWS::CodeDeploy::Application in this stack, or in the stack whose export you import)"},
			{map[string]any{"DeploymentConfigName": "Mostly"},
				"DG: DeploymentConfigName Mostly: no deployment configuration of that name in this project; use CodeDeployDefault.OneAtATime, CodeDeployDefault.HalfAtATime, CodeDeployDefault.AllAtOnce or the name of an AWS::CodeDeploy::DeploymentConfig"},
			{map[string]any{"AutoScalingGroups": []any{"web"}},
				"DG: AutoScalingGroups: no Auto Scaling group named web in this project; create it first (!Ref the AWS::AutoScaling::AutoScalingGroup, so that the stack makes it before the deployment group)"},
			{map[string]any{"LoadBalancerInfo": map[string]any{"TargetGroupInfoList": []any{map[string]any{"Name": "missing-tg"}}}},
				"DG: LoadBalancerInfo TargetGroupInfoList: no target group named missing-tg in this project; give the Name of an AWS::ElasticLoadBalancingV2::TargetGroup (!GetAtt TargetGroup.TargetGroupName)"},
		} {
			_, err := p.Create(ctx, f.request(deploymentGroupType, "DG", "tok-dg", with(tc.extra)))
			wantError(t, err, tc.want)
		}
		if gs, err := f.deploys.Groups(ctx, f.projectID, "golang-app"); err != nil || len(gs) != 0 {
			t.Errorf("refused creates made groups: %+v %v", gs, err)
		}
		// A refused create made nothing for its delete to find.
		if err := p.Delete(ctx, f.request(deploymentGroupType, "DG", "tok-dg", with(map[string]any{"ApplicationName": "nobody"}))); err != nil {
			t.Errorf("delete after a refused create: %v", err)
		}
	})
}
