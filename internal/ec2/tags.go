package ec2

import (
	"context"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

func (s *Service) tagActions(m awsapi.QueryModel) map[string]awsapi.QueryHandler {
	return map[string]awsapi.QueryHandler{
		"CreateTags":   action(m, s.CreateTags),
		"DeleteTags":   action(m, s.DeleteTags),
		"DescribeTags": action(m, s.DescribeTags),
	}
}

// setTags returns tags with in set (sorted by key, a key given twice
// keeps its last value).
func setTags(tags []model.Tag, in []w.Tag) []model.Tag {
	out := slices.Clone(tags)
	for _, t := range in {
		i := slices.IndexFunc(out, func(x model.Tag) bool { return x.Key == t.Key })
		if i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, model.Tag{Key: t.Key, Value: t.Value})
		}
	}
	slices.SortFunc(out, func(a, b model.Tag) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// checkTags applies EC2's limits on tags.
func checkTags(tags []w.Tag) error {
	if len(tags) > 50 {
		return awsapi.ClientCode("TagLimitExceeded").Errorf("The maximum number of tags per resource is 50; this request has %d.", len(tags))
	}
	for _, t := range tags {
		switch {
		case t.Key == "":
			return InvalidParameterValue.Errorf("Tag keys must not be empty.")
		case len(t.Key) > 128:
			return InvalidParameterValue.Errorf("Tag key exceeds the maximum length of 128 characters: '%s'", t.Key)
		case len(t.Value) > 256:
			return InvalidParameterValue.Errorf("Tag value exceeds the maximum length of 256 characters (key '%s').", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return InvalidParameterValue.Errorf("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return nil
}

// specTags returns the tags of the TagSpecifications of a create call for
// resourceType, refusing a specification for another type.
func specTags(specs []w.TagSpecification, resourceType string) ([]model.Tag, error) {
	var tags []model.Tag
	for _, sp := range specs {
		if sp.ResourceType != resourceType {
			return nil, InvalidParameterValue.Errorf("'%s' is not a valid taggable resource type for this operation.", sp.ResourceType)
		}
		if err := checkTags(sp.Tags); err != nil {
			return nil, err
		}
		tags = setTags(tags, sp.Tags)
	}
	return tags, nil
}

// tagged is a resource's tags, by reference, so that a write can change them.
type tagged struct {
	typ  string
	key  string
	tags *[]model.Tag
	rec  any
}

// resource finds a VPC, subnet or security group by id.
func (wd *world) resource(id string) (tagged, error) {
	switch {
	case strings.HasPrefix(id, "vpc-"):
		v, err := wd.vpc(id)
		if err != nil {
			return tagged{}, err
		}
		return tagged{"vpc", model.VPCKey(id), &v.Tags, v}, nil
	case strings.HasPrefix(id, "subnet-"):
		v, err := wd.subnet(id)
		if err != nil {
			return tagged{}, err
		}
		return tagged{"subnet", model.SubnetKey(id), &v.Tags, v}, nil
	case strings.HasPrefix(id, "sg-"):
		v, err := wd.group(id)
		if err != nil {
			return tagged{}, err
		}
		return tagged{"security-group", model.SecurityGroupKey(id), &v.Tags, v}, nil
	}
	return tagged{}, InvalidID.Errorf("The ID '%s' is not valid", id)
}

// CreateTags adds or overwrites tags on VPCs, subnets and security groups.
func (s *Service) CreateTags(ctx context.Context, in *w.CreateTagsRequest) (*awsapi.NoOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return s.retag(ctx, in.Resources, func(tags []model.Tag) []model.Tag { return setTags(tags, in.Tags) })
}

// DeleteTags removes tags: a tag given with a value only if it has that
// value, a tag given by key alone whatever its value, every tag if none is
// given.
func (s *Service) DeleteTags(ctx context.Context, in *w.DeleteTagsRequest) (*awsapi.NoOutput, error) {
	// The form tells "Tag.1.Value=" (delete only if empty) from no value
	// only by the key's presence, which the decoded struct cannot; EC2's
	// clients send no Value to mean any value, so an empty one does too.
	return s.retag(ctx, in.Resources, func(tags []model.Tag) []model.Tag {
		if in.Tags == nil {
			return nil
		}
		return slices.DeleteFunc(slices.Clone(tags), func(t model.Tag) bool {
			return slices.ContainsFunc(in.Tags, func(d w.Tag) bool { return d.Key == t.Key && (d.Value == "" || d.Value == t.Value) })
		})
	})
}

func (s *Service) retag(ctx context.Context, ids []string, change func([]model.Tag) []model.Tag) (*awsapi.NoOutput, error) {
	sc := s.scope(ctx)
	// One write per resource, in one transaction: a resource named twice
	// is written once, and the call stays within the store's limit.
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if max := sc.st.MaxTxnOps() - 1; len(ids) > max {
		return nil, InvalidParameterValue.Errorf("A call may tag at most %d resources; this one names %d: split it.", max, len(ids))
	}
	return state.Retry(ctx, func() (*awsapi.NoOutput, error) {
		wd, err := s.load(ctx, sc)
		if err != nil {
			return nil, err
		}
		tx := wd.tx(sc)
		for _, id := range ids {
			r, err := wd.resource(id)
			if err != nil {
				return nil, err
			}
			*r.tags = change(*r.tags)
			tx.Put(r.key, r.rec)
		}
		if _, err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		return &awsapi.NoOutput{}, nil
	})
}

var tagFilters = filterNames{"key", "resource-id", "resource-type", "value"}

// DescribeTags lists the tags of the scope's resources, by resource id then
// key.
func (s *Service) DescribeTags(ctx context.Context, in *w.DescribeTagsRequest) (*w.DescribeTagsResult, error) {
	if err := tagFilters.check(in.Filters); err != nil {
		return nil, err
	}
	wd, err := s.load(ctx, s.scope(ctx))
	if err != nil {
		return nil, err
	}
	var all []w.TagDescription
	add := func(id, typ string, tags []model.Tag) {
		for _, t := range tags {
			a := attrs{"key": {t.Key}, "value": {t.Value}, "resource-id": {id}, "resource-type": {typ}}
			if matches(in.Filters, a, tags) {
				all = append(all, w.TagDescription{Key: t.Key, Value: t.Value, ResourceId: id, ResourceType: typ})
			}
		}
	}
	for id, v := range wd.vpcs {
		add(id, "vpc", v.Tags)
	}
	for id, v := range wd.subnets {
		add(id, "subnet", v.Tags)
	}
	for id, v := range wd.groups {
		add(id, "security-group", v.Tags)
	}
	out, next, err := page(all, func(t w.TagDescription) string { return t.ResourceId + "\x00" + t.Key }, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []w.TagDescription{}
	}
	return &w.DescribeTagsResult{Tags: out, NextToken: next}, nil
}
