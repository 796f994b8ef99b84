package ec2

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// world is a scope's whole EC2 state, read at one revision. EC2 networking
// is small (tens of records per account and region) and its rules span
// resources (a subnet's CIDR against its siblings', a VPC's dependencies),
// so an operation reads it all, decides, and commits with tx: one
// transaction conditional on the defaults record's revision, which every
// write rewrites. Two writes of a scope therefore never interleave; the
// loser re-reads and decides again (state.Retry).
type world struct {
	defaults    model.EC2Defaults
	defaultsRev int64
	vpcs        map[string]*model.VPC
	subnets     map[string]*model.Subnet
	groups      map[string]*model.SecurityGroup
}

// load reads the scope's EC2 state, creating the default VPC on first use.
func (s *Service) load(ctx context.Context, sc scope) (*world, error) {
	for range 3 {
		pages, err := sc.st.ReadAll(ctx, state.Read{Key: model.EC2Prefix, Prefix: true})
		if err != nil {
			return nil, err
		}
		wd := &world{vpcs: map[string]*model.VPC{}, subnets: map[string]*model.Subnet{}, groups: map[string]*model.SecurityGroup{}}
		for _, it := range pages[0].Items {
			var err error
			switch {
			case it.Key == model.EC2DefaultsKey:
				err = it.Decode(&wd.defaults)
				wd.defaultsRev = it.Revision
			case strings.HasPrefix(it.Key, model.VPCsPrefix):
				v := new(model.VPC)
				err = it.Decode(v)
				wd.vpcs[v.ID] = v
			case strings.HasPrefix(it.Key, model.SubnetsPrefix):
				v := new(model.Subnet)
				err = it.Decode(v)
				wd.subnets[v.ID] = v
			case strings.HasPrefix(it.Key, model.SecurityGroupsPrefix):
				v := new(model.SecurityGroup)
				err = it.Decode(v)
				wd.groups[v.ID] = v
			}
			if err != nil {
				return nil, err
			}
		}
		if wd.defaultsRev != 0 {
			return wd, nil
		}
		if err := s.createDefaults(ctx, sc); err != nil && !errors.Is(err, state.ErrConflict) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("ec2: the default VPC of %s/%s could not be created", sc.Account, sc.Region)
}

// createDefaults writes the default VPC, its subnets (one /20 per zone) and
// its default security group, once per scope.
func (s *Service) createDefaults(ctx context.Context, sc scope) error {
	d := model.EC2Defaults{VPCID: newID("vpc"), DhcpOptionsID: newID("dopt")}
	vpc, sg := newVPC(sc, d, "172.31.0.0/16", "default", true)
	tx := sc.st.Txn().Expect(model.EC2DefaultsKey, 0).Put(model.EC2DefaultsKey, d).
		Put(model.VPCKey(vpc.ID), vpc).Put(model.SecurityGroupKey(sg.ID), sg)
	for i, zone := range sc.zones() {
		sn := &model.Subnet{
			ID:                  newID("subnet"),
			VPCID:               vpc.ID,
			CidrBlock:           fmt.Sprintf("172.31.%d.0/20", 16*i),
			AvailabilityZone:    zone,
			DefaultForAz:        true,
			MapPublicIPOnLaunch: true,
		}
		tx.Put(model.SubnetKey(sn.ID), sn)
	}
	_, err := tx.Commit(ctx)
	if err == nil {
		s.log.Info("created the default VPC", "account", sc.Account, "region", sc.Region, "vpc", vpc.ID)
	}
	return err
}

// newVPC builds a VPC record and its default security group.
func newVPC(sc scope, d model.EC2Defaults, cidr, tenancy string, isDefault bool) (*model.VPC, *model.SecurityGroup) {
	id := newID("vpc")
	if isDefault {
		id = d.VPCID
	}
	sg := &model.SecurityGroup{ID: newID("sg"), Name: "default", Description: "default VPC security group", VPCID: id}
	sg.Ingress = []model.SecurityGroupRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: sg.ID, UserID: sc.Account}}
	sg.Egress = []model.SecurityGroupRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"}}
	vpc := &model.VPC{
		ID:                 id,
		CidrBlock:          cidr,
		CidrAssociationID:  newID("vpc-cidr-assoc"),
		IsDefault:          isDefault,
		InstanceTenancy:    tenancy,
		DhcpOptionsID:      d.DhcpOptionsID,
		DefaultSecurityGrp: sg.ID,
	}
	return vpc, sg
}

// tx starts the transaction of a write decided on wd.
func (wd *world) tx(sc scope) *state.Txn {
	return sc.st.Txn().Expect(model.EC2DefaultsKey, wd.defaultsRev).Put(model.EC2DefaultsKey, wd.defaults)
}

// vpc returns the VPC id, or EC2's InvalidVpcID.NotFound.
func (wd *world) vpc(id string) (*model.VPC, error) {
	if v := wd.vpcs[id]; v != nil {
		return v, nil
	}
	return nil, VpcNotFound.Errorf("The vpc ID '%s' does not exist", id)
}

// subnet returns the subnet id, or EC2's InvalidSubnetID.NotFound.
func (wd *world) subnet(id string) (*model.Subnet, error) {
	if v := wd.subnets[id]; v != nil {
		return v, nil
	}
	return nil, SubnetNotFound.Errorf("The subnet ID '%s' does not exist", id)
}

// group returns the security group id, or EC2's InvalidGroup.NotFound.
func (wd *world) group(id string) (*model.SecurityGroup, error) {
	if v := wd.groups[id]; v != nil {
		return v, nil
	}
	return nil, GroupNotFound.Errorf("The security group '%s' does not exist", id)
}

// groupByName finds a group by name in a VPC ("" is the default VPC).
func (wd *world) groupByName(name, vpcID string) (*model.SecurityGroup, error) {
	if vpcID == "" {
		vpcID = wd.defaults.VPCID
	}
	for _, g := range wd.groups {
		if g.Name == name && g.VPCID == vpcID {
			return g, nil
		}
	}
	if _, ok := wd.vpcs[vpcID]; !ok {
		return nil, VpcNotFound.Errorf("No default VPC for this user")
	}
	return nil, GroupNotFound.Errorf("The security group '%s' does not exist in default VPC '%s'", name, vpcID)
}
