package ecr

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// Repository policies are stored and returned as ECR does, but not
// enforced: Gantry has no IAM, and every caller with valid credentials for
// the account may use every repository of it. The force flag, which in ECR
// lets a policy through that could lock the caller out, is accepted and
// has nothing to guard against.

func (s *Service) repositoryPolicyActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"SetRepositoryPolicy":    awsapi.Action(m, s.SetRepositoryPolicy),
		"GetRepositoryPolicy":    awsapi.Action(m, s.GetRepositoryPolicy),
		"DeleteRepositoryPolicy": awsapi.Action(m, s.DeleteRepositoryPolicy),
	}
}

// invalidRepositoryPolicy is ECR's answer for a policy text it refuses.
func invalidRepositoryPolicy(why string) error {
	return InvalidParameter.Errorf("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided: %s'", why)
}

// validateRepositoryPolicy checks that text is an IAM policy document: a
// JSON object with a Version string and a non-empty Statement (an object or
// a list of objects).
func validateRepositoryPolicy(text string) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return invalidRepositoryPolicy("the policy is not a JSON object: " + err.Error())
	}
	var version string
	if raw, ok := doc["Version"]; !ok || json.Unmarshal(raw, &version) != nil || version == "" {
		return invalidRepositoryPolicy("the policy needs a Version string, such as \"2012-10-17\"")
	}
	raw, ok := doc["Statement"]
	if !ok {
		return invalidRepositoryPolicy("the policy needs a Statement")
	}
	var one map[string]json.RawMessage
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &one) == nil && len(one) > 0 {
		return nil
	}
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return invalidRepositoryPolicy("Statement must be a statement object or a non-empty list of them")
	}
	return nil
}

// noRepositoryPolicy is ECR's answer for a repository without a policy.
func noRepositoryPolicy(sc scope, repo string) error {
	return RepositoryPolicyNotFound.Errorf("Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, sc.Account)
}

// SetRepositoryPolicy stores a repository's policy (not enforced).
func (s *Service) SetRepositoryPolicy(ctx context.Context, in *w.SetRepositoryPolicyRequest) (*w.SetRepositoryPolicyResponse, error) {
	if err := validateRepositoryPolicy(in.PolicyText); err != nil {
		return nil, err
	}
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		r.RepositoryPolicy = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.SetRepositoryPolicyResponse{PolicyText: r.RepositoryPolicy, RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}

// GetRepositoryPolicy returns a repository's policy.
func (s *Service) GetRepositoryPolicy(ctx context.Context, in *w.GetRepositoryPolicyRequest) (*w.GetRepositoryPolicyResponse, error) {
	sc, r, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if r.RepositoryPolicy == "" {
		return nil, noRepositoryPolicy(sc, in.RepositoryName)
	}
	return &w.GetRepositoryPolicyResponse{PolicyText: r.RepositoryPolicy, RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}

// DeleteRepositoryPolicy removes a repository's policy and returns it.
func (s *Service) DeleteRepositoryPolicy(ctx context.Context, in *w.DeleteRepositoryPolicyRequest) (*w.DeleteRepositoryPolicyResponse, error) {
	var old string
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		if r.RepositoryPolicy == "" {
			return errNoPolicy
		}
		old, r.RepositoryPolicy = r.RepositoryPolicy, ""
		return nil
	})
	if errors.Is(err, errNoPolicy) {
		return nil, noRepositoryPolicy(sc, in.RepositoryName)
	}
	if err != nil {
		return nil, err
	}
	return &w.DeleteRepositoryPolicyResponse{PolicyText: old, RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}
