package providers

import (
	"context"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/slipway/slipway/stack"
)

func TestModelledTypes(t *testing.T) {
	reg := schemaOnly()
	for _, tc := range []struct {
		typ   string
		props map[string]any
		// id is the shape of the physical ID; attrs are attribute values
		// known in advance.
		id    string
		attrs map[string]any
	}{
		{"AWS::EC2::VPC", map[string]any{"CidrBlock": "10.192.0.0/16", "Tags": []any{}},
			`^vpc-[0-9a-f]{17}$`, map[string]any{"CidrBlock": "10.192.0.0/16", "Ipv6CidrBlocks": []any{}}},
		{"AWS::EC2::Subnet", map[string]any{"VpcId": "vpc-1", "AvailabilityZone": "localb", "CidrBlock": "10.192.10.0/24", "MapPublicIpOnLaunch": true},
			`^subnet-[0-9a-f]{17}$`, map[string]any{"AvailabilityZone": "localb", "AvailabilityZoneId": "local-az2", "VpcId": "vpc-1", "CidrBlock": "10.192.10.0/24", "OutpostArn": ""}},
		{"AWS::EC2::InternetGateway", map[string]any{"Tags": []any{}},
			`^igw-[0-9a-f]{17}$`, nil},
		{"AWS::EC2::VPCGatewayAttachment", map[string]any{"InternetGatewayId": "igw-1", "VpcId": "vpc-1"},
			`^app-staging-Thing-[0-9A-Z]{12}$`, map[string]any{"AttachmentType": "igw", "VpcId": "vpc-1"}},
		{"AWS::EC2::EIP", map[string]any{"Domain": "vpc"},
			`^198\.1[89]\.\d{1,3}\.\d{1,3}$`, nil},
		{"AWS::EC2::NatGateway", map[string]any{"AllocationId": "eipalloc-1", "SubnetId": "subnet-1"},
			`^nat-[0-9a-f]{17}$`, nil},
		{"AWS::EC2::RouteTable", map[string]any{"VpcId": "vpc-1"},
			`^rtb-[0-9a-f]{17}$`, nil},
		{"AWS::EC2::Route", map[string]any{"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"},
			`^app-staging-Thing-[0-9A-Z]{12}$`, map[string]any{"CidrBlock": "0.0.0.0/0"}},
		{"AWS::EC2::SubnetRouteTableAssociation", map[string]any{"RouteTableId": "rtb-1", "SubnetId": "subnet-1"},
			`^rtbassoc-[0-9a-f]{17}$`, nil},
		{"AWS::EC2::SecurityGroup", map[string]any{"VpcId": "vpc-1", "GroupDescription": "app servers", "SecurityGroupIngress": []any{map[string]any{"CidrIp": "0.0.0.0/0", "IpProtocol": "-1"}}},
			`^sg-[0-9a-f]{17}$`, map[string]any{"VpcId": "vpc-1"}},
		{"AWS::IAM::Role", map[string]any{"Path": "/", "AssumeRolePolicyDocument": "{}", "Policies": []any{}},
			`^app-staging-Thing-[0-9A-Z]{12}$`, nil},
		{"AWS::IAM::InstanceProfile", map[string]any{"Path": "/apps/", "Roles": []any{"role"}},
			`^app-staging-Thing-[0-9A-Z]{12}$`, nil},
		{"AWS::IAM::Policy", map[string]any{"PolicyName": "p", "PolicyDocument": map[string]any{}, "Roles": []any{"role"}},
			`^app-staging-Thing-[0-9A-Z]{12}$`, nil},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			ctx := context.Background()
			p, ok := reg.Provider(tc.typ)
			if !ok {
				t.Fatalf("%s is not registered", tc.typ)
			}
			s := p.Schema()
			if !s.Modelled {
				t.Error("not marked Modelled")
			}
			for k := range tc.props {
				if _, ok := s.Properties[k]; !ok {
					t.Errorf("property %s refused", k)
				}
			}
			for k, prop := range s.Properties {
				if _, ok := tc.props[k]; prop.Required && !ok {
					t.Errorf("the table's resource lacks required property %s", k)
				}
			}
			req := func(token string) *stack.Request {
				return &stack.Request{StackName: "app-staging", Logical: "Thing", Type: tc.typ, Token: token, Properties: tc.props}
			}

			out, err := p.Create(ctx, req("tok-1"))
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tc.id).MatchString(out.PhysicalID) {
				t.Errorf("physical ID %q does not match %s", out.PhysicalID, tc.id)
			}
			names := slices.Sorted(maps.Keys(out.Attrs))
			if want := slices.Sorted(slices.Values(s.Attributes)); !slices.Equal(names, want) {
				t.Errorf("attributes %v, schema lists %v", names, want)
			}
			for k, v := range tc.attrs {
				if !reflect.DeepEqual(out.Attrs[k], v) {
					t.Errorf("%s = %#v, want %#v", k, out.Attrs[k], v)
				}
			}

			again, err := p.Create(ctx, req("tok-1"))
			if err != nil || !reflect.DeepEqual(again, out) {
				t.Errorf("resumed create gave %+v (%v), first gave %+v", again, err, out)
			}
			other, err := p.Create(ctx, req("tok-2"))
			if err != nil || other.PhysicalID == out.PhysicalID {
				t.Errorf("another token gave physical ID %q (%v), as the first", other.PhysicalID, err)
			}

			upd := req("tok-1")
			upd.PhysicalID, upd.Previous = out.PhysicalID, tc.props
			uout, err := p.Update(ctx, upd)
			if err != nil || !reflect.DeepEqual(uout, out) {
				t.Errorf("Update gave %+v (%v), want %+v", uout, err, out)
			}
			if err := p.Delete(ctx, upd); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
	}
}

func TestNamedIAMResourcesUseTheirNamesAndPaths(t *testing.T) {
	reg := schemaOnly()
	role, _ := reg.Provider("AWS::IAM::Role")
	out, err := role.Create(context.Background(), &stack.Request{StackName: "s", Logical: "InstanceRole", Token: "t",
		Properties: map[string]any{"RoleName": "app-staging-local", "Path": "/service/", "AssumeRolePolicyDocument": "{}"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.PhysicalID != "app-staging-local" || out.Attrs["Arn"] != "arn:aws:iam::000000000000:role/service/app-staging-local" {
		t.Errorf("role: %+v", out)
	}
	if id, _ := out.Attrs["RoleId"].(string); !regexp.MustCompile(`^AROA[0-9A-Z]{17}$`).MatchString(id) {
		t.Errorf("RoleId %q", id)
	}
	profile, _ := reg.Provider("AWS::IAM::InstanceProfile")
	out, err = profile.Create(context.Background(), &stack.Request{StackName: "s", Logical: "Profile", Token: "t",
		Properties: map[string]any{"Roles": []any{"r"}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attrs["Arn"] != "arn:aws:iam::000000000000:instance-profile/"+out.PhysicalID {
		t.Errorf("instance profile: %+v", out)
	}
	// A security group without a VPC is in the account's default VPC.
	sg, _ := reg.Provider("AWS::EC2::SecurityGroup")
	a, _ := sg.Create(context.Background(), &stack.Request{Token: "a", Properties: map[string]any{"GroupDescription": "x"}})
	b, _ := sg.Create(context.Background(), &stack.Request{Token: "b", Properties: map[string]any{"GroupDescription": "y"}})
	if v, _ := a.Attrs["VpcId"].(string); !regexp.MustCompile(`^vpc-[0-9a-f]{17}$`).MatchString(v) || v != b.Attrs["VpcId"] {
		t.Errorf("default VPCs %v and %v", a.Attrs["VpcId"], b.Attrs["VpcId"])
	}
}
