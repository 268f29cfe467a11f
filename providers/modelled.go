package providers

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway/slipway/stack"
)

// A modelledType describes one resource type that Slipway models without a
// local effect (networks and IAM, which a single host has no use for): its
// properties as CloudFormation's reference has them, so templates are
// checked as AWS checks them, and how its physical ID and GetAtt
// attributes are made up.
type modelledType struct {
	properties map[string]stack.Property
	attributes []string
	// name is the property that, when set, names the resource (and so
	// forbids its replacement).
	name string
	// id returns the physical ID of a new resource.
	id func(d *Deps, r *stack.Request) (string, error)
	// attrs returns the attributes of the resource whose physical ID is id;
	// it must give every name in attributes.
	attrs func(d *Deps, r *stack.Request, id string) (map[string]any, error)
}

// modelled is the provider of every modelled type. Create makes up the
// physical ID and attributes from the token (the same on every attempt, so
// a resumed create returns the same IDs), Update recomputes the attributes
// and Delete has nothing to do.
type modelled struct {
	d *Deps
	t *modelledType
}

func (m *modelled) Schema() stack.Schema {
	return stack.Schema{Properties: m.t.properties, Attributes: m.t.attributes, NameProperty: m.t.name, Modelled: true}
}

func (m *modelled) Create(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	id, err := m.t.id(m.d, r)
	if err != nil {
		return nil, err
	}
	attrs, err := m.t.attrs(m.d, r, id)
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: id, Attrs: attrs}, nil
}

func (m *modelled) Update(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	attrs, err := m.t.attrs(m.d, r, r.PhysicalID)
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: r.PhysicalID, Attrs: attrs}, nil
}

func (m *modelled) Delete(context.Context, *stack.Request) error { return nil }

// ec2ID makes physical IDs of EC2's shape, such as vpc-0a1b2c3d4e5f67890.
func ec2ID(prefix string) func(*Deps, *stack.Request) (string, error) {
	return func(_ *Deps, r *stack.Request) (string, error) { return awsID(prefix, r.Token, "id"), nil }
}

// named makes physical IDs that are the resource's name: the property
// prop, or the name CloudFormation generates (at most max characters).
func named(prop string, max int) func(*Deps, *stack.Request) (string, error) {
	return func(_ *Deps, r *stack.Request) (string, error) {
		in := read(r)
		if name := in.str(prop); name != "" || in.err != nil {
			return name, in.err
		}
		return generatedName(r, max), nil
	}
}

// generated makes the physical IDs CloudFormation generates for resources
// that have neither a name nor an ID of their own (routes, attachments,
// inline policies).
func generated(_ *Deps, r *stack.Request) (string, error) { return generatedName(r, 64), nil }

// iamPath is the IAM path of a role or instance profile: Path, or "/".
func iamPath(in *reader) string {
	if p := in.str("Path"); p != "" {
		return p
	}
	return "/"
}

// modelledTypes configures the modelled provider for each of its types.
// Properties and attributes are CloudFormation's (its resource reference and
// registry schemas); update behaviours that are conditional on AWS
// (InstanceTenancy, Ipv6CidrBlock) are taken as in-place.
var modelledTypes = map[string]*modelledType{
	"AWS::EC2::VPC": {
		properties: map[string]stack.Property{
			"CidrBlock":          replace,
			"Ipv4IpamPoolId":     replace,
			"Ipv4NetmaskLength":  replace,
			"EnableDnsHostnames": inPlace,
			"EnableDnsSupport":   inPlace,
			"InstanceTenancy":    inPlace,
			"Tags":               inPlace,
		},
		attributes: []string{"CidrBlock", "CidrBlockAssociations", "DefaultNetworkAcl", "DefaultSecurityGroup", "Ipv6CidrBlocks", "VpcId"},
		id:         ec2ID("vpc"),
		attrs: func(_ *Deps, r *stack.Request, id string) (map[string]any, error) {
			in := read(r)
			return map[string]any{
				"CidrBlock":             in.str("CidrBlock"),
				"CidrBlockAssociations": []any{awsID("vpc-cidr-assoc", r.Token, "cidr")},
				"DefaultNetworkAcl":     awsID("acl", r.Token, "default"),
				"DefaultSecurityGroup":  awsID("sg", r.Token, "default"),
				"Ipv6CidrBlocks":        []any{},
				"VpcId":                 id,
			}, in.err
		},
	},
	"AWS::EC2::Subnet": {
		properties: map[string]stack.Property{
			"VpcId":                         requiredReplace,
			"AvailabilityZone":              replace,
			"AvailabilityZoneId":            replace,
			"CidrBlock":                     replace,
			"OutpostArn":                    replace,
			"Ipv6Native":                    replace,
			"Ipv4IpamPoolId":                replace,
			"Ipv4NetmaskLength":             replace,
			"Ipv6IpamPoolId":                replace,
			"Ipv6NetmaskLength":             replace,
			"Ipv6CidrBlock":                 inPlace,
			"AssignIpv6AddressOnCreation":   inPlace,
			"EnableDns64":                   inPlace,
			"EnableLniAtDeviceIndex":        inPlace,
			"MapPublicIpOnLaunch":           inPlace,
			"PrivateDnsNameOptionsOnLaunch": inPlace,
			"Tags":                          inPlace,
		},
		attributes: []string{"AvailabilityZone", "AvailabilityZoneId", "CidrBlock", "Ipv6CidrBlocks", "NetworkAclAssociationId", "OutpostArn", "SubnetId", "VpcId"},
		id:         ec2ID("subnet"),
		attrs: func(d *Deps, r *stack.Request, id string) (map[string]any, error) {
			in := read(r)
			az := in.str("AvailabilityZone")
			if az == "" {
				// AWS picks a zone; the first of Fn::GetAZs is as good.
				az = d.Region + "a"
			}
			azID := in.str("AvailabilityZoneId")
			if last := az[len(az)-1]; azID == "" && 'a' <= last && last <= 'z' {
				// Zone IDs number the zones: us-east-1a may be use1-az4.
				azID = fmt.Sprintf("%s-az%d", d.Region, last-'a'+1)
			}
			return map[string]any{
				"AvailabilityZone":        az,
				"AvailabilityZoneId":      azID,
				"CidrBlock":               in.str("CidrBlock"),
				"Ipv6CidrBlocks":          []any{},
				"NetworkAclAssociationId": awsID("aclassoc", r.Token, "default"),
				"OutpostArn":              in.str("OutpostArn"),
				"SubnetId":                id,
				"VpcId":                   in.str("VpcId"),
			}, in.err
		},
	},
	"AWS::EC2::InternetGateway": {
		properties: map[string]stack.Property{"Tags": inPlace},
		attributes: []string{"InternetGatewayId"},
		id:         ec2ID("igw"),
		attrs: func(_ *Deps, _ *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"InternetGatewayId": id}, nil
		},
	},
	"AWS::EC2::VPCGatewayAttachment": {
		properties: map[string]stack.Property{
			"VpcId":             requiredReplace,
			"InternetGatewayId": inPlace,
			"VpnGatewayId":      inPlace,
		},
		attributes: []string{"AttachmentType", "VpcId"},
		id:         generated,
		attrs: func(_ *Deps, r *stack.Request, _ string) (map[string]any, error) {
			in := read(r)
			kind := "igw"
			if in.str("VpnGatewayId") != "" {
				kind = "vgw"
			}
			return map[string]any{"AttachmentType": kind, "VpcId": in.str("VpcId")}, in.err
		},
	},
	"AWS::EC2::EIP": {
		properties: map[string]stack.Property{
			"Address":            replace,
			"Domain":             replace,
			"IpamPoolId":         replace,
			"NetworkBorderGroup": replace,
			"TransferAddress":    replace,
			"InstanceId":         inPlace,
			"PublicIpv4Pool":     inPlace,
			"Tags":               inPlace,
		},
		attributes: []string{"AllocationId", "PublicIp"},
		// As on AWS, Ref gives the address itself. It is taken from
		// 198.18.0.0/15, set aside for benchmarks (RFC 2544): never routed,
		// so it cannot be mistaken for a real host's.
		id: func(_ *Deps, r *stack.Request) (string, error) {
			sum := digest(r.Token, "eip")
			return fmt.Sprintf("198.%d.%d.%d", 18+(sum[0]&1), sum[1], 1+sum[2]%254), nil
		},
		attrs: func(_ *Deps, r *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"AllocationId": awsID("eipalloc", r.Token, "id"), "PublicIp": id}, nil
		},
	},
	"AWS::EC2::NatGateway": {
		properties: map[string]stack.Property{
			"SubnetId":                       requiredReplace,
			"AllocationId":                   replace,
			"ConnectivityType":               replace,
			"PrivateIpAddress":               replace,
			"MaxDrainDurationSeconds":        inPlace,
			"SecondaryAllocationIds":         inPlace,
			"SecondaryPrivateIpAddressCount": inPlace,
			"SecondaryPrivateIpAddresses":    inPlace,
			"Tags":                           inPlace,
		},
		attributes: []string{"NatGatewayId"},
		id:         ec2ID("nat"),
		attrs: func(_ *Deps, _ *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"NatGatewayId": id}, nil
		},
	},
	"AWS::EC2::RouteTable": {
		properties: map[string]stack.Property{"VpcId": requiredReplace, "Tags": inPlace},
		attributes: []string{"RouteTableId"},
		id:         ec2ID("rtb"),
		attrs: func(_ *Deps, _ *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"RouteTableId": id}, nil
		},
	},
	"AWS::EC2::Route": {
		properties: map[string]stack.Property{
			"RouteTableId":                requiredReplace,
			"DestinationCidrBlock":        replace,
			"DestinationIpv6CidrBlock":    replace,
			"DestinationPrefixListId":     replace,
			"CarrierGatewayId":            inPlace,
			"CoreNetworkArn":              inPlace,
			"EgressOnlyInternetGatewayId": inPlace,
			"GatewayId":                   inPlace,
			"InstanceId":                  inPlace,
			"LocalGatewayId":              inPlace,
			"NatGatewayId":                inPlace,
			"NetworkInterfaceId":          inPlace,
			"TransitGatewayId":            inPlace,
			"VpcEndpointId":               inPlace,
			"VpcPeeringConnectionId":      inPlace,
		},
		attributes: []string{"CidrBlock"},
		id:         generated,
		attrs: func(_ *Deps, r *stack.Request, _ string) (map[string]any, error) {
			in := read(r)
			cidr := in.str("DestinationCidrBlock")
			if cidr == "" {
				cidr = in.str("DestinationIpv6CidrBlock")
			}
			return map[string]any{"CidrBlock": cidr}, in.err
		},
	},
	"AWS::EC2::SubnetRouteTableAssociation": {
		properties: map[string]stack.Property{"RouteTableId": requiredReplace, "SubnetId": requiredReplace},
		attributes: []string{"Id"},
		id:         ec2ID("rtbassoc"),
		attrs: func(_ *Deps, _ *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"Id": id}, nil
		},
	},
	"AWS::EC2::SecurityGroup": {
		properties: map[string]stack.Property{
			"GroupDescription":     requiredReplace,
			"GroupName":            replace,
			"VpcId":                replace,
			"SecurityGroupEgress":  inPlace,
			"SecurityGroupIngress": inPlace,
			"Tags":                 inPlace,
		},
		attributes: []string{"GroupId", "Id", "VpcId"},
		name:       "GroupName",
		id:         ec2ID("sg"),
		attrs: func(d *Deps, r *stack.Request, id string) (map[string]any, error) {
			in := read(r)
			vpc := in.str("VpcId")
			if vpc == "" {
				// Without a VpcId AWS uses the default VPC: one per
				// account and region.
				vpc = awsID("vpc", d.AccountID+"/"+d.Region, "default")
			}
			return map[string]any{"GroupId": id, "Id": id, "VpcId": vpc}, in.err
		},
	},
	// Approval notifications are not sent yet: the topic is a name.
	"AWS::SNS::Topic": {
		properties: map[string]stack.Property{
			"TopicName":                 replace,
			"DisplayName":               inPlace,
			"Subscription":              inPlace,
			"KmsMasterKeyId":            inPlace,
			"FifoTopic":                 replace,
			"ContentBasedDeduplication": inPlace,
			"Tags":                      inPlace,
		},
		attributes: []string{"TopicArn", "TopicName"},
		name:       "TopicName",
		id: func(d *Deps, r *stack.Request) (string, error) {
			name, err := named("TopicName", 256)(d, r)
			return fmt.Sprintf("arn:%s:sns:%s:%s:%s", d.Partition, d.Region, d.AccountID, name), err
		},
		attrs: func(_ *Deps, _ *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"TopicArn": id, "TopicName": id[strings.LastIndex(id, ":")+1:]}, nil
		},
	},
	"AWS::IAM::Role": {
		properties: map[string]stack.Property{
			"AssumeRolePolicyDocument": requiredInPlace,
			"Path":                     replace,
			"RoleName":                 replace,
			"Description":              inPlace,
			"ManagedPolicyArns":        inPlace,
			"MaxSessionDuration":       inPlace,
			"PermissionsBoundary":      inPlace,
			"Policies":                 inPlace,
			"Tags":                     inPlace,
		},
		attributes: []string{"Arn", "RoleId"},
		name:       "RoleName",
		id:         named("RoleName", 64),
		attrs: func(d *Deps, r *stack.Request, id string) (map[string]any, error) {
			in := read(r)
			return map[string]any{
				"Arn": fmt.Sprintf("arn:%s:iam::%s:role%s%s", d.Partition, d.AccountID, iamPath(in), id),
				// Role IDs are "AROA" and 17 capitals and digits.
				"RoleId": "AROA" + strings.ToUpper(randomChars(r.Token, "role-id", 17)),
			}, in.err
		},
	},
	"AWS::IAM::InstanceProfile": {
		properties: map[string]stack.Property{
			"Roles":               requiredInPlace,
			"InstanceProfileName": replace,
			"Path":                replace,
		},
		attributes: []string{"Arn"},
		name:       "InstanceProfileName",
		id:         named("InstanceProfileName", 128),
		attrs: func(d *Deps, r *stack.Request, id string) (map[string]any, error) {
			in := read(r)
			return map[string]any{
				"Arn": fmt.Sprintf("arn:%s:iam::%s:instance-profile%s%s", d.Partition, d.AccountID, iamPath(in), id),
			}, in.err
		},
	},
	"AWS::IAM::Policy": {
		properties: map[string]stack.Property{
			"PolicyDocument": requiredInPlace,
			"PolicyName":     requiredInPlace,
			"Groups":         inPlace,
			"Roles":          inPlace,
			"Users":          inPlace,
		},
		attributes: []string{"Id"},
		id:         generated,
		attrs: func(_ *Deps, _ *stack.Request, id string) (map[string]any, error) {
			return map[string]any{"Id": id}, nil
		},
	},
}
