package ec2

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

func (s *Service) subnetActions(m awsapi.QueryModel) map[string]awsapi.QueryHandler {
	return map[string]awsapi.QueryHandler{
		"CreateSubnet":    action(m, s.CreateSubnet),
		"DescribeSubnets": action(m, s.DescribeSubnets),
		"DeleteSubnet":    action(m, s.DeleteSubnet),
	}
}

// CreateSubnet cuts a subnet out of a VPC: its CIDR block (/16 to /28) lies
// within the VPC's and overlaps no other subnet of the VPC. Without a zone,
// the zone with the fewest of the VPC's subnets is chosen.
func (s *Service) CreateSubnet(ctx context.Context, in *w.CreateSubnetRequest) (*w.CreateSubnetResult, error) {
	sc := s.scope(ctx)
	switch {
	case in.Ipv6CidrBlock != "" || in.Ipv4IpamPoolId != "" || in.Ipv6IpamPoolId != "" || (in.Ipv6Native != nil && *in.Ipv6Native):
		return nil, InvalidParameterValue.Errorf("Gantry's subnets have one IPv4 CIDR block: IPAM pools and IPv6 blocks are not supported; pass CidrBlock only.")
	case in.OutpostArn != "":
		return nil, InvalidParameterValue.Errorf("Outposts are not supported: leave OutpostArn out.")
	case in.CidrBlock == "":
		return nil, MissingParameter.Errorf("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
	case in.AvailabilityZone != "" && in.AvailabilityZoneId != "":
		return nil, InvalidParameterCombination.Errorf("Only one of availabilityZone or availabilityZoneId may be specified.")
	}
	cidr, err := parseCIDR("cidrBlock", in.CidrBlock)
	if err != nil {
		return nil, err
	}
	zone, err := sc.zone(in.AvailabilityZone, in.AvailabilityZoneId)
	if err != nil {
		return nil, err
	}
	tags, err := specTags(in.TagSpecifications, "subnet")
	if err != nil {
		return nil, err
	}
	return state.Retry(ctx, func() (*w.CreateSubnetResult, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		vpc, err := wd.vpc(in.VpcId)
		if err != nil {
			return nil, err
		}
		vpcCIDR := netip.MustParsePrefix(vpc.CidrBlock)
		if cidr.Bits() < 16 || cidr.Bits() > 28 || cidr.Bits() < vpcCIDR.Bits() || !vpcCIDR.Contains(cidr.Addr()) {
			return nil, SubnetRange.Errorf("The CIDR '%s' is invalid.", in.CidrBlock)
		}
		count := map[string]int{}
		for _, sn := range wd.subnets {
			if sn.VPCID != vpc.ID {
				continue
			}
			if overlaps(netip.MustParsePrefix(sn.CidrBlock), cidr) {
				return nil, SubnetConflict.Errorf("The CIDR '%s' conflicts with another subnet", in.CidrBlock)
			}
			count[sn.AvailabilityZone]++
		}
		z := zone
		if z == "" {
			zs := sc.zones()
			z = slices.MinFunc(zs, func(a, b string) int { return count[a] - count[b] })
		}
		sn := &model.Subnet{ID: newID("subnet"), VPCID: vpc.ID, CidrBlock: cidr.String(), AvailabilityZone: z, Tags: tags}
		if _, err := wd.tx(sc).Put(model.SubnetKey(sn.ID), sn).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.CreateSubnetResult{Subnet: sc.wireSubnet(sn)}, nil
	})
}

// zone resolves a zone given by name or id ("" if neither), refusing one
// outside the region.
func (sc scope) zone(name, id string) (string, error) {
	zs := sc.zones()
	for _, z := range zs {
		if (name != "" && z == name) || (id != "" && zoneID(z) == id) {
			return z, nil
		}
	}
	switch {
	case name != "":
		return "", InvalidParameterValue.Errorf("Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", name, strings.Join(zs, ", "))
	case id != "":
		return "", InvalidParameterValue.Errorf("Value (%s) for parameter availabilityZoneId is invalid. Subnets can currently only be created in the following availability zones: %s.", id, strings.Join(zs, ", "))
	}
	return "", nil
}

// wireSubnet is a subnet as EC2 describes it. AWS keeps 5 addresses of each
// subnet for itself; Gantry reports the same count (the awsvpc tasks that
// will take addresses are not there yet).
func (sc scope) wireSubnet(sn *model.Subnet) *w.Subnet {
	p := netip.MustParsePrefix(sn.CidrBlock)
	return &w.Subnet{
		SubnetId:                    sn.ID,
		SubnetArn:                   sc.arn("subnet/" + sn.ID),
		VpcId:                       sn.VPCID,
		CidrBlock:                   sn.CidrBlock,
		AvailabilityZone:            sn.AvailabilityZone,
		AvailabilityZoneId:          zoneID(sn.AvailabilityZone),
		AvailableIpAddressCount:     ptr(int32(1)<<(32-p.Bits()) - 5),
		DefaultForAz:                ptr(sn.DefaultForAz),
		MapPublicIpOnLaunch:         ptr(sn.MapPublicIPOnLaunch),
		MapCustomerOwnedIpOnLaunch:  ptr(false),
		AssignIpv6AddressOnCreation: ptr(false),
		Ipv6CidrBlockAssociationSet: []w.SubnetIpv6CidrBlockAssociation{},
		EnableDns64:                 ptr(false),
		Ipv6Native:                  ptr(false),
		PrivateDnsNameOptionsOnLaunch: &w.PrivateDnsNameOptionsOnLaunch{
			HostnameType:                    "ip-name",
			EnableResourceNameDnsARecord:    ptr(false),
			EnableResourceNameDnsAAAARecord: ptr(false),
		},
		State:   "available",
		OwnerId: sc.Account,
		Tags:    wireTags(sn.Tags),
	}
}

var subnetFilters = filterNames{"subnet-id", "subnet-arn", "vpc-id", "cidr", "cidr-block", "cidrBlock",
	"availability-zone", "availabilityZone", "availability-zone-id", "availabilityZoneId", "default-for-az",
	"defaultForAz", "map-public-ip-on-launch", "available-ip-address-count", "availableIpAddressCount",
	"owner-id", "state"}

// DescribeSubnets lists the scope's subnets, or those named, that match the
// filters.
func (s *Service) DescribeSubnets(ctx context.Context, in *w.DescribeSubnetsRequest) (*w.DescribeSubnetsResult, error) {
	if err := subnetFilters.check(in.Filters); err != nil {
		return nil, err
	}
	sc := s.scope(ctx)
	wd, err := s.load(ctx, sc)
	if err != nil {
		return nil, err
	}
	for _, id := range in.SubnetIds {
		if _, err := wd.subnet(id); err != nil {
			return nil, err
		}
	}
	var found []*w.Subnet
	for _, sn := range wd.subnets {
		if len(in.SubnetIds) > 0 && !contains(in.SubnetIds, sn.ID) {
			continue
		}
		ws := sc.wireSubnet(sn)
		count := []string{strconv.Itoa(int(*ws.AvailableIpAddressCount))}
		a := attrs{
			"subnet-id": {sn.ID}, "subnet-arn": {ws.SubnetArn}, "vpc-id": {sn.VPCID},
			"cidr": {sn.CidrBlock}, "cidr-block": {sn.CidrBlock}, "cidrBlock": {sn.CidrBlock},
			"availability-zone": {sn.AvailabilityZone}, "availabilityZone": {sn.AvailabilityZone},
			"availability-zone-id": {ws.AvailabilityZoneId}, "availabilityZoneId": {ws.AvailabilityZoneId},
			"default-for-az": boolAttr(sn.DefaultForAz), "defaultForAz": boolAttr(sn.DefaultForAz),
			"map-public-ip-on-launch":    boolAttr(sn.MapPublicIPOnLaunch),
			"available-ip-address-count": count, "availableIpAddressCount": count,
			"owner-id": {sc.Account}, "state": {"available"},
		}
		if matches(in.Filters, a, sn.Tags) {
			found = append(found, ws)
		}
	}
	found, next, err := page(found, func(v *w.Subnet) string { return v.SubnetId }, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &w.DescribeSubnetsResult{Subnets: []w.Subnet{}, NextToken: next}
	for _, v := range found {
		out.Subnets = append(out.Subnets, *v)
	}
	return out, nil
}

// DeleteSubnet deletes a subnet.
func (s *Service) DeleteSubnet(ctx context.Context, in *w.DeleteSubnetRequest) (*awsapi.NoOutput, error) {
	sc := s.scope(ctx)
	return state.Retry(ctx, func() (*awsapi.NoOutput, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		if _, err := wd.subnet(in.SubnetId); err != nil {
			return nil, err
		}
		if _, err := wd.tx(sc).Delete(model.SubnetKey(in.SubnetId)).Commit(ctx); err != nil {
			return nil, err
		}
		return &awsapi.NoOutput{}, nil
	})
}
