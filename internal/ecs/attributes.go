package ecs

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func (s *Service) attributeActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"PutAttributes":    awsapi.Action(m, s.PutAttributes),
		"DeleteAttributes": awsapi.Action(m, s.DeleteAttributes),
		"ListAttributes":   awsapi.Action(m, s.ListAttributes),
	}
}

// targetInstance is the only target type of attributes.
const targetInstance = "container-instance"

// maxAttributesPerCall is the most attributes one PutAttributes or
// DeleteAttributes call can name.
const maxAttributesPerCall = 10

// PutAttributes creates or replaces attributes of container instances. All
// of a call's changes are written in one transaction: when one target is
// unknown or would exceed the custom attribute limit, nothing is written.
func (s *Service) PutAttributes(ctx context.Context, in *w.PutAttributesRequest) (*w.PutAttributesResponse, error) {
	err := s.changeAttributes(ctx, in.Cluster, in.Attributes, true, func(ci *model.ContainerInstance, a w.Attribute) {
		ci.Attributes = setAttribute(ci.Attributes, a)
	})
	if err != nil {
		return nil, err
	}
	return &w.PutAttributesResponse{Attributes: in.Attributes}, nil
}

// DeleteAttributes removes attributes from container instances; removing an
// attribute an instance does not have is not an error. Like PutAttributes,
// it writes all or nothing.
func (s *Service) DeleteAttributes(ctx context.Context, in *w.DeleteAttributesRequest) (*w.DeleteAttributesResponse, error) {
	err := s.changeAttributes(ctx, in.Cluster, in.Attributes, false, func(ci *model.ContainerInstance, a w.Attribute) {
		ci.Attributes = removeAttribute(ci.Attributes, a.Name)
	})
	if err != nil {
		return nil, err
	}
	return &w.DeleteAttributesResponse{Attributes: in.Attributes}, nil
}

// changeAttributes validates every attribute and target first, then applies
// change to each target instance and writes them all in one transaction that
// expects each instance unchanged since it was read, retrying on conflict.
func (s *Service) changeAttributes(ctx context.Context, cluster string, attrs []w.Attribute, put bool,
	change func(*model.ContainerInstance, w.Attribute)) error {
	sc := s.scope(ctx)
	name, err := sc.clusterName(cluster)
	if err != nil {
		return err
	}
	if len(attrs) == 0 || len(attrs) > maxAttributesPerCall {
		return InvalidParameter.Errorf("attributes must list 1 to %d attributes; %d were given.", maxAttributesPerCall, len(attrs))
	}
	type target struct {
		id, arn string
		ok      bool
	}
	targets := make([]target, len(attrs))
	for i, a := range attrs {
		if err := validateAttribute(a, put); err != nil {
			return err
		}
		if a.TargetId == "" {
			return InvalidParameter.Errorf("Attribute %s has no targetId: name the container instance by id or ARN.", a.Name)
		}
		if !model.IsARN(a.TargetId) && a.TargetType == "" {
			return InvalidParameter.Errorf("Attribute %s names its target by the short id %q: give targetType container-instance, or the full ARN.", a.Name, a.TargetId)
		}
		id, arn, ok, err := sc.instanceRef(name, a.TargetId)
		if err != nil {
			return err
		}
		targets[i] = target{id, arn, ok}
	}
	if _, _, err := activeCluster(ctx, sc, name); err != nil {
		return err
	}
	for _, t := range targets {
		if !t.ok {
			return errTargetNotFound(t.arn, name)
		}
	}
	_, err = state.Retry(ctx, func() (struct{}, error) {
		type read struct {
			ci     *model.ContainerInstance
			rev    int64
			before []w.Attribute
		}
		byID := map[string]*read{}
		var order []string
		for i, a := range attrs {
			t := targets[i]
			r := byID[t.id]
			if r == nil {
				ci, rev, _, err := loadInstance(ctx, sc.st, name, t.id, false)
				if errors.Is(err, state.ErrNotFound) {
					return struct{}{}, errTargetNotFound(t.arn, name)
				}
				if err != nil {
					return struct{}{}, err
				}
				sortAttributes(ci.Attributes)
				r = &read{ci, rev, slices.Clone(ci.Attributes)}
				byID[t.id] = r
				order = append(order, t.id)
			}
			change(r.ci, a)
		}
		txn := sc.st.Txn()
		for _, id := range order {
			r := byID[id]
			if n := countCustom(r.ci.Attributes); put && n > maxCustomAttributes {
				return struct{}{}, errCustomLimit(AttributeLimitExceeded, r.ci.ContainerInstanceArn, n)
			}
			sortAttributes(r.ci.Attributes)
			key := model.InstanceKey(name, id)
			txn.Expect(key, r.rev)
			if !slices.Equal(r.before, r.ci.Attributes) {
				r.ci.Version++
				txn.Put(key, r.ci)
			}
		}
		_, err := txn.Commit(ctx)
		return struct{}{}, err
	})
	return err
}

func errTargetNotFound(arn, cluster string) error {
	return TargetNotFound.Errorf("Could not find container instance %s in cluster %s. Check the targetId, and pass the cluster it is registered in.", arn, cluster)
}

// ListAttributes lists the attributes of a cluster's registered container
// instances, one entry per attribute and instance, optionally only those of
// one name (and value). Pages end inside an instance when they must: the
// nextToken remembers the instance and the last attribute name returned.
func (s *Service) ListAttributes(ctx context.Context, in *w.ListAttributesRequest) (*w.ListAttributesResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.TargetType != targetInstance {
		return nil, InvalidParameter.Errorf("targetType must be container-instance, got %q.", in.TargetType)
	}
	if in.AttributeValue != "" && in.AttributeName == "" {
		return nil, InvalidParameter.Errorf("attributeValue %q needs an attributeName to filter on.", in.AttributeValue)
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	const action = "ListAttributes"
	after, err := decodeToken(action, in.NextToken)
	if err != nil {
		return nil, err
	}
	prefix := model.InstancesPrefix(name)
	afterKey, afterName, _ := strings.Cut(after, "\n")
	if err := checkTokenPrefix(action, afterKey, prefix); err != nil {
		return nil, err
	}
	if err := existingCluster(ctx, sc, name); err != nil {
		return nil, err
	}

	// Collect one attribute more than the page holds, to know whether
	// another page follows.
	var out []w.Attribute
	var keys []string
	add := func(key string, ci *model.ContainerInstance, afterName string) {
		sortAttributes(ci.Attributes)
		for _, a := range ci.Attributes {
			if a.Name <= afterName || in.AttributeName != "" && a.Name != in.AttributeName ||
				in.AttributeValue != "" && a.Value != in.AttributeValue {
				continue
			}
			out = append(out, w.Attribute{Name: a.Name, Value: a.Value, TargetType: targetInstance, TargetId: ci.ContainerInstanceArn})
			keys = append(keys, key)
		}
	}
	if afterKey != "" {
		var ci model.ContainerInstance
		if _, err := sc.st.Get(ctx, afterKey, &ci); err == nil {
			add(afterKey, &ci, afterName)
		} else if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
	}
	for cursor := afterKey; len(out) <= limit; {
		page, err := sc.st.List(ctx, prefix, cursor, limit+1)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var ci model.ContainerInstance
			if err := it.Decode(&ci); err != nil {
				return nil, err
			}
			add(it.Key, &ci, "")
			cursor = it.Key
			if len(out) > limit {
				break
			}
		}
		if !page.More {
			break
		}
	}
	resp := &w.ListAttributesResponse{Attributes: out}
	if len(out) > limit {
		last := limit - 1
		resp.NextToken = encodeToken(action, keys[last]+"\n"+out[last].Name)
		resp.Attributes = out[:limit]
	}
	if resp.Attributes == nil {
		resp.Attributes = []w.Attribute{}
	}
	return resp, nil
}
