package providers

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/bucket"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// fixture is a registry whose providers work on real services over db, for
// one project.
type fixture struct {
	reg                    *stack.Registry
	repos                  *repo.Service
	buckets                *bucket.Service
	builds                 *buildsvc.Service
	pipelines              *pipelinesvc.Service
	lbs                    *lbsvc.Service
	dns                    *dnssvc.Service
	projectID, projectName string
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{projectID: store.NewID(), projectName: "acme"}
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", f.projectID, f.projectName, store.Millis(time.Now())); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	f.repos = repo.NewService(db, filepath.Join(t.TempDir(), "repos"), nil, log, nil)
	f.buckets = bucket.NewService(db)
	f.builds = buildsvc.NewService(db, buildsvc.Config{Log: log})
	f.pipelines = pipelinesvc.New(db, pipelinesvc.Config{Jobs: jobs.New(db, jobs.Options{Logger: log}), Log: log})
	var err error
	f.lbs, err = lbsvc.New(db, lbsvc.Config{PortMap: map[int]string{80: "127.0.0.1:0"}, Log: log, ShutdownGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.dns, err = dnssvc.New(db, dnssvc.Config{AliasAddrs: f.lbs.AliasAddrs, OnAliasesChanged: f.lbs.SetAliases, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- f.lbs.Run(ctx) }()
	go func() { done <- f.dns.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})
	f.reg = stack.NewRegistry()
	Register(f.reg, Deps{Repos: f.repos, Buckets: f.buckets, Builds: f.builds, Pipelines: f.pipelines, LoadBalancers: f.lbs, DNS: f.dns,
		BaseURL: func() string { return "http://127.0.0.1:7000" }})
	return f
}

// request is a request for one resource of the stack "app-staging".
func (f *fixture) request(typ, logical, token string, props map[string]any) *stack.Request {
	return &stack.Request{StackID: "stack-1", StackName: "app-staging", ProjectID: f.projectID, ProjectName: f.projectName,
		Logical: logical, Type: typ, Token: token, Properties: props}
}

func (f *fixture) provider(t *testing.T, typ string) stack.Provider {
	t.Helper()
	p, ok := f.reg.Provider(typ)
	if !ok {
		t.Fatalf("%s is not registered", typ)
	}
	return p
}

// schemaOnly is a registry made with zero Deps, as a server-less template
// check makes it.
func schemaOnly() *stack.Registry {
	reg := stack.NewRegistry()
	Register(reg, Deps{})
	return reg
}

// A NameProperty names the resource; it requires replacement, except where
// AWS renames in place (CodeCommit), which the provider then handles.
func TestEveryNamePropertyIsAPropertyThatRequiresReplacement(t *testing.T) {
	renamedInPlace := map[string]bool{codeCommitType: true}
	// CloudFormation gives a record set, an Auto Scaling group, a launch
	// configuration, a deployment configuration and a deployment group no
	// attributes (Ref names them).
	noAttributes := map[string]bool{recordSetType: true, autoScalingGroupType: true, launchConfigurationType: true,
		deploymentConfigType: true, deploymentGroupType: true}
	reg := schemaOnly()
	for _, typ := range reg.Types() {
		p, _ := reg.Provider(typ)
		s := p.Schema()
		if len(s.Attributes) == 0 && !noAttributes[typ] {
			t.Errorf("%s has no attributes", typ)
		}
		if s.NameProperty == "" {
			continue
		}
		prop, ok := s.Properties[s.NameProperty]
		if !ok || prop.Update != stack.Replace && !renamedInPlace[typ] {
			t.Errorf("%s: NameProperty %s is %+v (present %v), want a property that requires replacement", typ, s.NameProperty, prop, ok)
		}
	}
}

// sampleUse is what the sample's templates (cloudformation/pipeline.yml and
// infrastructure.yml of the Go deployment pipeline sample) and the usual
// CodeCommit and S3 templates give each type and read from it.
var sampleUse = []struct {
	typ      string
	props    []string
	reads    []string
	named    string
	modelled bool
}{
	{"AWS::CodeCommit::Repository", []string{"RepositoryName", "RepositoryDescription", "Code", "Triggers", "Tags"}, []string{"Arn", "CloneUrlHttp", "CloneUrlSsh", "Name"}, "RepositoryName", false},
	{"AWS::CodePipeline::Pipeline", []string{"Name", "RoleArn", "ArtifactStore", "Stages", "RestartExecutionOnUpdate"}, []string{"Version"}, "Name", false},
	{"AWS::SNS::Topic", []string{"DisplayName", "TopicName"}, []string{"TopicArn", "TopicName"}, "TopicName", true},
	{"AWS::CodeDeploy::Application", []string{"ApplicationName"}, []string{"ApplicationName"}, "ApplicationName", false},
	{"AWS::CodeDeploy::DeploymentGroup", []string{"DeploymentGroupName", "ApplicationName", "ServiceRoleArn", "DeploymentConfigName", "AutoScalingGroups"}, nil, "DeploymentGroupName", false},
	{"AWS::CodeDeploy::DeploymentConfig", []string{"DeploymentConfigName", "MinimumHealthyHosts"}, nil, "DeploymentConfigName", false},
	{"AWS::CodeBuild::Project", []string{"Name", "Description", "Artifacts", "Environment", "ServiceRole", "Source", "TimeoutInMinutes", "Cache"}, []string{"Arn"}, "Name", false},
	{"AWS::S3::Bucket", []string{"BucketName", "Tags", "VersioningConfiguration", "LifecycleConfiguration", "BucketEncryption", "PublicAccessBlockConfiguration"}, []string{"Arn", "DomainName", "RegionalDomainName", "WebsiteURL"}, "BucketName", false},
	{"AWS::IAM::Role", []string{"Path", "RoleName", "AssumeRolePolicyDocument", "Policies", "ManagedPolicyArns"}, []string{"Arn", "RoleId"}, "RoleName", true},
	{"AWS::IAM::InstanceProfile", []string{"Path", "Roles"}, []string{"Arn"}, "InstanceProfileName", true},
	{"AWS::IAM::Policy", []string{"PolicyName", "PolicyDocument", "Roles"}, []string{"Id"}, "", true},
	{"AWS::EC2::VPC", []string{"CidrBlock", "Tags"}, []string{"CidrBlock", "DefaultSecurityGroup", "VpcId"}, "", true},
	{"AWS::EC2::InternetGateway", []string{"Tags"}, []string{"InternetGatewayId"}, "", true},
	{"AWS::EC2::VPCGatewayAttachment", []string{"InternetGatewayId", "VpcId"}, []string{"AttachmentType"}, "", true},
	{"AWS::EC2::Subnet", []string{"VpcId", "AvailabilityZone", "CidrBlock", "MapPublicIpOnLaunch", "Tags"}, []string{"AvailabilityZone", "VpcId", "SubnetId"}, "", true},
	{"AWS::EC2::EIP", []string{"Domain"}, []string{"AllocationId", "PublicIp"}, "", true},
	{"AWS::EC2::NatGateway", []string{"AllocationId", "SubnetId"}, []string{"NatGatewayId"}, "", true},
	{"AWS::EC2::RouteTable", []string{"VpcId", "Tags"}, []string{"RouteTableId"}, "", true},
	{"AWS::EC2::Route", []string{"RouteTableId", "DestinationCidrBlock", "GatewayId", "NatGatewayId"}, []string{"CidrBlock"}, "", true},
	{"AWS::EC2::SubnetRouteTableAssociation", []string{"RouteTableId", "SubnetId"}, []string{"Id"}, "", true},
	{"AWS::EC2::SecurityGroup", []string{"VpcId", "GroupDescription", "SecurityGroupIngress", "Tags"}, []string{"GroupId", "VpcId"}, "GroupName", true},
	{"AWS::ElasticLoadBalancingV2::LoadBalancer", []string{"Name", "Scheme", "Subnets", "SecurityGroups", "LoadBalancerAttributes", "Tags"}, []string{"DNSName", "CanonicalHostedZoneID", "LoadBalancerFullName", "LoadBalancerName", "SecurityGroups"}, "Name", false},
	{"AWS::ElasticLoadBalancingV2::Listener", []string{"LoadBalancerArn", "Port", "Protocol", "DefaultActions"}, []string{"ListenerArn"}, "", false},
	{"AWS::ElasticLoadBalancingV2::ListenerRule", []string{"ListenerArn", "Priority", "Conditions", "Actions"}, []string{"RuleArn"}, "", false},
	{"AWS::ElasticLoadBalancingV2::TargetGroup", []string{"Name", "VpcId", "Port", "Protocol", "HealthCheckPath", "HealthCheckIntervalSeconds", "Matcher", "TargetGroupAttributes", "Targets", "TargetType"}, []string{"TargetGroupArn", "TargetGroupFullName", "TargetGroupName", "LoadBalancerArns"}, "Name", false},
	{"AWS::Route53::HostedZone", []string{"Name", "HostedZoneConfig", "HostedZoneTags"}, []string{"Id", "NameServers"}, "", false},
	{"AWS::AutoScaling::LaunchConfiguration", []string{"ImageId", "InstanceType", "IamInstanceProfile", "SecurityGroups", "UserData"}, nil, "LaunchConfigurationName", false},
	{"AWS::AutoScaling::AutoScalingGroup", []string{"LaunchConfigurationName", "MinSize", "MaxSize", "DesiredCapacity", "VPCZoneIdentifier", "TargetGroupARNs", "Tags", "HealthCheckType", "HealthCheckGracePeriod"}, nil, "AutoScalingGroupName", false},
	{"AWS::Route53::RecordSet", []string{"HostedZoneId", "HostedZoneName", "Name", "Type", "TTL", "ResourceRecords", "AliasTarget"}, nil, "", false},
}

func TestTheSampleTemplatesPropertiesAndAttributesAreSupported(t *testing.T) {
	reg := schemaOnly()
	for _, u := range sampleUse {
		p, ok := reg.Provider(u.typ)
		if !ok {
			t.Errorf("%s is not registered", u.typ)
			continue
		}
		s := p.Schema()
		for _, prop := range u.props {
			if _, ok := s.Properties[prop]; !ok {
				t.Errorf("%s does not accept %s", u.typ, prop)
			}
		}
		for _, attr := range u.reads {
			if !reg.HasAttribute(u.typ, attr) {
				t.Errorf("%s has no attribute %s", u.typ, attr)
			}
		}
		if s.NameProperty != u.named || s.Modelled != u.modelled {
			t.Errorf("%s: NameProperty %q Modelled %v, want %q %v", u.typ, s.NameProperty, s.Modelled, u.named, u.modelled)
		}
	}
	if got := len(reg.Types()); got != len(sampleUse) {
		t.Errorf("%d types registered, the table covers %d: %v", got, len(sampleUse), reg.Types())
	}
}

func TestGeneratedNamesFollowCloudFormationAndFit(t *testing.T) {
	r := &stack.Request{StackName: "app-staging", Logical: "InstanceRole", Token: "t1"}
	name := generatedName(r, 64)
	if !strings.HasPrefix(name, "app-staging-InstanceRole-") || len(name) != len("app-staging-InstanceRole-")+12 {
		t.Errorf("generatedName = %q", name)
	}
	if again := generatedName(r, 64); again != name {
		t.Errorf("not deterministic: %q then %q", name, again)
	}
	other := *r
	other.Token = "t2"
	if generatedName(&other, 64) == name {
		t.Errorf("two tokens gave the same name %q", name)
	}
	long := &stack.Request{StackName: strings.Repeat("s", 100), Logical: strings.Repeat("L", 100), Token: "t1"}
	for _, max := range []int{20, 63, 64, 128} {
		if got := generatedName(long, max); len(got) > max || strings.Contains(got, "--") {
			t.Errorf("generatedName(long, %d) = %q (%d characters)", max, got, len(got))
		}
	}
	// A cut that ends on the dash between stack and logical ID drops it.
	cut := &stack.Request{StackName: "abcdefg", Logical: "X", Token: "t1"}
	if got := generatedName(cut, 7+1+13); strings.Contains(got, "--") || !strings.HasPrefix(got, "abcdefg-") {
		t.Errorf("generatedName(cut) = %q", got)
	}
}

func TestAPropertyThatMustBeAStringSaysSoInCloudFormationsWords(t *testing.T) {
	r := &stack.Request{Logical: "VPC", Properties: map[string]any{"CidrBlock": map[string]any{"Ref": "x"}}}
	_, err := modelledTypes["AWS::EC2::VPC"].attrs(&Deps{}, r, "vpc-1")
	want := "Properties validation failed for resource VPC with message: #/CidrBlock: expected type: String, found: JSONObject"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	in := read(&stack.Request{Properties: map[string]any{"N": json.Number("8080"), "B": true}})
	if got := []string{in.str("N"), in.str("B"), in.str("absent")}; !slices.Equal(got, []string{"8080", "true", ""}) || in.err != nil {
		t.Errorf("scalars read as %q (%v)", got, in.err)
	}
}
