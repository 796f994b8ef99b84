package ecr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
		"SetRepositoryPolicy":    action(m, s.SetRepositoryPolicy),
		"GetRepositoryPolicy":    action(m, s.GetRepositoryPolicy),
		"DeleteRepositoryPolicy": action(m, s.DeleteRepositoryPolicy),
	}
}

// invalidRepositoryPolicy is ECR's answer for a policy text it refuses.
// ECR's text is fixed and says nothing of the reason, so the reason goes to
// the server log.
func invalidRepositoryPolicy() error {
	return InvalidParameter.Errorf("%s", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'")
}

// repositoryPolicyProblem says what is wrong with a repository policy text
// ("" when nothing is): it must be a JSON object with a Version string and a
// Statement (an object or a non-empty list of them), each statement with an
// Effect of Allow or Deny, a Principal (or NotPrincipal) and an Action (or
// NotAction), as ECR requires of a resource policy.
func repositoryPolicyProblem(text string) string {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return "the policy is not a JSON object: " + err.Error()
	}
	var version string
	if raw, ok := doc["Version"]; !ok || json.Unmarshal(raw, &version) != nil || version == "" {
		return "the policy needs a Version string, such as \"2012-10-17\""
	}
	raw, ok := doc["Statement"]
	if !ok {
		return "the policy needs a Statement"
	}
	var list []map[string]json.RawMessage
	var one map[string]json.RawMessage
	if json.Unmarshal(raw, &one) == nil && one != nil {
		list = []map[string]json.RawMessage{one}
	} else if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return "Statement must be a statement object or a non-empty list of them"
	}
	for i, st := range list {
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil || (effect != "Allow" && effect != "Deny") {
			return fmt.Sprintf("statement %d needs an Effect of Allow or Deny", i+1)
		}
		if !present(st, "Principal") && !present(st, "NotPrincipal") {
			return fmt.Sprintf("statement %d needs a Principal (who the statement is about)", i+1)
		}
		if !present(st, "Action") && !present(st, "NotAction") {
			return fmt.Sprintf("statement %d needs an Action (such as \"ecr:BatchGetImage\")", i+1)
		}
	}
	return ""
}

// present reports whether a statement has a non-empty member key.
func present(st map[string]json.RawMessage, key string) bool {
	raw, ok := st[key]
	if !ok {
		return false
	}
	switch string(bytes.TrimSpace(raw)) {
	case "null", `""`, "[]", "{}":
		return false
	}
	return true
}

// noRepositoryPolicy is ECR's answer for a repository without a policy.
func noRepositoryPolicy(sc scope, repo string) error {
	return RepositoryPolicyNotFound.Errorf("Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, sc.Account)
}

// SetRepositoryPolicy stores a repository's policy (not enforced).
func (s *Service) SetRepositoryPolicy(ctx context.Context, in *w.SetRepositoryPolicyRequest) (*w.SetRepositoryPolicyResponse, error) {
	if why := repositoryPolicyProblem(in.PolicyText); why != "" {
		s.log.InfoContext(ctx, "refused a repository policy", "repository", in.RepositoryName, "reason", why)
		return nil, invalidRepositoryPolicy()
	}
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		r.RepositoryPolicy = prettyPolicy(in.PolicyText)
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
