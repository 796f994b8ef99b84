package ec2

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

// Security group rules: a request's IpPermissions (one protocol and port
// range, several peers) become one model.SecurityGroupRule per peer, as EC2
// itself keeps them (security-group-rule ids); Describe groups them back
// into IpPermissions by protocol and ports.

// protocolNames are the protocols EC2 writes by name; other numbers stay
// numbers.
var protocolNames = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}

// normProtocol returns the protocol as EC2 stores it.
func normProtocol(p string) (string, error) {
	p = strings.ToLower(p)
	switch p {
	case "-1", "tcp", "udp", "icmp", "icmpv6":
		return p, nil
	case "all":
		return "-1", nil
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		if name, ok := protocolNames[p]; ok {
			return name, nil
		}
		return p, nil
	}
	return "", InvalidParameterValue.Errorf("Invalid value '%s' for IP protocol. Unknown protocol.", p)
}

// hasPorts reports whether rules of a protocol carry ports (or ICMP type
// and code).
func hasPorts(p string) bool { return p == "tcp" || p == "udp" || p == "icmp" || p == "icmpv6" }

// flatPermission is the IpPermission of the flat members of an Authorize or
// Revoke request (IpProtocol, FromPort, ToPort, CidrIp), nil if unused.
func flatPermission(proto, cidr, srcGroup string, from, to *int32) *w.IpPermission {
	if proto == "" && cidr == "" && srcGroup == "" && from == nil && to == nil {
		return nil
	}
	if proto == "" {
		proto = "-1"
	}
	p := &w.IpPermission{IpProtocol: proto, FromPort: from, ToPort: to}
	if cidr != "" {
		p.IpRanges = []w.IpRange{{CidrIp: cidr}}
	}
	if srcGroup != "" {
		p.UserIdGroupPairs = []w.UserIdGroupPair{{GroupName: srcGroup}}
	}
	return p
}

// toRules turns permissions into rules of group g, resolving peer groups
// (by id, or by name in g's VPC) in wd.
func (wd *world) toRules(sc scope, g *model.SecurityGroup, perms []w.IpPermission) ([]model.SecurityGroupRule, error) {
	var out []model.SecurityGroupRule
	for _, p := range perms {
		proto, err := normProtocol(p.IpProtocol)
		if err != nil {
			return nil, err
		}
		from, to := int32(-1), int32(-1)
		if hasPorts(proto) {
			switch {
			case (proto == "tcp" || proto == "udp") && (p.FromPort == nil || p.ToPort == nil):
				return nil, InvalidParameterValue.Errorf("Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
			case p.FromPort != nil && p.ToPort != nil:
				from, to = *p.FromPort, *p.ToPort
			case p.FromPort != nil:
				from = *p.FromPort
			case p.ToPort != nil:
				to = *p.ToPort
			}
			if proto == "tcp" || proto == "udp" {
				if from < 0 || to > 65535 || from > to {
					return nil, InvalidParameterValue.Errorf("Invalid value '%d-%d' for portRange. The from port must be between 0 and 65535 and not above the to port.", from, to)
				}
			} else if from < -1 || from > 255 || to < -1 || to > 255 {
				return nil, InvalidParameterValue.Errorf("Invalid value '%d' for ICMP type or '%d' for ICMP code: each is -1 (all) or 0 to 255.", from, to)
			}
		}
		rule := func() model.SecurityGroupRule {
			return model.SecurityGroupRule{ID: newID("sgr"), Protocol: proto, FromPort: from, ToPort: to}
		}
		n := len(out)
		for _, r := range p.IpRanges {
			c, err := netip.ParsePrefix(r.CidrIp)
			if err != nil || !c.Addr().Is4() || c.Masked() != c {
				return nil, InvalidParameterValue.Errorf("CIDR block %s is malformed", r.CidrIp)
			}
			x := rule()
			x.CidrIPv4, x.Description = r.CidrIp, r.Description
			out = append(out, x)
		}
		for _, r := range p.Ipv6Ranges {
			c, err := netip.ParsePrefix(r.CidrIpv6)
			if err != nil || !c.Addr().Is6() || c.Masked() != c {
				return nil, InvalidParameterValue.Errorf("CIDR block %s is malformed", r.CidrIpv6)
			}
			x := rule()
			x.CidrIPv6, x.Description = r.CidrIpv6, r.Description
			out = append(out, x)
		}
		for _, r := range p.PrefixListIds {
			x := rule()
			x.PrefixListID, x.Description = r.PrefixListId, r.Description
			out = append(out, x)
		}
		for _, r := range p.UserIdGroupPairs {
			var peer *model.SecurityGroup
			var err error
			if r.GroupId != "" {
				peer, err = wd.group(r.GroupId)
			} else if r.GroupName != "" {
				peer, err = wd.groupByName(r.GroupName, g.VPCID)
			} else {
				err = MissingParameter.Errorf("Each UserIdGroupPair needs GroupId or GroupName.")
			}
			if err != nil {
				return nil, err
			}
			if peer.VPCID != g.VPCID {
				return nil, InvalidParameterValue.Errorf("You have specified two resources that belong to different networks: security group %s is in %s, %s in %s.", peer.ID, peer.VPCID, g.ID, g.VPCID)
			}
			x := rule()
			x.GroupID, x.UserID, x.Description = peer.ID, sc.Account, r.Description
			out = append(out, x)
		}
		if len(out) == n {
			return nil, MissingParameter.Errorf("Missing source specification")
		}
	}
	return out, nil
}

// sameRule reports whether two rules allow the same traffic from the same peer.
func sameRule(a, b model.SecurityGroupRule) bool {
	return a.Protocol == b.Protocol && a.FromPort == b.FromPort && a.ToPort == b.ToPort &&
		a.CidrIPv4 == b.CidrIPv4 && a.CidrIPv6 == b.CidrIPv6 && a.GroupID == b.GroupID && a.PrefixListID == b.PrefixListID
}

// describeRule is the rule as EC2's InvalidPermission.Duplicate names it.
func describeRule(r model.SecurityGroupRule) string {
	peer := r.CidrIPv4 + r.CidrIPv6 + r.GroupID + r.PrefixListID
	switch r.Protocol {
	case "-1":
		return fmt.Sprintf("peer: %s, ALL, ALLOW", peer)
	case "tcp", "udp":
		return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", peer, strings.ToUpper(r.Protocol), r.FromPort, r.ToPort)
	case "icmp", "icmpv6":
		return fmt.Sprintf("peer: %s, %s, type: %d, code: %d, ALLOW", peer, strings.ToUpper(r.Protocol), r.FromPort, r.ToPort)
	}
	return fmt.Sprintf("peer: %s, protocol: %s, ALLOW", peer, r.Protocol)
}

// permissions groups rules back into IpPermissions, in rule order.
func permissions(rules []model.SecurityGroupRule) []w.IpPermission {
	out := []w.IpPermission{}
	index := map[[3]string]int{}
	for _, r := range rules {
		k := [3]string{r.Protocol, strconv.Itoa(int(r.FromPort)), strconv.Itoa(int(r.ToPort))}
		i, ok := index[k]
		if !ok {
			p := w.IpPermission{IpProtocol: r.Protocol, IpRanges: []w.IpRange{}, Ipv6Ranges: []w.Ipv6Range{},
				PrefixListIds: []w.PrefixListId{}, UserIdGroupPairs: []w.UserIdGroupPair{}}
			if hasPorts(r.Protocol) {
				p.FromPort, p.ToPort = ptr(r.FromPort), ptr(r.ToPort)
			}
			i = len(out)
			index[k] = i
			out = append(out, p)
		}
		p := &out[i]
		switch {
		case r.CidrIPv4 != "":
			p.IpRanges = append(p.IpRanges, w.IpRange{CidrIp: r.CidrIPv4, Description: r.Description})
		case r.CidrIPv6 != "":
			p.Ipv6Ranges = append(p.Ipv6Ranges, w.Ipv6Range{CidrIpv6: r.CidrIPv6, Description: r.Description})
		case r.PrefixListID != "":
			p.PrefixListIds = append(p.PrefixListIds, w.PrefixListId{PrefixListId: r.PrefixListID, Description: r.Description})
		case r.GroupID != "":
			p.UserIdGroupPairs = append(p.UserIdGroupPairs, w.UserIdGroupPair{GroupId: r.GroupID, UserId: r.UserID, Description: r.Description})
		}
	}
	return out
}

// wireRule is a rule as Authorize answers it.
func (sc scope) wireRule(g *model.SecurityGroup, r model.SecurityGroupRule, egress bool) w.SecurityGroupRule {
	out := w.SecurityGroupRule{
		SecurityGroupRuleId:  r.ID,
		SecurityGroupRuleArn: sc.arn("security-group-rule/" + r.ID),
		GroupId:              g.ID,
		GroupOwnerId:         sc.Account,
		IsEgress:             ptr(egress),
		IpProtocol:           r.Protocol,
		FromPort:             ptr(r.FromPort),
		ToPort:               ptr(r.ToPort),
		CidrIpv4:             r.CidrIPv4,
		CidrIpv6:             r.CidrIPv6,
		PrefixListId:         r.PrefixListID,
		Description:          r.Description,
	}
	if r.GroupID != "" {
		out.ReferencedGroupInfo = &w.ReferencedSecurityGroup{GroupId: r.GroupID, UserId: r.UserID}
	}
	return out
}

// wireRevoked is a rule as Revoke answers it.
func wireRevoked(g *model.SecurityGroup, r model.SecurityGroupRule, egress bool) w.RevokedSecurityGroupRule {
	return w.RevokedSecurityGroupRule{
		SecurityGroupRuleId: r.ID, GroupId: g.ID, IsEgress: ptr(egress), IpProtocol: r.Protocol,
		FromPort: ptr(r.FromPort), ToPort: ptr(r.ToPort), CidrIpv4: r.CidrIPv4, CidrIpv6: r.CidrIPv6,
		PrefixListId: r.PrefixListID, ReferencedGroupId: r.GroupID, Description: r.Description,
	}
}
