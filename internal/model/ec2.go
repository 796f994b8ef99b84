package model

// EC2 networking records: VPCs, subnets and security groups, as internal/ec2
// keeps them under the "ec2/" keys of a scope (account and region). They are
// plain records so that other packages (awsvpc task networking, Fargate
// placement) read subnets and security groups through the store without
// importing the EC2 API.

// EC2Prefix holds every EC2 record of a scope; a write of internal/ec2
// checks that nothing under it changed since it was read.
const EC2Prefix = "ec2/"

// EC2DefaultsKey marks a scope whose default VPC was created (it holds an
// EC2Defaults): the default VPC is created once, on first use, and is not
// created again if the user deletes it.
const EC2DefaultsKey = EC2Prefix + "defaults"

// VPCsPrefix holds one VPC record per id.
const VPCsPrefix = EC2Prefix + "vpcs/"

// SubnetsPrefix holds one Subnet record per id.
const SubnetsPrefix = EC2Prefix + "subnets/"

// SecurityGroupsPrefix holds one SecurityGroup record per id.
const SecurityGroupsPrefix = EC2Prefix + "security-groups/"

// VPCKey is the key of a VPC.
func VPCKey(id string) string { return VPCsPrefix + id }

// SubnetKey is the key of a subnet.
func SubnetKey(id string) string { return SubnetsPrefix + id }

// SecurityGroupKey is the key of a security group.
func SecurityGroupKey(id string) string { return SecurityGroupsPrefix + id }

// EC2Defaults is what a scope's first EC2 use created.
type EC2Defaults struct {
	VPCID         string `json:"vpcId"`
	DhcpOptionsID string `json:"dhcpOptionsId"`
}

// Tag is an EC2 resource tag. Records keep their tags sorted by key.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// VPC is a virtual network: an IPv4 CIDR block its subnets are cut from.
type VPC struct {
	ID                 string `json:"id"`
	CidrBlock          string `json:"cidrBlock"`
	CidrAssociationID  string `json:"cidrAssociationId"`
	IsDefault          bool   `json:"isDefault"`
	InstanceTenancy    string `json:"instanceTenancy"`
	DhcpOptionsID      string `json:"dhcpOptionsId"`
	DefaultSecurityGrp string `json:"defaultSecurityGroup"`
	Tags               []Tag  `json:"tags,omitempty"`
}

// Subnet is a range of a VPC's addresses in one availability zone; awsvpc
// tasks take their addresses from it.
type Subnet struct {
	ID                  string `json:"id"`
	VPCID               string `json:"vpcId"`
	CidrBlock           string `json:"cidrBlock"`
	AvailabilityZone    string `json:"availabilityZone"`
	DefaultForAz        bool   `json:"defaultForAz"`
	MapPublicIPOnLaunch bool   `json:"mapPublicIpOnLaunch"`
	Tags                []Tag  `json:"tags,omitempty"`
}

// SecurityGroup is a set of allow rules for the traffic into (Ingress) and
// out of (Egress) the network interfaces it is attached to.
type SecurityGroup struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Description string              `json:"description"`
	VPCID       string              `json:"vpcId"`
	Ingress     []SecurityGroupRule `json:"ingress,omitempty"`
	Egress      []SecurityGroupRule `json:"egress,omitempty"`
	Tags        []Tag               `json:"tags,omitempty"`
}

// SecurityGroupRule allows one protocol and port range from (ingress) or to
// (egress) one peer: exactly one of CidrIPv4, CidrIPv6, GroupID or
// PrefixListID is set.
type SecurityGroupRule struct {
	ID string `json:"id"` // sgr-...
	// Protocol is "-1" (all), "tcp", "udp", "icmp", "icmpv6" or an IP
	// protocol number.
	Protocol string `json:"protocol"`
	// FromPort and ToPort bound the ports (tcp, udp) or are the ICMP type
	// and code; both -1 when the protocol has no ports.
	FromPort     int32  `json:"fromPort"`
	ToPort       int32  `json:"toPort"`
	CidrIPv4     string `json:"cidrIpv4,omitempty"`
	CidrIPv6     string `json:"cidrIpv6,omitempty"`
	GroupID      string `json:"groupId,omitempty"`
	UserID       string `json:"userId,omitempty"`
	PrefixListID string `json:"prefixListId,omitempty"`
	Description  string `json:"description,omitempty"`
}
