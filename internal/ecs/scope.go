package ecs

import (
	"context"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// scope is one request's view: the caller and the store of its account and
// region, where all of its resources live.
type scope struct {
	awsapi.Caller
	st *state.Store
}

func (s *Service) scope(ctx context.Context) scope {
	c := awsapi.CallerFrom(ctx)
	return scope{Caller: c, st: s.store.Sub(c.Account + "/" + c.Region)}
}

// arn builds an ECS ARN in the caller's account and region.
func (sc scope) arn(resource string) string {
	return model.ARN("ecs", sc.Region, sc.Account, resource)
}

// clusterName resolves a cluster parameter (name, ARN or empty) to a name.
func (sc scope) clusterName(ref string) (string, error) {
	if ref == "" {
		return model.DefaultCluster, nil
	}
	if !model.IsARN(ref) {
		if !validName(ref) {
			return "", InvalidParameter.Errorf("Cluster name %q is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", ref)
		}
		return ref, nil
	}
	a, err := model.ParseARN(ref)
	if err != nil || a.Service != "ecs" || a.ResourceType() != "cluster" || a.ResourceID() == "" || strings.Contains(a.ResourceID(), "/") {
		return "", InvalidParameter.Errorf("%q is not a cluster ARN: expected arn:aws:ecs:%s:%s:cluster/<name>.", ref, sc.Region, sc.Account)
	}
	if a.Region != sc.Region || a.Account != sc.Account {
		return "", withHint(ClusterNotFound.Errorf("Cluster not found."), "%s is not in account %s, region %s", ref, sc.Account, sc.Region)
	}
	return a.ResourceID(), nil
}

// validName reports whether s is a valid ECS resource name: 1 to 255 letters,
// digits, hyphens and underscores.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
