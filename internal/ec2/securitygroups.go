package ec2

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

func (s *Service) securityGroupActions(m awsapi.QueryModel) map[string]awsapi.QueryHandler {
	return map[string]awsapi.QueryHandler{
		"CreateSecurityGroup":           action(m, s.CreateSecurityGroup),
		"DescribeSecurityGroups":        action(m, s.DescribeSecurityGroups),
		"DeleteSecurityGroup":           action(m, s.DeleteSecurityGroup),
		"AuthorizeSecurityGroupIngress": action(m, s.AuthorizeSecurityGroupIngress),
		"AuthorizeSecurityGroupEgress":  action(m, s.AuthorizeSecurityGroupEgress),
		"RevokeSecurityGroupIngress":    action(m, s.RevokeSecurityGroupIngress),
		"RevokeSecurityGroupEgress":     action(m, s.RevokeSecurityGroupEgress),
	}
}

// CreateSecurityGroup creates a group in a VPC (the default VPC without
// VpcId) with EC2's default rule: all traffic out to anywhere, nothing in.
func (s *Service) CreateSecurityGroup(ctx context.Context, in *w.CreateSecurityGroupRequest) (*w.CreateSecurityGroupResult, error) {
	sc := s.scope(ctx)
	switch {
	case len(in.GroupName) > 255:
		return nil, InvalidParameterValue.Errorf("Invalid value '%s' for groupName. It must be at most 255 characters.", in.GroupName)
	case strings.HasPrefix(strings.ToLower(in.GroupName), "sg-"):
		return nil, InvalidParameterValue.Errorf("Group names may not be in the format sg-*.")
	case len(in.Description) > 255:
		return nil, InvalidParameterValue.Errorf("Invalid value for GroupDescription. It must be at most 255 characters.")
	}
	tags, err := specTags(in.TagSpecifications, "security-group")
	if err != nil {
		return nil, err
	}
	return state.Retry(ctx, func() (*w.CreateSecurityGroupResult, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		vpcID := in.VpcId
		if vpcID == "" {
			vpcID = wd.defaults.VPCID
			if _, ok := wd.vpcs[vpcID]; !ok {
				return nil, awsapi.ClientCode("VPCIdNotSpecified").Errorf("No default VPC for this user")
			}
		}
		if _, err := wd.vpc(vpcID); err != nil {
			return nil, err
		}
		for _, g := range wd.groups {
			if g.VPCID == vpcID && g.Name == in.GroupName {
				return nil, GroupDuplicate.Errorf("The security group '%s' already exists for VPC '%s'", in.GroupName, vpcID)
			}
		}
		g := &model.SecurityGroup{ID: newID("sg"), Name: in.GroupName, Description: in.Description, VPCID: vpcID, Tags: tags}
		g.Egress = []model.SecurityGroupRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"}}
		if _, err := wd.tx(sc).Put(model.SecurityGroupKey(g.ID), g).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.CreateSecurityGroupResult{GroupId: g.ID, SecurityGroupArn: sc.arn("security-group/" + g.ID), Tags: wireTags(tags)}, nil
	})
}

// wireGroup is a group as EC2 describes it.
func (sc scope) wireGroup(g *model.SecurityGroup) w.SecurityGroup {
	return w.SecurityGroup{
		GroupId:             g.ID,
		GroupName:           g.Name,
		Description:         g.Description,
		VpcId:               g.VPCID,
		OwnerId:             sc.Account,
		SecurityGroupArn:    sc.arn("security-group/" + g.ID),
		IpPermissions:       permissions(g.Ingress),
		IpPermissionsEgress: permissions(g.Egress),
		Tags:                wireTags(g.Tags),
	}
}

var groupFilters = filterNames{"group-id", "group-name", "vpc-id", "description", "owner-id",
	"ip-permission.protocol", "ip-permission.from-port", "ip-permission.to-port", "ip-permission.cidr",
	"ip-permission.group-id", "egress.ip-permission.protocol", "egress.ip-permission.from-port",
	"egress.ip-permission.to-port", "egress.ip-permission.cidr", "egress.ip-permission.group-id"}

// ruleAttrs adds the ip-permission.* attributes of rules under prefix.
func ruleAttrs(a attrs, prefix string, rules []model.SecurityGroupRule) {
	for _, r := range rules {
		a[prefix+"protocol"] = append(a[prefix+"protocol"], r.Protocol)
		if hasPorts(r.Protocol) {
			a[prefix+"from-port"] = append(a[prefix+"from-port"], itoa(r.FromPort))
			a[prefix+"to-port"] = append(a[prefix+"to-port"], itoa(r.ToPort))
		}
		if r.CidrIPv4 != "" {
			a[prefix+"cidr"] = append(a[prefix+"cidr"], r.CidrIPv4)
		}
		if r.GroupID != "" {
			a[prefix+"group-id"] = append(a[prefix+"group-id"], r.GroupID)
		}
	}
}

// DescribeSecurityGroups lists the scope's groups, or those named (by id,
// or by name in the default VPC), that match the filters.
func (s *Service) DescribeSecurityGroups(ctx context.Context, in *w.DescribeSecurityGroupsRequest) (*w.DescribeSecurityGroupsResult, error) {
	if err := groupFilters.check(in.Filters); err != nil {
		return nil, err
	}
	sc := s.scope(ctx)
	wd, err := s.load(ctx, sc)
	if err != nil {
		return nil, err
	}
	named := map[string]bool{}
	for _, id := range in.GroupIds {
		if _, err := wd.group(id); err != nil {
			return nil, err
		}
		named[id] = true
	}
	for _, n := range in.GroupNames {
		g, err := wd.groupByName(n, "")
		if err != nil {
			return nil, err
		}
		named[g.ID] = true
	}
	var found []*model.SecurityGroup
	for _, g := range wd.groups {
		if len(named) > 0 && !named[g.ID] {
			continue
		}
		a := attrs{"group-id": {g.ID}, "group-name": {g.Name}, "vpc-id": {g.VPCID}, "description": {g.Description}, "owner-id": {sc.Account}}
		ruleAttrs(a, "ip-permission.", g.Ingress)
		ruleAttrs(a, "egress.ip-permission.", g.Egress)
		if matches(in.Filters, a, g.Tags) {
			found = append(found, g)
		}
	}
	found, next, err := page(found, func(g *model.SecurityGroup) string { return g.ID }, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &w.DescribeSecurityGroupsResult{SecurityGroups: []w.SecurityGroup{}, NextToken: next}
	for _, g := range found {
		out.SecurityGroups = append(out.SecurityGroups, sc.wireGroup(g))
	}
	return out, nil
}

// target resolves the group a call names by id, or by name in the default VPC.
func (wd *world) target(id, name string) (*model.SecurityGroup, error) {
	switch {
	case id != "":
		return wd.group(id)
	case name != "":
		return wd.groupByName(name, "")
	}
	return nil, MissingParameter.Errorf("The request must contain the parameter groupName or groupId")
}

// DeleteSecurityGroup deletes a group that no other group's rule refers to.
// A VPC's default group goes only with its VPC.
func (s *Service) DeleteSecurityGroup(ctx context.Context, in *w.DeleteSecurityGroupRequest) (*w.DeleteSecurityGroupResult, error) {
	sc := s.scope(ctx)
	return state.Retry(ctx, func() (*w.DeleteSecurityGroupResult, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		g, err := wd.target(in.GroupId, in.GroupName)
		if err != nil {
			return nil, err
		}
		if v := wd.vpcs[g.VPCID]; v != nil && v.DefaultSecurityGrp == g.ID {
			return nil, CannotDelete.Errorf("the specified group: \"%s\" name: \"%s\" cannot be deleted by a user", g.ID, g.Name)
		}
		for _, o := range wd.groups {
			if o.ID == g.ID {
				continue
			}
			if slices.ContainsFunc(append(slices.Clone(o.Ingress), o.Egress...), func(r model.SecurityGroupRule) bool { return r.GroupID == g.ID }) {
				return nil, DependencyViolation.Errorf("resource %s has a dependent object", g.ID)
			}
		}
		if _, err := wd.tx(sc).Delete(model.SecurityGroupKey(g.ID)).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.DeleteSecurityGroupResult{GroupId: g.ID, Return: ptr(true)}, nil
	})
}

// AuthorizeSecurityGroupIngress adds inbound rules.
func (s *Service) AuthorizeSecurityGroupIngress(ctx context.Context, in *w.AuthorizeSecurityGroupIngressRequest) (*w.AuthorizeSecurityGroupIngressResult, error) {
	perms := in.IpPermissions
	if p := flatPermission(in.IpProtocol, in.CidrIp, in.SourceSecurityGroupName, in.FromPort, in.ToPort); p != nil {
		perms = append(slices.Clone(perms), *p)
	}
	rules, err := s.authorize(ctx, in.GroupId, in.GroupName, perms, false)
	if err != nil {
		return nil, err
	}
	return &w.AuthorizeSecurityGroupIngressResult{Return: ptr(true), SecurityGroupRules: rules}, nil
}

// AuthorizeSecurityGroupEgress adds outbound rules.
func (s *Service) AuthorizeSecurityGroupEgress(ctx context.Context, in *w.AuthorizeSecurityGroupEgressRequest) (*w.AuthorizeSecurityGroupEgressResult, error) {
	perms := in.IpPermissions
	if p := flatPermission(in.IpProtocol, in.CidrIp, in.SourceSecurityGroupName, in.FromPort, in.ToPort); p != nil {
		perms = append(slices.Clone(perms), *p)
	}
	rules, err := s.authorize(ctx, in.GroupId, "", perms, true)
	if err != nil {
		return nil, err
	}
	return &w.AuthorizeSecurityGroupEgressResult{Return: ptr(true), SecurityGroupRules: rules}, nil
}

func (s *Service) authorize(ctx context.Context, id, name string, perms []w.IpPermission, egress bool) ([]w.SecurityGroupRule, error) {
	sc := s.scope(ctx)
	if len(perms) == 0 {
		return nil, MissingParameter.Errorf("The request must contain the parameter ipPermissions")
	}
	return state.Retry(ctx, func() ([]w.SecurityGroupRule, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		g, err := wd.target(id, name)
		if err != nil {
			return nil, err
		}
		add, err := wd.toRules(sc, g, perms)
		if err != nil {
			return nil, err
		}
		list := &g.Ingress
		if egress {
			list = &g.Egress
		}
		var out []w.SecurityGroupRule
		for i, r := range add {
			if slices.ContainsFunc(*list, func(x model.SecurityGroupRule) bool { return sameRule(x, r) }) ||
				slices.ContainsFunc(add[:i], func(x model.SecurityGroupRule) bool { return sameRule(x, r) }) {
				return nil, PermissionDuplicate.Errorf("the specified rule \"%s\" already exists", describeRule(r))
			}
			out = append(out, sc.wireRule(g, r, egress))
		}
		*list = append(*list, add...)
		if _, err := wd.tx(sc).Put(model.SecurityGroupKey(g.ID), g).Commit(ctx); err != nil {
			return nil, err
		}
		return out, nil
	})
}

// RevokeSecurityGroupIngress removes inbound rules.
func (s *Service) RevokeSecurityGroupIngress(ctx context.Context, in *w.RevokeSecurityGroupIngressRequest) (*w.RevokeSecurityGroupIngressResult, error) {
	perms := in.IpPermissions
	if p := flatPermission(in.IpProtocol, in.CidrIp, in.SourceSecurityGroupName, in.FromPort, in.ToPort); p != nil {
		perms = append(slices.Clone(perms), *p)
	}
	revoked, unknown, err := s.revoke(ctx, in.GroupId, in.GroupName, perms, in.SecurityGroupRuleIds, false)
	if err != nil {
		return nil, err
	}
	return &w.RevokeSecurityGroupIngressResult{Return: ptr(true), RevokedSecurityGroupRules: revoked, UnknownIpPermissions: unknown}, nil
}

// RevokeSecurityGroupEgress removes outbound rules.
func (s *Service) RevokeSecurityGroupEgress(ctx context.Context, in *w.RevokeSecurityGroupEgressRequest) (*w.RevokeSecurityGroupEgressResult, error) {
	perms := in.IpPermissions
	if p := flatPermission(in.IpProtocol, in.CidrIp, in.SourceSecurityGroupName, in.FromPort, in.ToPort); p != nil {
		perms = append(slices.Clone(perms), *p)
	}
	revoked, unknown, err := s.revoke(ctx, in.GroupId, "", perms, in.SecurityGroupRuleIds, true)
	if err != nil {
		return nil, err
	}
	return &w.RevokeSecurityGroupEgressResult{Return: ptr(true), RevokedSecurityGroupRules: revoked, UnknownIpPermissions: unknown}, nil
}

// revoke removes the rules that match perms or ruleIDs. Rules that match
// nothing come back as unknown; if nothing matched at all, the call fails
// with InvalidPermission.NotFound, as EC2's does.
func (s *Service) revoke(ctx context.Context, id, name string, perms []w.IpPermission, ruleIDs []string, egress bool) ([]w.RevokedSecurityGroupRule, []w.IpPermission, error) {
	sc := s.scope(ctx)
	if len(perms) == 0 && len(ruleIDs) == 0 {
		return nil, nil, MissingParameter.Errorf("The request must contain the parameter ipPermissions or securityGroupRuleIds")
	}
	type result struct {
		revoked []w.RevokedSecurityGroupRule
		unknown []w.IpPermission
	}
	res, err := state.Retry(ctx, func() (result, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return result{}, err
		}
		g, err := wd.target(id, name)
		if err != nil {
			return result{}, err
		}
		want, err := wd.toRules(sc, g, perms)
		if err != nil {
			return result{}, err
		}
		list := &g.Ingress
		if egress {
			list = &g.Egress
		}
		var res result
		for _, r := range want {
			i := slices.IndexFunc(*list, func(x model.SecurityGroupRule) bool { return sameRule(x, r) })
			if i < 0 {
				res.unknown = append(res.unknown, permissions([]model.SecurityGroupRule{r})...)
				continue
			}
			res.revoked = append(res.revoked, wireRevoked(g, (*list)[i], egress))
			*list = slices.Delete(*list, i, i+1)
		}
		for _, rid := range ruleIDs {
			i := slices.IndexFunc(*list, func(x model.SecurityGroupRule) bool { return x.ID == rid })
			if i < 0 {
				return result{}, awsapi.ClientCode("InvalidSecurityGroupRuleId.NotFound").Errorf("The security group rule ID '%s' does not exist", rid)
			}
			res.revoked = append(res.revoked, wireRevoked(g, (*list)[i], egress))
			*list = slices.Delete(*list, i, i+1)
		}
		if len(res.revoked) == 0 {
			return result{}, PermissionNotFound.Errorf("The specified rule does not exist in this security group.")
		}
		if _, err := wd.tx(sc).Put(model.SecurityGroupKey(g.ID), g).Commit(ctx); err != nil {
			return result{}, err
		}
		return res, nil
	})
	return res.revoked, res.unknown, err
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
