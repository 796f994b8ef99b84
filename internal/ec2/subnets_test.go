package ec2_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

func TestSubnets(t *testing.T) {
	ctx := context.Background()
	region := gantrytest.NewRegion()
	c := gantrytest.Shared(t).EC2In(region)
	vpc := aws.ToString(gantrytest.Must(c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")}))(t).Vpc.VpcId)
	sn := gantrytest.Must(c.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: &vpc, CidrBlock: aws.String("10.20.1.0/24"), AvailabilityZone: aws.String(region + "b"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("web")}}}},
	}))(t).Subnet
	if aws.ToString(sn.AvailabilityZone) != region+"b" || aws.ToInt32(sn.AvailableIpAddressCount) != 251 || aws.ToBool(sn.DefaultForAz) ||
		aws.ToString(sn.SubnetArn) != "arn:aws:ec2:"+region+":"+gantrytest.Account+":subnet/"+aws.ToString(sn.SubnetId) || len(sn.Tags) != 1 {
		t.Fatalf("created %+v", sn)
	}
	// Without a zone, the VPC's emptiest zone: a.
	sn2 := gantrytest.Must(c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, CidrBlock: aws.String("10.20.2.0/24")}))(t).Subnet
	if aws.ToString(sn2.AvailabilityZone) != region+"a" {
		t.Fatalf("zone chosen: %s", aws.ToString(sn2.AvailabilityZone))
	}
	cases := []struct {
		name, vpc, cidr, zone, code, msg string
	}{
		{"overlaps a subnet", vpc, "10.20.1.128/25", "", "InvalidSubnet.Conflict", "The CIDR '10.20.1.128/25' conflicts with another subnet"},
		{"contains a subnet", vpc, "10.20.0.0/22", "", "InvalidSubnet.Conflict", "conflicts with another subnet"},
		{"outside the VPC", vpc, "10.21.0.0/24", "", "InvalidSubnet.Range", "The CIDR '10.21.0.0/24' is invalid."},
		{"larger than the VPC", vpc, "10.20.0.0/15", "", "InvalidSubnet.Range", "is invalid"},
		{"too small", vpc, "10.20.9.0/29", "", "InvalidSubnet.Range", "is invalid"},
		{"not a CIDR", vpc, "10.20.9.0/33", "", "InvalidParameterValue", "not a valid CIDR block"},
		{"unknown zone", vpc, "10.20.9.0/24", region + "z", "InvalidParameterValue", "Subnets can currently only be created in the following availability zones: " + region + "a, " + region + "b, " + region + "c."},
		{"unknown VPC", "vpc-0123456789abcdef0", "10.20.9.0/24", "", "InvalidVpcID.NotFound", "The vpc ID 'vpc-0123456789abcdef0' does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &ec2.CreateSubnetInput{CidrBlock: aws.String(tc.cidr)}
			if tc.vpc != "" {
				in.VpcId = aws.String(tc.vpc)
			}
			if tc.zone != "" {
				in.AvailabilityZone = aws.String(tc.zone)
			}
			_, err := c.CreateSubnet(ctx, in)
			gantrytest.WantCode(t, err, tc.code)
			if !contains(err.Error(), tc.msg) {
				t.Fatalf("message %v lacks %q", err, tc.msg)
			}
		})
	}
	// Filters: vpc-id and availability-zone and a tag; ids.
	got := gantrytest.Must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
		filter("vpc-id", vpc), filter("availability-zone", region+"b", region+"c")}}))(t).Subnets
	if len(got) != 1 || aws.ToString(got[0].SubnetId) != aws.ToString(sn.SubnetId) {
		t.Fatalf("filtered: %+v", got)
	}
	got = gantrytest.Must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:tier", "web")}}))(t).Subnets
	if len(got) != 1 {
		t.Fatalf("tag filter: %d", len(got))
	}
	got = gantrytest.Must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{aws.ToString(sn2.SubnetId)}}))(t).Subnets
	if len(got) != 1 || aws.ToString(got[0].CidrBlock) != "10.20.2.0/24" {
		t.Fatalf("by id: %+v", got)
	}
	_, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("color", "red")}})
	gantrytest.WantCode(t, err, "InvalidParameterValue")
	// Pages of 5 through the SDK's paginator: 3 default + 2 of ours.
	var ids []string
	p := ec2.NewDescribeSubnetsPaginator(c, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
	pages := 0
	for p.HasMorePages() {
		out := gantrytest.Must(p.NextPage(ctx))(t)
		pages++
		for _, s := range out.Subnets {
			ids = append(ids, aws.ToString(s.SubnetId))
		}
	}
	if len(ids) != 5 {
		t.Fatalf("paginated %d subnets over %d pages, want 5", len(ids), pages)
	}
	_, err = c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String("subnet-0123456789abcdef0")})
	gantrytest.WantCode(t, err, "InvalidSubnetID.NotFound")
	if !contains(err.Error(), "The subnet ID 'subnet-0123456789abcdef0' does not exist") {
		t.Fatal(err)
	}
	// A freed range can be used again.
	gantrytest.Must(c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: sn.SubnetId}))(t)
	gantrytest.Must(c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpc, CidrBlock: aws.String("10.20.1.0/25")}))(t)
}

func TestAvailabilityZones(t *testing.T) {
	ctx := context.Background()
	region := gantrytest.NewRegion()
	c := gantrytest.Shared(t).EC2In(region)
	zs := gantrytest.Must(c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{}))(t).AvailabilityZones
	if len(zs) != 3 || aws.ToString(zs[0].ZoneName) != region+"a" || aws.ToString(zs[2].ZoneName) != region+"c" ||
		zs[0].State != types.AvailabilityZoneStateAvailable || aws.ToString(zs[0].RegionName) != region || zs[0].Messages == nil {
		t.Fatalf("zones = %+v", zs)
	}
	one := gantrytest.Must(c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("zone-name", "*b")}}))(t).AvailabilityZones
	if len(one) != 1 || aws.ToString(one[0].ZoneName) != region+"b" {
		t.Fatalf("filtered zones = %+v", one)
	}
	_, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{region + "q"}})
	gantrytest.WantCode(t, err, "InvalidParameterValue")
}

// A region is whatever the request was signed for: one without dashes
// still gets its zones and subnets described.
func TestRegionWithoutDashes(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2In("gantrylocal")
	subnets := gantrytest.Must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{}))(t).Subnets
	if len(subnets) != 3 || aws.ToString(subnets[0].AvailabilityZoneId) == "" {
		t.Fatalf("subnets: %+v", subnets)
	}
}

// Paging bounds come from EC2, not from a slice index.
func TestDescribeTagsMaxResults(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2()
	vpc := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs[0].VpcId
	gantrytest.Must(c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*vpc}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}}}))(t)
	for _, n := range []int32{0, -1} {
		_, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(n)})
		gantrytest.WantCode(t, err, "InvalidParameterValue")
	}
}
