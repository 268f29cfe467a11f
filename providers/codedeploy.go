package providers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

// The CodeDeploy resource types, served by the deployment service. Each
// physical ID is the resource's name, which is what Ref gives on AWS.
// Only the Server compute platform exists here: revisions are installed on
// instances of Auto Scaling groups and on on-premises hosts by their
// agents, in place.
const (
	codeDeployApplicationType = "AWS::CodeDeploy::Application"
	deploymentConfigType      = "AWS::CodeDeploy::DeploymentConfig"
	deploymentGroupType       = "AWS::CodeDeploy::DeploymentGroup"
)

// maxCodeDeployName is the longest name CodeDeploy takes for an
// application, a deployment configuration or a deployment group.
const maxCodeDeployName = 100

// checkServerPlatform refuses a ComputePlatform other than Server (the
// default): Lambda and ECS deployments shift traffic between versions of
// functions and tasks, which do not exist here.
func checkServerPlatform(in *props, m map[string]any) {
	switch p := in.str(m, "", "ComputePlatform"); p {
	case "", "Server":
	case "Lambda", "ECS":
		in.fail("ComputePlatform", "%s is not supported: Slipway deploys to instances and on-premises hosts only; use Server or leave ComputePlatform out", p)
	default:
		in.fail("ComputePlatform", "%s is not a valid enum value (Server, Lambda or ECS; only Server is supported)", p)
	}
}

// refuse records, when m has key, that Slipway does not do what it asks,
// and why; the property stays in the schema so that a template AWS accepts
// fails on this message rather than on "unsupported property".
func refuse(in *props, m map[string]any, path, key, why string) {
	if _, ok := m[key]; ok {
		in.fail(join(path, key), "not supported: %s", why)
	}
}

// enum records a problem when m[key] is given and is not one of values.
func enum(in *props, m map[string]any, path, key string, values ...string) string {
	v := in.str(m, path, key)
	if v != "" && !slices.Contains(values, v) {
		in.fail(join(path, key), "%s is not a valid enum value (one of %v)", v, values)
	}
	return v
}

// codeDeployApplicationSchema follows CloudFormation's
// AWS::CodeDeploy::Application. CloudFormation documents Ref (the name)
// and no attribute; ApplicationName is kept as one because templates
// written when the type was modelled may read it.
var codeDeployApplicationSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"ApplicationName": replace,
		"ComputePlatform": replace,
		"Tags":            inPlace,
	},
	Attributes:   []string{"ApplicationName"},
	NameProperty: "ApplicationName",
}

// codeDeployApplication provides AWS::CodeDeploy::Application: an
// application of the deployment service. Tags are accepted and kept only
// in the stack's record.
type codeDeployApplication struct{ d *Deps }

func (p *codeDeployApplication) Schema() stack.Schema { return codeDeployApplicationSchema }

// name reads and checks the properties and returns the application's name.
func (p *codeDeployApplication) name(r *stack.Request) (string, error) {
	in := readProps(r)
	name := in.str(r.Properties, "", "ApplicationName")
	checkServerPlatform(in, r.Properties)
	if name == "" {
		name = generatedName(r, maxCodeDeployName)
	}
	return name, in.err
}

func applicationOutcome(name string) *stack.Outcome {
	return &stack.Outcome{PhysicalID: name, Attrs: map[string]any{"ApplicationName": name}}
}

func (p *codeDeployApplication) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	name, err := p.name(r)
	if err != nil {
		return nil, err
	}
	a, err := p.d.Deploys.CreateApplication(ctx, r.ProjectID, name, r.Token)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: application names are unique in a project; choose another ApplicationName", err)
	}
	if err != nil {
		return nil, err
	}
	return applicationOutcome(a.Name), nil
}

// Update has only Tags to change, which are not kept by the service; it
// checks that the application is still there.
func (p *codeDeployApplication) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	a, err := p.d.Deploys.Application(ctx, r.ProjectID, r.PhysicalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone("CodeDeploy application", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return applicationOutcome(a.Name), nil
}

// Delete deletes the application with its deployment groups, as on AWS;
// one with a deployment in progress cannot be deleted.
func (p *codeDeployApplication) Delete(ctx context.Context, r *stack.Request) error {
	name := r.PhysicalID
	if name == "" {
		// A create cut short: delete what it made, if anything.
		n, err := p.name(r)
		if err != nil {
			return nil
		}
		a, err := p.d.Deploys.Application(ctx, r.ProjectID, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.ManagedBy != r.Token {
			return nil
		}
		name = a.Name
	}
	err := p.d.Deploys.DeleteApplication(ctx, r.ProjectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// deploymentConfigSchema follows CloudFormation's
// AWS::CodeDeploy::DeploymentConfig: every property replaces it, as on AWS
// (a deployment configuration cannot change). CloudFormation gives it no
// attributes; Ref gives its name.
var deploymentConfigSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"DeploymentConfigName": replace,
		"ComputePlatform":      replace,
		"MinimumHealthyHosts":  replace,
		"TrafficRoutingConfig": replace,
		"ZonalConfig":          replace,
	},
	NameProperty: "DeploymentConfigName",
}

// deploymentConfig provides AWS::CodeDeploy::DeploymentConfig: a custom
// MinimumHealthyHosts rule of the deployment service.
type deploymentConfig struct{ d *Deps }

func (p *deploymentConfig) Schema() stack.Schema { return deploymentConfigSchema }

// config reads and checks the properties.
func (p *deploymentConfig) config(r *stack.Request) (deploy.DeploymentConfig, error) {
	in := readProps(r)
	pr := r.Properties
	c := deploy.DeploymentConfig{Name: in.str(pr, "", "DeploymentConfigName"), ManagedBy: r.Token}
	if c.Name == "" {
		c.Name = generatedName(r, maxCodeDeployName)
	}
	checkServerPlatform(in, pr)
	refuse(in, pr, "", "TrafficRoutingConfig", "traffic shifting is for Lambda and ECS deployments; a Server configuration has MinimumHealthyHosts")
	refuse(in, pr, "", "ZonalConfig", "instances here are in no Availability Zone; deployments proceed by MinimumHealthyHosts alone")
	m := in.object(pr, "", "MinimumHealthyHosts")
	if m == nil {
		if _, given := pr["MinimumHealthyHosts"]; !given && in.err == nil {
			return c, fmt.Errorf("Properties validation failed for resource %s with message: #: required key [MinimumHealthyHosts] not found (a Server deployment configuration is its MinimumHealthyHosts)", r.Logical)
		}
		return c, in.err
	}
	const path = "MinimumHealthyHosts"
	c.MinimumHealthyHosts.Type = enum(in, m, path, "Type", deploy.HostCount, deploy.FleetPercent)
	if c.MinimumHealthyHosts.Type == "" {
		in.fail(path, "required key [Type] not found")
	}
	value, ok := in.integer(m, path, "Value")
	if !ok {
		in.fail(path, "required key [Value] not found")
	}
	c.MinimumHealthyHosts.Value = value
	if in.err == nil {
		if err := c.MinimumHealthyHosts.Check(); err != nil {
			in.fail(path+"/Value", "%v", err)
		}
	}
	return c, in.err
}

func (p *deploymentConfig) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	c, err := p.config(r)
	if err != nil {
		return nil, err
	}
	made, err := p.d.Deploys.CreateConfig(ctx, r.ProjectID, c)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: choose another DeploymentConfigName", err)
	}
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: made.Name}, nil
}

// Update is never called: every property replaces.
func (p *deploymentConfig) Update(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	return &stack.Outcome{PhysicalID: r.PhysicalID}, nil
}

// Delete deletes the configuration, which no deployment group may still
// use (the engine deletes or updates the stack's groups first).
func (p *deploymentConfig) Delete(ctx context.Context, r *stack.Request) error {
	name := r.PhysicalID
	if name == "" {
		// A create cut short: delete what it made, if anything. The list
		// tells a configuration that is absent from a failed look-up.
		c, err := p.config(r)
		if err != nil {
			return nil
		}
		all, err := p.d.Deploys.Configs(ctx, r.ProjectID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(all, func(have deploy.DeploymentConfig) bool {
			return have.Name == c.Name && have.ManagedBy == r.Token
		}) {
			return nil
		}
		name = c.Name
	}
	err := p.d.Deploys.DeleteConfig(ctx, r.ProjectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// deploymentGroupSchema follows CloudFormation's
// AWS::CodeDeploy::DeploymentGroup. CloudFormation gives it no attributes;
// Ref gives its name.
var deploymentGroupSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"ApplicationName":                  requiredReplace,
		"ServiceRoleArn":                   requiredInPlace,
		"DeploymentGroupName":              replace,
		"DeploymentConfigName":             inPlace,
		"AutoScalingGroups":                inPlace,
		"OnPremisesInstanceTagFilters":     inPlace,
		"OnPremisesTagSet":                 inPlace,
		"LoadBalancerInfo":                 inPlace,
		"AutoRollbackConfiguration":        inPlace,
		"DeploymentStyle":                  inPlace,
		"OutdatedInstancesStrategy":        inPlace,
		"Ec2TagFilters":                    inPlace,
		"Ec2TagSet":                        inPlace,
		"Deployment":                       inPlace,
		"AlarmConfiguration":               inPlace,
		"TriggerConfigurations":            inPlace,
		"BlueGreenDeploymentConfiguration": inPlace,
		"ECSServices":                      inPlace,
		"TerminationHookEnabled":           inPlace,
		"Tags":                             inPlace,
	},
	NameProperty: "DeploymentGroupName",
}

// deploymentGroup provides AWS::CodeDeploy::DeploymentGroup: a deployment
// group of the deployment service. What it would take to change how
// deployments behave and Slipway cannot do is refused; the rest that has
// no effect here (TriggerConfigurations, whose topics send nothing;
// BlueGreenDeploymentConfiguration, which in-place deployments ignore on
// AWS too; Tags) is accepted and kept only in the stack's record.
type deploymentGroup struct{ d *Deps }

func (p *deploymentGroup) Schema() stack.Schema { return deploymentGroupSchema }

// groupInput is a deployment group as its properties give it.
type groupInput struct {
	application, name string
	spec              deploy.GroupSpec
	// targetGroups are the names of LoadBalancerInfo's target groups.
	targetGroups []string
}

// read reads and checks the properties, without looking anything up.
func (p *deploymentGroup) read(r *stack.Request) (groupInput, error) {
	in := readProps(r)
	pr := r.Properties
	g := groupInput{
		application: in.str(pr, "", "ApplicationName"),
		name:        in.str(pr, "", "DeploymentGroupName"),
		spec: deploy.GroupSpec{
			Config:                    in.str(pr, "", "DeploymentConfigName"),
			ServiceRole:               in.str(pr, "", "ServiceRoleArn"),
			AutoScalingGroups:         in.strings(pr, "", "AutoScalingGroups"),
			TagFilters:                tagFilters(in, pr, "", "OnPremisesInstanceTagFilters"),
			OutdatedInstancesStrategy: enum(in, pr, "", "OutdatedInstancesStrategy", "UPDATE", "IGNORE"),
		},
	}
	if g.name == "" {
		g.name = generatedName(r, maxCodeDeployName)
	}
	if g.spec.Config == "" {
		g.spec.Config = deploy.OneAtATime
	}

	refuse(in, pr, "", "Ec2TagFilters", "local instances have no EC2 tags; use AutoScalingGroups")
	refuse(in, pr, "", "Ec2TagSet", "local instances have no EC2 tags; use AutoScalingGroups")
	refuse(in, pr, "", "Deployment", "create deployments with a pipeline's CodeDeploy action or slipway deploy create")
	refuse(in, pr, "", "ECSServices", "there are no ECS services here; Slipway deploys to instances and on-premises hosts")
	if in.boolean(pr, "", "TerminationHookEnabled") {
		in.fail("TerminationHookEnabled", "not supported: no lifecycle event runs when an Auto Scaling group terminates an instance; leave it out or set it to false")
	}
	if a := in.object(pr, "", "AlarmConfiguration"); a != nil && in.boolean(a, "AlarmConfiguration", "Enabled") {
		in.fail("AlarmConfiguration/Enabled", "not supported: there are no CloudWatch alarms to stop a deployment; leave AlarmConfiguration out or set Enabled to false")
	}

	if set := in.object(pr, "", "OnPremisesTagSet"); set != nil {
		// A tag set selects the hosts that match every one of its groups;
		// a single group selects as OnPremisesInstanceTagFilters do, which
		// is what the deployment service knows.
		const path = "OnPremisesTagSet/OnPremisesTagSetList"
		list := in.objects(set, "OnPremisesTagSet", "OnPremisesTagSetList")
		switch {
		case len(list) > 1:
			in.fail(path, "not supported: %d tag groups would select only hosts that match every group; give one group (or OnPremisesInstanceTagFilters)", len(list))
		case len(list) == 1 && len(g.spec.TagFilters) > 0:
			in.fail("OnPremisesTagSet", "give either OnPremisesInstanceTagFilters or OnPremisesTagSet, not both")
		case len(list) == 1:
			g.spec.TagFilters = tagFilters(in, list[0], path+"/0", "OnPremisesTagGroup")
		}
	}

	if lb := in.object(pr, "", "LoadBalancerInfo"); lb != nil {
		refuse(in, lb, "LoadBalancerInfo", "ElbInfoList", "there are no Classic Load Balancers; use TargetGroupInfoList with the Name of an AWS::ElasticLoadBalancingV2::TargetGroup")
		refuse(in, lb, "LoadBalancerInfo", "TargetGroupPairInfoList", "target group pairs are for ECS blue/green deployments; use TargetGroupInfoList")
		for i, tg := range in.objects(lb, "LoadBalancerInfo", "TargetGroupInfoList") {
			path := fmt.Sprintf("LoadBalancerInfo/TargetGroupInfoList/%d", i)
			name := in.str(tg, path, "Name")
			if name == "" {
				in.fail(path, "required key [Name] not found")
			}
			g.targetGroups = append(g.targetGroups, name)
		}
	}

	if ar := in.object(pr, "", "AutoRollbackConfiguration"); ar != nil {
		const path = "AutoRollbackConfiguration"
		g.spec.AutoRollback.Enabled = in.boolean(ar, path, "Enabled")
		g.spec.AutoRollback.Events = in.strings(ar, path, "Events")
		for i, e := range g.spec.AutoRollback.Events {
			if valid := []string{deploy.RollbackOnFailure, deploy.RollbackOnStop, deploy.RollbackOnAlarm}; !slices.Contains(valid, e) {
				in.fail(fmt.Sprintf("%s/Events/%d", path, i), "%s is not a valid enum value (one of %v)", e, valid)
			}
		}
		if g.spec.AutoRollback.Enabled && len(g.spec.AutoRollback.Events) == 0 {
			in.fail(path+"/Events", "Enabled needs Events: name DEPLOYMENT_FAILURE and/or DEPLOYMENT_STOP_ON_REQUEST")
		}
	}

	// CloudFormation uses LoadBalancerInfo only with WITH_TRAFFIC_CONTROL,
	// and CodeDeploy's default is WITHOUT_TRAFFIC_CONTROL, so a template
	// that names target groups but no DeploymentStyle deploys without
	// taking instances out of the load balancer, as on AWS.
	g.spec.DeploymentType, g.spec.DeploymentOption = "IN_PLACE", "WITHOUT_TRAFFIC_CONTROL"
	if ds := in.object(pr, "", "DeploymentStyle"); ds != nil {
		const path = "DeploymentStyle"
		if t := enum(in, ds, path, "DeploymentType", "IN_PLACE", "BLUE_GREEN"); t == "BLUE_GREEN" {
			in.fail(path+"/DeploymentType", "BLUE_GREEN is not supported: deployments here are IN_PLACE (a blue/green fleet would need copies of the Auto Scaling group)")
		}
		if o := enum(in, ds, path, "DeploymentOption", "WITH_TRAFFIC_CONTROL", "WITHOUT_TRAFFIC_CONTROL"); o != "" {
			g.spec.DeploymentOption = o
		}
	}
	return g, in.err
}

// tagFilters reads a list of CodeDeploy TagFilters {Key, Value, Type}.
func tagFilters(in *props, m map[string]any, path, key string) []deploy.TagFilter {
	var out []deploy.TagFilter
	for i, f := range in.objects(m, path, key) {
		fp := fmt.Sprintf("%s/%d", join(path, key), i)
		out = append(out, deploy.TagFilter{Key: in.str(f, fp, "Key"), Value: in.str(f, fp, "Value"),
			Type: enum(in, f, fp, "Type", "KEY_ONLY", "VALUE_ONLY", "KEY_AND_VALUE")})
	}
	return out
}

// input reads the properties and resolves what they name: the
// application, the deployment configuration, the Auto Scaling groups and
// the target groups (by name to their ARNs), each of which must exist, as
// CodeDeploy requires.
func (p *deploymentGroup) input(ctx context.Context, r *stack.Request) (groupInput, error) {
	g, err := p.read(r)
	if err != nil {
		return g, err
	}
	_, err = p.d.Deploys.Application(ctx, r.ProjectID, g.application)
	if errors.Is(err, store.ErrNotFound) {
		return g, fmt.Errorf("%s: ApplicationName %s: no CodeDeploy application of that name in this project; create it first (an AWS::CodeDeploy::Application in this stack, or in the stack whose export you import)", r.Logical, g.application)
	}
	if err != nil {
		return g, err
	}
	// The list tells a configuration that is absent from a failed look-up.
	configs, err := p.d.Deploys.Configs(ctx, r.ProjectID)
	if err != nil {
		return g, err
	}
	if !slices.ContainsFunc(configs, func(c deploy.DeploymentConfig) bool { return c.Name == g.spec.Config }) {
		return g, fmt.Errorf("%s: DeploymentConfigName %s: no deployment configuration of that name in this project; use %s, %s, %s or the name of an AWS::CodeDeploy::DeploymentConfig",
			r.Logical, g.spec.Config, deploy.OneAtATime, deploy.HalfAtATime, deploy.AllAtOnce)
	}
	for _, name := range g.spec.AutoScalingGroups {
		_, err := p.d.Fleet.Group(ctx, r.ProjectID, name)
		if errors.Is(err, store.ErrNotFound) {
			return g, fmt.Errorf("%s: AutoScalingGroups: no Auto Scaling group named %s in this project; create it first (!Ref the AWS::AutoScaling::AutoScalingGroup, so that the stack makes it before the deployment group)", r.Logical, name)
		}
		if err != nil {
			return g, err
		}
	}
	for _, name := range g.targetGroups {
		tg, err := p.d.LoadBalancers.TargetGroup(ctx, r.ProjectID, name)
		if errors.Is(err, store.ErrNotFound) {
			return g, fmt.Errorf("%s: LoadBalancerInfo TargetGroupInfoList: no target group named %s in this project; give the Name of an AWS::ElasticLoadBalancingV2::TargetGroup (!GetAtt TargetGroup.TargetGroupName)", r.Logical, name)
		}
		if err != nil {
			return g, err
		}
		g.spec.TargetGroups = append(g.spec.TargetGroups, tg.ARN)
	}
	return g, nil
}

func (p *deploymentGroup) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	g, err := p.input(ctx, r)
	if err != nil {
		return nil, err
	}
	made, err := p.d.Deploys.CreateGroup(ctx, r.ProjectID, g.application, g.name, r.Token, g.spec)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: application %s already has a deployment group of that name; choose another DeploymentGroupName", err, g.application)
	}
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: made.Name}, nil
}

// Update replaces the group's spec; its name and application cannot
// change in place, so the physical ID stays.
func (p *deploymentGroup) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	g, err := p.input(ctx, r)
	if err != nil {
		return nil, err
	}
	made, err := p.d.Deploys.UpdateGroup(ctx, r.ProjectID, g.application, r.PhysicalID, r.PhysicalID, g.spec)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone("deployment group", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: made.Name}, nil
}

// Delete deletes the group; one with a deployment in progress cannot be
// deleted, and the service's error says what to do.
func (p *deploymentGroup) Delete(ctx context.Context, r *stack.Request) error {
	in := readProps(r)
	app, name := in.str(r.Properties, "", "ApplicationName"), r.PhysicalID
	if name == "" {
		// A create cut short: delete what it made, if anything.
		if name = in.str(r.Properties, "", "DeploymentGroupName"); name == "" {
			name = generatedName(r, maxCodeDeployName)
		}
		made, err := p.d.Deploys.Group(ctx, r.ProjectID, app, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if made.ManagedBy != r.Token {
			return nil
		}
	}
	err := p.d.Deploys.DeleteGroup(ctx, r.ProjectID, app, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
