package ec2_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// The first call of an account and region finds the default VPC AWS
// accounts have: 172.31.0.0/16, one default /20 subnet per zone, and a
// default security group that allows all traffic from itself and all egress.
func TestDefaultVPC(t *testing.T) {
	ctx := context.Background()
	env := gantrytest.Shared(t)
	region := gantrytest.NewRegion()
	c := env.EC2In(region)
	vpcs := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs
	if len(vpcs) != 1 {
		t.Fatalf("want one default VPC, got %d", len(vpcs))
	}
	v := vpcs[0]
	if !aws.ToBool(v.IsDefault) || aws.ToString(v.CidrBlock) != "172.31.0.0/16" || v.State != types.VpcStateAvailable ||
		aws.ToString(v.OwnerId) != gantrytest.Account || len(aws.ToString(v.VpcId)) != len("vpc-")+17 {
		t.Fatalf("default VPC = %+v", v)
	}
	if len(v.CidrBlockAssociationSet) != 1 || v.CidrBlockAssociationSet[0].CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated {
		t.Fatalf("CIDR association = %+v", v.CidrBlockAssociationSet)
	}
	subnets := gantrytest.Must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []types.Filter{filter("vpc-id", *v.VpcId), filter("default-for-az", "true")}}))(t).Subnets
	got := map[string]string{}
	for _, s := range subnets {
		got[aws.ToString(s.AvailabilityZone)] = aws.ToString(s.CidrBlock)
		if aws.ToInt32(s.AvailableIpAddressCount) != 4091 || !aws.ToBool(s.MapPublicIpOnLaunch) || s.Ipv6CidrBlockAssociationSet == nil {
			t.Fatalf("default subnet %+v", s)
		}
	}
	want := map[string]string{region + "a": "172.31.0.0/20", region + "b": "172.31.16.0/20", region + "c": "172.31.32.0/20"}
	if len(got) != 3 || got[region+"a"] != want[region+"a"] || got[region+"b"] != want[region+"b"] || got[region+"c"] != want[region+"c"] {
		t.Fatalf("default subnets = %v, want %v", got, want)
	}
	sgs := gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}}))(t).SecurityGroups
	if len(sgs) != 1 || aws.ToString(sgs[0].VpcId) != *v.VpcId {
		t.Fatalf("default group = %+v", sgs)
	}
	sg := sgs[0]
	in, out := sg.IpPermissions, sg.IpPermissionsEgress
	if len(in) != 1 || aws.ToString(in[0].IpProtocol) != "-1" || len(in[0].UserIdGroupPairs) != 1 ||
		aws.ToString(in[0].UserIdGroupPairs[0].GroupId) != aws.ToString(sg.GroupId) || len(in[0].IpRanges) != 0 {
		t.Fatalf("default ingress = %+v", in)
	}
	if len(out) != 1 || aws.ToString(out[0].IpProtocol) != "-1" || len(out[0].IpRanges) != 1 || aws.ToString(out[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Fatalf("default egress = %+v", out)
	}
	// Another region has its own default VPC.
	other := gantrytest.Must(env.EC2().DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs
	if len(other) != 1 || aws.ToString(other[0].VpcId) == aws.ToString(v.VpcId) {
		t.Fatalf("other region's VPCs = %+v", other)
	}
}

func TestVPCLifecycle(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2()
	out := gantrytest.Must(c.CreateVpc(ctx, &ec2.CreateVpcInput{
		CidrBlock: aws.String("10.1.2.3/16"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("app")}}}},
	}))(t)
	v := out.Vpc
	if aws.ToString(v.CidrBlock) != "10.1.0.0/16" || aws.ToBool(v.IsDefault) || len(v.Tags) != 1 || v.InstanceTenancy != types.TenancyDefault {
		t.Fatalf("created %+v", v)
	}
	id := aws.ToString(v.VpcId)
	found := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("tag:Name", "ap*")}}))(t).Vpcs
	if len(found) != 1 || aws.ToString(found[0].VpcId) != id {
		t.Fatalf("tag filter found %+v", found)
	}
	found = gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("isDefault", "false"), filter("cidr", "10.1.0.0/16")}}))(t).Vpcs
	if len(found) != 1 {
		t.Fatalf("isDefault+cidr filter found %d", len(found))
	}
	none := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("tag-key", "Nope")}}))(t)
	if none.Vpcs == nil || len(none.Vpcs) != 0 {
		t.Fatalf("no match must be an empty list, got %#v", none.Vpcs)
	}
	// A new VPC has its own default security group.
	sgs := gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{filter("vpc-id", id)}}))(t).SecurityGroups
	if len(sgs) != 1 || aws.ToString(sgs[0].GroupName) != "default" {
		t.Fatalf("new VPC's groups = %+v", sgs)
	}
	// A subnet and a group of its own keep it alive.
	sn := gantrytest.Must(c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &id, CidrBlock: aws.String("10.1.0.0/24")}))(t).Subnet
	_, err := c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &id})
	gantrytest.WantCode(t, err, "DependencyViolation")
	if msg := err.Error(); !contains(msg, "The vpc '"+id+"' has dependencies and cannot be deleted.") {
		t.Fatalf("message: %v", err)
	}
	gantrytest.Must(c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: sn.SubnetId}))(t)
	gantrytest.Must(c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &id}))(t)
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	gantrytest.WantCode(t, err, "InvalidVpcID.NotFound")
	if !contains(err.Error(), "The vpc ID '"+id+"' does not exist") {
		t.Fatalf("message: %v", err)
	}
	// Its default group went with it.
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(sgs[0].GroupId)}})
	gantrytest.WantCode(t, err, "InvalidGroup.NotFound")
	_, err = c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &id})
	gantrytest.WantCode(t, err, "InvalidVpcID.NotFound")
}

func TestCreateVpcErrors(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2()
	cases := []struct {
		name string
		in   *ec2.CreateVpcInput
		code string
	}{
		{"not a CIDR", &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0")}, "InvalidParameterValue"},
		{"too big", &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/8")}, "InvalidVpc.Range"},
		{"too small", &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/29")}, "InvalidVpc.Range"},
		{"no CIDR", &ec2.CreateVpcInput{}, "MissingParameter"},
		{"bad tenancy", &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), InstanceTenancy: "shared"}, "InvalidParameterValue"},
		{"tags for a subnet", &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet}}}, "InvalidParameterValue"},
		{"dry run", &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), DryRun: aws.Bool(true)}, "DryRunOperation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateVpc(ctx, tc.in)
			gantrytest.WantCode(t, err, tc.code)
		})
	}
	// None of them created anything.
	if n := len(gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs); n != 1 {
		t.Fatalf("%d VPCs after refused creates, want the default one", n)
	}
}
