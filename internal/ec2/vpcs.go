package ec2

import (
	"context"
	"net/netip"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

func (s *Service) vpcActions(m awsapi.QueryModel) map[string]awsapi.QueryHandler {
	return map[string]awsapi.QueryHandler{
		"CreateVpc":    action(m, s.CreateVpc),
		"DescribeVpcs": action(m, s.DescribeVpcs),
		"DeleteVpc":    action(m, s.DeleteVpc),
	}
}

// parseCIDR parses an IPv4 CIDR block and returns it in canonical form
// (100.68.0.18/18 is 100.68.0.0/18), or EC2's InvalidParameterValue naming
// the parameter.
func parseCIDR(param, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, InvalidParameterValue.Errorf("Value (%s) for parameter %s is invalid. This is not a valid CIDR block.", s, param)
	}
	return p.Masked(), nil
}

// overlaps reports whether two prefixes share an address.
func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// CreateVpc creates a VPC with an IPv4 CIDR block between /16 and /28, and
// its default security group.
func (s *Service) CreateVpc(ctx context.Context, in *w.CreateVpcRequest) (*w.CreateVpcResult, error) {
	sc := s.scope(ctx)
	switch {
	case in.Ipv4IpamPoolId != "" || in.Ipv6IpamPoolId != "" || in.Ipv6Pool != "" || in.Ipv6CidrBlock != "" || (in.AmazonProvidedIpv6CidrBlock != nil && *in.AmazonProvidedIpv6CidrBlock):
		return nil, InvalidParameterValue.Errorf("Gantry's VPCs have one IPv4 CIDR block: IPAM pools and IPv6 blocks are not supported; pass CidrBlock only.")
	case in.CidrBlock == "":
		return nil, MissingParameter.Errorf("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
	case in.InstanceTenancy == "host":
		return nil, InvalidParameterValue.Errorf("The tenancy value host is not supported.")
	}
	cidr, err := parseCIDR("cidrBlock", in.CidrBlock)
	if err != nil {
		return nil, err
	}
	if cidr.Bits() < 16 || cidr.Bits() > 28 {
		return nil, VpcRange.Errorf("The CIDR '%s' is invalid.", in.CidrBlock)
	}
	tags, err := specTags(in.TagSpecifications, "vpc")
	if err != nil {
		return nil, err
	}
	tenancy := in.InstanceTenancy
	if tenancy == "" {
		tenancy = "default"
	}
	return state.Retry(ctx, func() (*w.CreateVpcResult, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		vpc, sg := newVPC(sc, wd.defaults, cidr.String(), tenancy, false)
		vpc.Tags = tags
		if _, err := wd.tx(sc).Put(model.VPCKey(vpc.ID), vpc).Put(model.SecurityGroupKey(sg.ID), sg).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.CreateVpcResult{Vpc: sc.wireVPC(vpc)}, nil
	})
}

// wireVPC is a VPC as EC2 describes it.
func (sc scope) wireVPC(v *model.VPC) *w.Vpc {
	return &w.Vpc{
		VpcId:           v.ID,
		CidrBlock:       v.CidrBlock,
		DhcpOptionsId:   v.DhcpOptionsID,
		State:           "available",
		OwnerId:         sc.Account,
		InstanceTenancy: v.InstanceTenancy,
		IsDefault:       ptr(v.IsDefault),
		CidrBlockAssociationSet: []w.VpcCidrBlockAssociation{{
			AssociationId:  v.CidrAssociationID,
			CidrBlock:      v.CidrBlock,
			CidrBlockState: &w.VpcCidrBlockState{State: "associated"},
		}},
		Tags: wireTags(v.Tags),
	}
}

var vpcFilters = filterNames{"vpc-id", "cidr", "cidr-block", "cidrBlock", "cidr-block-association.cidr-block",
	"cidr-block-association.association-id", "cidr-block-association.state", "dhcp-options-id", "is-default",
	"isDefault", "owner-id", "state"}

// DescribeVpcs lists the scope's VPCs, or those named, that match the filters.
func (s *Service) DescribeVpcs(ctx context.Context, in *w.DescribeVpcsRequest) (*w.DescribeVpcsResult, error) {
	if err := vpcFilters.check(in.Filters); err != nil {
		return nil, err
	}
	sc := s.scope(ctx)
	wd, err := s.load(ctx, sc)
	if err != nil {
		return nil, err
	}
	for _, id := range in.VpcIds {
		if _, err := wd.vpc(id); err != nil {
			return nil, err
		}
	}
	var found []*model.VPC
	for _, v := range wd.vpcs {
		if len(in.VpcIds) > 0 && !contains(in.VpcIds, v.ID) {
			continue
		}
		a := attrs{
			"vpc-id": {v.ID}, "cidr": {v.CidrBlock}, "cidr-block": {v.CidrBlock}, "cidrBlock": {v.CidrBlock},
			"cidr-block-association.cidr-block":     {v.CidrBlock},
			"cidr-block-association.association-id": {v.CidrAssociationID},
			"cidr-block-association.state":          {"associated"},
			"dhcp-options-id":                       {v.DhcpOptionsID},
			"is-default":                            boolAttr(v.IsDefault), "isDefault": boolAttr(v.IsDefault),
			"owner-id": {sc.Account}, "state": {"available"},
		}
		if matches(in.Filters, a, v.Tags) {
			found = append(found, v)
		}
	}
	found, next, err := page(found, func(v *model.VPC) string { return v.ID }, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &w.DescribeVpcsResult{Vpcs: []w.Vpc{}, NextToken: next}
	for _, v := range found {
		out.Vpcs = append(out.Vpcs, *sc.wireVPC(v))
	}
	return out, nil
}

// DeleteVpc deletes a VPC that holds no subnet and no security group but
// its default one, which goes with it.
func (s *Service) DeleteVpc(ctx context.Context, in *w.DeleteVpcRequest) (*awsapi.NoOutput, error) {
	sc := s.scope(ctx)
	return state.Retry(ctx, func() (*awsapi.NoOutput, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		vpc, err := wd.vpc(in.VpcId)
		if err != nil {
			return nil, err
		}
		for _, sn := range wd.subnets {
			if sn.VPCID == vpc.ID {
				return nil, DependencyViolation.Errorf("The vpc '%s' has dependencies and cannot be deleted.", vpc.ID)
			}
		}
		tx := wd.tx(sc).Delete(model.VPCKey(vpc.ID))
		for _, g := range wd.groups {
			if g.VPCID != vpc.ID {
				continue
			}
			if g.ID != vpc.DefaultSecurityGrp {
				return nil, DependencyViolation.Errorf("The vpc '%s' has dependencies and cannot be deleted.", vpc.ID)
			}
			tx.Delete(model.SecurityGroupKey(g.ID))
		}
		if _, err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		return &awsapi.NoOutput{}, nil
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
