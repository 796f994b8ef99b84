package ec2_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

func tcp(port int32, cidr string) types.IpPermission {
	return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		IpRanges: []types.IpRange{{CidrIp: aws.String(cidr)}}}
}

func TestSecurityGroups(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2()
	created := gantrytest.Must(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("web servers"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("app"), Value: aws.String("shop")}}}},
	}))(t)
	web := aws.ToString(created.GroupId)
	if len(web) != len("sg-")+17 || len(created.Tags) != 1 {
		t.Fatalf("created %+v", created)
	}
	_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("again")})
	gantrytest.WantCode(t, err, "InvalidGroup.Duplicate")
	if !contains(err.Error(), "The security group 'web' already exists for VPC 'vpc-") {
		t.Fatal(err)
	}
	db := aws.ToString(gantrytest.Must(c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("databases")}))(t).GroupId)

	// Ingress: HTTP from anywhere, 5432 from the web group.
	auth := gantrytest.Must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: &web, IpPermissions: []types.IpPermission{tcp(80, "0.0.0.0/0")}}))(t)
	if !aws.ToBool(auth.Return) || len(auth.SecurityGroupRules) != 1 || aws.ToString(auth.SecurityGroupRules[0].CidrIpv4) != "0.0.0.0/0" || aws.ToBool(auth.SecurityGroupRules[0].IsEgress) {
		t.Fatalf("authorize: %+v", auth)
	}
	gantrytest.Must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: &db, IpPermissions: []types.IpPermission{{IpProtocol: aws.String("6"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &web}}}}}))(t)
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{tcp(80, "0.0.0.0/0")}})
	gantrytest.WantCode(t, err, "InvalidPermission.Duplicate")
	if !contains(err.Error(), `the specified rule "peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW" already exists`) {
		t.Fatal(err)
	}
	// The flat form (CidrIp, IpProtocol, ports) works too, by group name.
	gantrytest.Must(c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupName: aws.String("web"), IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), CidrIp: aws.String("10.0.0.0/8")}))(t)

	for _, tc := range []struct {
		name string
		perm types.IpPermission
		code string
	}{
		{"tcp without ports", types.IpPermission{IpProtocol: aws.String("tcp"), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.0/24")}}}, "InvalidParameterValue"},
		{"ports reversed", types.IpPermission{IpProtocol: aws.String("udp"), FromPort: aws.Int32(9), ToPort: aws.Int32(1), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.0/24")}}}, "InvalidParameterValue"},
		{"bad CIDR", tcp(22, "1.2.3.4/24"), "InvalidParameterValue"},
		{"unknown protocol", types.IpPermission{IpProtocol: aws.String("carrier-pigeon"), IpRanges: []types.IpRange{{CidrIp: aws.String("1.2.3.0/24")}}}, "InvalidParameterValue"},
		{"unknown peer group", types.IpPermission{IpProtocol: aws.String("-1"), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String("sg-0123456789abcdef0")}}}, "InvalidGroup.NotFound"},
		{"no peer", types.IpPermission{IpProtocol: aws.String("-1")}, "MissingParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{tc.perm}})
			gantrytest.WantCode(t, err, tc.code)
		})
	}

	// Egress: replace the default all-traffic rule with HTTPS only.
	gantrytest.Must(c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &web, IpPermissions: []types.IpPermission{tcp(443, "0.0.0.0/0")}}))(t)
	rev := gantrytest.Must(c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &web, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}))(t)
	if len(rev.RevokedSecurityGroupRules) != 1 || aws.ToString(rev.RevokedSecurityGroupRules[0].IpProtocol) != "-1" {
		t.Fatalf("revoked %+v", rev)
	}

	g := gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{web}}))(t).SecurityGroups[0]
	if len(g.IpPermissions) != 2 || aws.ToInt32(g.IpPermissions[0].FromPort) != 80 || aws.ToInt32(g.IpPermissions[1].FromPort) != 443 ||
		len(g.IpPermissionsEgress) != 1 || aws.ToInt32(g.IpPermissionsEgress[0].ToPort) != 443 || g.IpPermissions[0].UserIdGroupPairs == nil {
		t.Fatalf("web group: in %+v out %+v", g.IpPermissions, g.IpPermissionsEgress)
	}
	byRule := gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{filter("ip-permission.group-id", web)}}))(t).SecurityGroups
	if len(byRule) != 1 || aws.ToString(byRule[0].GroupId) != db || aws.ToString(byRule[0].IpPermissions[0].IpProtocol) != "tcp" {
		t.Fatalf("groups with a rule from web: %+v", byRule)
	}
	byName := gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{filter("group-name", "d*"), filter("tag-key", "app")}}))(t).SecurityGroups
	if len(byName) != 0 {
		t.Fatalf("db has no app tag, got %+v", byName)
	}

	// Revoking what is not there.
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{tcp(8080, "0.0.0.0/0")}})
	gantrytest.WantCode(t, err, "InvalidPermission.NotFound")
	if !contains(err.Error(), "The specified rule does not exist in this security group.") {
		t.Fatal(err)
	}

	// Revoking one rule that is there and one that is not: the first goes,
	// the second comes back as unknown.
	part := gantrytest.Must(c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &web,
		IpPermissions: []types.IpPermission{tcp(443, "10.0.0.0/8"), tcp(8443, "10.0.0.0/8")}}))(t)
	if len(part.RevokedSecurityGroupRules) != 1 || aws.ToInt32(part.RevokedSecurityGroupRules[0].FromPort) != 443 ||
		len(part.UnknownIpPermissions) != 1 || aws.ToInt32(part.UnknownIpPermissions[0].FromPort) != 8443 {
		t.Fatalf("partial revoke: %+v", part)
	}
	g = gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{web}}))(t).SecurityGroups[0]
	if len(g.IpPermissions) != 1 || aws.ToInt32(g.IpPermissions[0].FromPort) != 80 {
		t.Fatalf("web ingress after revoke: %+v", g.IpPermissions)
	}

	// web is referenced by db's rule; the default group is never deleted by hand.
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &web})
	gantrytest.WantCode(t, err, "DependencyViolation")
	def := gantrytest.Must(c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}}))(t).SecurityGroups[0]
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: def.GroupId})
	gantrytest.WantCode(t, err, "CannotDelete")
	gantrytest.Must(c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &db}))(t)
	gantrytest.Must(c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("web")}))(t)
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{web}})
	gantrytest.WantCode(t, err, "InvalidGroup.NotFound")
	if !contains(err.Error(), "The security group '"+web+"' does not exist") {
		t.Fatal(err)
	}
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"web"}})
	gantrytest.WantCode(t, err, "InvalidGroup.NotFound")
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2()
	vpc := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs[0].VpcId
	sn := gantrytest.Must(c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{}))(t).Subnets[0].SubnetId
	gantrytest.Must(c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*vpc, *sn}, Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("dev")}, {Key: aws.String("owner"), Value: aws.String("ops")}}}))(t)
	tags := gantrytest.Must(c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("resource-id", *vpc)}}))(t).Tags
	if len(tags) != 2 || aws.ToString(tags[0].Key) != "env" || tags[0].ResourceType != types.ResourceTypeVpc {
		t.Fatalf("tags of the VPC: %+v", tags)
	}
	all := gantrytest.Must(c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("key", "env")}}))(t).Tags
	if len(all) != 2 {
		t.Fatalf("env tags: %+v", all)
	}
	// Overwrite one value; delete one tag by key and another only if its value matches.
	gantrytest.Must(c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*vpc}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}))(t)
	gantrytest.Must(c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{*vpc}, Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("someone-else")}}}))(t)
	v := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{*vpc}}))(t).Vpcs[0]
	if len(v.Tags) != 2 || aws.ToString(v.Tags[0].Value) != "prod" {
		t.Fatalf("VPC tags: %+v", v.Tags)
	}
	gantrytest.Must(c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{*vpc}, Tags: []types.Tag{{Key: aws.String("owner")}}}))(t)
	v = gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{*vpc}}))(t).Vpcs[0]
	if len(v.Tags) != 1 || aws.ToString(v.Tags[0].Key) != "env" {
		t.Fatalf("VPC tags after delete: %+v", v.Tags)
	}
	// A resource named twice is tagged once.
	gantrytest.Must(c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*sn, *sn}, Tags: []types.Tag{{Key: aws.String("twice"), Value: aws.String("1")}}}))(t)
	gantrytest.Must(c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{*sn, *sn}, Tags: []types.Tag{{Key: aws.String("twice")}}}))(t)
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"vpc-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	gantrytest.WantCode(t, err, "InvalidVpcID.NotFound")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"i-0123456789abcdef0"}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	gantrytest.WantCode(t, err, "InvalidID")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{*vpc}, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("b")}}})
	gantrytest.WantCode(t, err, "InvalidParameterValue")
}
