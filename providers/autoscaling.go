package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

const (
	autoScalingGroupType    = "AWS::AutoScaling::AutoScalingGroup"
	launchConfigurationType = "AWS::AutoScaling::LaunchConfiguration"
)

// launchConfigurationSchema follows CloudFormation's
// AWS::AutoScaling::LaunchConfiguration: every property replaces it, as on
// AWS (a launch configuration cannot change). ImageId and InstanceType are
// recorded; UserData runs in each instance at launch.
var launchConfigurationSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"ImageId":                      requiredReplace,
		"InstanceType":                 requiredReplace,
		"LaunchConfigurationName":      replace,
		"UserData":                     replace,
		"AssociatePublicIpAddress":     replace,
		"BlockDeviceMappings":          replace,
		"ClassicLinkVPCId":             replace,
		"ClassicLinkVPCSecurityGroups": replace,
		"EbsOptimized":                 replace,
		"IamInstanceProfile":           replace,
		"InstanceId":                   replace,
		"InstanceMonitoring":           replace,
		"KernelId":                     replace,
		"KeyName":                      replace,
		"MetadataOptions":              replace,
		"PlacementTenancy":             replace,
		"RamDiskId":                    replace,
		"SecurityGroups":               replace,
		"SpotPrice":                    replace,
	},
	NameProperty: "LaunchConfigurationName",
}

// autoScalingGroupSchema follows CloudFormation's
// AWS::AutoScaling::AutoScalingGroup. Sizes, health checks, target groups
// and the launch configuration act; the rest is recorded.
var autoScalingGroupSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"MinSize":                          requiredInPlace,
		"MaxSize":                          requiredInPlace,
		"AutoScalingGroupName":             replace,
		"LaunchConfigurationName":          inPlace,
		"LaunchTemplate":                   inPlace,
		"MixedInstancesPolicy":             inPlace,
		"InstanceId":                       replace,
		"DesiredCapacity":                  inPlace,
		"DesiredCapacityType":              inPlace,
		"HealthCheckType":                  inPlace,
		"HealthCheckGracePeriod":           inPlace,
		"TargetGroupARNs":                  inPlace,
		"LoadBalancerNames":                inPlace,
		"VPCZoneIdentifier":                inPlace,
		"AvailabilityZones":                inPlace,
		"Tags":                             inPlace,
		"Cooldown":                         inPlace,
		"TerminationPolicies":              inPlace,
		"MetricsCollection":                inPlace,
		"NotificationConfigurations":       inPlace,
		"LifecycleHookSpecificationList":   inPlace,
		"MaxInstanceLifetime":              inPlace,
		"NewInstancesProtectedFromScaleIn": inPlace,
		"CapacityRebalance":                inPlace,
		"DefaultInstanceWarmup":            inPlace,
		"Context":                          inPlace,
		"PlacementGroup":                   inPlace,
		"ServiceLinkedRoleARN":             inPlace,
		"AvailabilityZoneDistribution":     inPlace,
		"InstanceMaintenancePolicy":        inPlace,
		"TrafficSources":                   inPlace,
	},
	NameProperty: "AutoScalingGroupName",
}

// launchConfiguration provides AWS::AutoScaling::LaunchConfiguration. Its
// physical ID is its name, which is what Ref gives, as on AWS.
type launchConfiguration struct{ d *Deps }

func (p *launchConfiguration) Schema() stack.Schema { return launchConfigurationSchema }

func (p *launchConfiguration) name(r *stack.Request) string {
	if n := read(r).str("LaunchConfigurationName"); n != "" {
		return n
	}
	return generatedName(r, 255)
}

func (p *launchConfiguration) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in := read(r)
	lc := fleet.LaunchConfiguration{ProjectID: r.ProjectID, Name: p.name(r), ManagedBy: r.Token,
		ImageID: in.str("ImageId"), InstanceType: in.str("InstanceType"), UserData: fleet.DecodeUserData(in.str("UserData"))}
	if in.err != nil {
		return nil, in.err
	}
	lc.Settings = maps.Clone(r.Properties)
	delete(lc.Settings, "UserData")
	made, err := p.d.Fleet.CreateLaunchConfiguration(ctx, lc)
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: made.Name}, nil
}

// Update is never called: every property replaces.
func (p *launchConfiguration) Update(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	return &stack.Outcome{PhysicalID: r.PhysicalID}, nil
}

func (p *launchConfiguration) Delete(ctx context.Context, r *stack.Request) error {
	name := r.PhysicalID
	if name == "" {
		lc, err := p.d.Fleet.LaunchConfiguration(ctx, r.ProjectID, p.name(r))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if lc.ManagedBy != r.Token {
			return nil
		}
		name = lc.Name
	}
	return p.d.Fleet.DeleteLaunchConfiguration(ctx, r.ProjectID, name)
}

// autoScalingGroup provides AWS::AutoScaling::AutoScalingGroup: an
// instance group of the fleet. Its physical ID is its name (what Ref
// gives). A create returns once the desired instances are in service; the
// engine then waits for a CreationPolicy's signals, which the instances'
// user data sends with cfn-signal.
type autoScalingGroup struct{ d *Deps }

func (p *autoScalingGroup) Schema() stack.Schema { return autoScalingGroupSchema }

func (p *autoScalingGroup) group(r *stack.Request) (fleet.Group, error) {
	in := read(r)
	g := fleet.Group{ProjectID: r.ProjectID, Name: in.str("AutoScalingGroupName"), ManagedBy: r.Token,
		StackName: r.StackName, LogicalID: r.Logical, LaunchConfiguration: in.str("LaunchConfigurationName"),
		HealthCheckType: in.str("HealthCheckType")}
	if g.Name == "" {
		g.Name = generatedName(r, 255)
	}
	var err error
	num := func(key string, def int) int {
		s := in.str(key)
		if s == "" {
			return def
		}
		n, perr := strconv.Atoi(s)
		if perr != nil && err == nil {
			err = fmt.Errorf("Properties validation failed for resource %s with message: #/%s: expected type: Integer, found: %q", r.Logical, key, s)
		}
		return n
	}
	g.MinSize = num("MinSize", 0)
	g.MaxSize = num("MaxSize", 0)
	g.Desired = num("DesiredCapacity", g.MinSize)
	g.GracePeriod = time.Duration(num("HealthCheckGracePeriod", 0)) * time.Second
	if in.err != nil {
		return g, in.err
	}
	if err != nil {
		return g, err
	}
	for _, unsupported := range []string{"LaunchTemplate", "MixedInstancesPolicy", "InstanceId"} {
		if _, ok := r.Properties[unsupported]; ok {
			return g, fmt.Errorf("%s of %s: local instance groups launch from a LaunchConfigurationName; use an AWS::AutoScaling::LaunchConfiguration", unsupported, r.Logical)
		}
	}
	if g.LaunchConfiguration == "" {
		return g, fmt.Errorf("Properties validation failed for resource %s with message: #: required key [LaunchConfigurationName] not found (local instance groups launch from a launch configuration)", r.Logical)
	}
	if v, ok := r.Properties["TargetGroupARNs"]; ok {
		list, isList := v.([]any)
		if !isList {
			return g, fmt.Errorf("Properties validation failed for resource %s with message: #/TargetGroupARNs: expected type: JSONArray", r.Logical)
		}
		for _, e := range list {
			s, isString := e.(string)
			if !isString {
				return g, fmt.Errorf("Properties validation failed for resource %s with message: #/TargetGroupARNs: expected strings", r.Logical)
			}
			g.TargetGroups = append(g.TargetGroups, s)
		}
	}
	g.Settings = map[string]any{}
	for k, v := range r.Properties {
		switch k {
		case "AutoScalingGroupName", "LaunchConfigurationName", "MinSize", "MaxSize", "DesiredCapacity",
			"HealthCheckType", "HealthCheckGracePeriod", "TargetGroupARNs":
		default:
			g.Settings[k] = v
		}
	}
	return g, nil
}

func (p *autoScalingGroup) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	g, err := p.group(r)
	if err != nil {
		return nil, err
	}
	made, err := p.d.Fleet.CreateGroup(ctx, g)
	if err != nil {
		return nil, err
	}
	if err := p.d.Fleet.WaitInService(ctx, r.ProjectID, made.Name, made.Desired); err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: made.Name}, nil
}

func (p *autoScalingGroup) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	g, err := p.group(r)
	if err != nil {
		return nil, err
	}
	g.Name = r.PhysicalID
	made, err := p.d.Fleet.UpdateGroup(ctx, g)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("AutoScalingGroup %s no longer exists: it was deleted outside the stack", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	// A new launch configuration replaces the running instances only under
	// an AutoScalingRollingUpdate, as on AWS; otherwise it applies to the
	// instances launched from now on.
	if policy, ok, err := rollingPolicy(r); err != nil {
		return nil, err
	} else if ok && read(r).str("LaunchConfigurationName") != fmt.Sprint(r.Previous["LaunchConfigurationName"]) {
		var signals func(ctx context.Context, ids []string) error
		if policy.wait && r.WaitSignals != nil {
			signals = func(ctx context.Context, ids []string) error {
				return r.WaitSignals(ctx, len(ids), policy.Pause, ids...)
			}
		}
		if err := p.d.Fleet.RollingReplace(ctx, r.ProjectID, made.Name, policy.RollingPolicy, signals); err != nil {
			return nil, err
		}
	}
	if err := p.d.Fleet.WaitInService(ctx, r.ProjectID, made.Name, made.Desired); err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: made.Name}, nil
}

// rolling is an AutoScalingRollingUpdate as read from a template.
type rolling struct {
	fleet.RollingPolicy
	wait bool // WaitOnResourceSignals
}

// rollingPolicy reads UpdatePolicy.AutoScalingRollingUpdate: MaxBatchSize
// (default 1), MinInstancesInService (default 0), PauseTime (default PT0S,
// or PT5M with WaitOnResourceSignals, when it bounds the wait for signals).
func rollingPolicy(r *stack.Request) (rolling, bool, error) {
	ru, ok := r.UpdatePolicy["AutoScalingRollingUpdate"].(map[string]any)
	if !ok {
		return rolling{}, false, nil
	}
	pol := rolling{RollingPolicy: fleet.RollingPolicy{MaxBatch: 1}}
	num := func(key string, into *int) error {
		v, ok := ru[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil || n < 0 {
			return fmt.Errorf("UpdatePolicy AutoScalingRollingUpdate %s %v: give a whole number", key, v)
		}
		*into = n
		return nil
	}
	if err := num("MaxBatchSize", &pol.MaxBatch); err != nil {
		return pol, false, err
	}
	if err := num("MinInstancesInService", &pol.MinInService); err != nil {
		return pol, false, err
	}
	pol.wait = fmt.Sprint(ru["WaitOnResourceSignals"]) == "true"
	if pol.wait {
		pol.Pause = 5 * time.Minute
	}
	if v, ok := ru["PauseTime"]; ok {
		d, err := stack.ParseISODuration(fmt.Sprint(v))
		if err != nil {
			return pol, false, fmt.Errorf("UpdatePolicy AutoScalingRollingUpdate PauseTime: %w", err)
		}
		pol.Pause = d
	}
	return pol, true, nil
}

// Delete terminates the group's instances (deregistered from their target
// groups first) and returns once none is left running.
func (p *autoScalingGroup) Delete(ctx context.Context, r *stack.Request) error {
	name := r.PhysicalID
	if name == "" {
		g, err := p.group(r)
		if err != nil {
			return nil
		}
		old, err := p.d.Fleet.Group(ctx, r.ProjectID, g.Name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if old.ManagedBy != r.Token {
			return nil
		}
		name = old.Name
	}
	return p.d.Fleet.DeleteGroup(ctx, r.ProjectID, name)
}
