package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// The registry policy is stored and returned as ECR does, but not
// enforced: Gantry has no IAM, and no cross-account replication or pull
// through cache for it to grant.

func (s *Service) registryPolicyActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"PutRegistryPolicy":    action(m, s.PutRegistryPolicy),
		"GetRegistryPolicy":    action(m, s.GetRegistryPolicy),
		"DeleteRegistryPolicy": action(m, s.DeleteRegistryPolicy),
	}
}

// invalidRegistryPolicy is ECR's fixed answer for a registry policy text
// it refuses; the reason goes to the server log.
func invalidRegistryPolicy() error {
	return InvalidParameter.Errorf("%s", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")
}

// noRegistryPolicy is ECR's answer for a registry without a policy.
func noRegistryPolicy(sc scope) error {
	return RegistryPolicyNotFound.Errorf("Registry policy does not exist in the registry with id '%s'", sc.Account)
}

// errNoRegistryPolicy aborts a settings update of a registry without a
// policy.
var errNoRegistryPolicy = errors.New("no registry policy")

// registryPolicyProblem says what is wrong with a registry policy text (""
// when nothing is): it is a resource policy as for a repository, and every
// action it names is an ECR action (a registry policy grants only ECR's
// own actions, with the registry policy scope V2 all of them).
func registryPolicyProblem(text string) string {
	if why := repositoryPolicyProblem(text); why != "" {
		return why
	}
	var doc struct {
		Statement json.RawMessage
	}
	_ = json.Unmarshal([]byte(text), &doc)
	var list []map[string]json.RawMessage
	var one map[string]json.RawMessage
	if json.Unmarshal(doc.Statement, &one) == nil && one != nil {
		list = []map[string]json.RawMessage{one}
	} else {
		_ = json.Unmarshal(doc.Statement, &list)
	}
	for _, st := range list {
		for _, key := range []string{"Action", "NotAction"} {
			raw, ok := st[key]
			if !ok {
				continue
			}
			var actions []string
			var single string
			if json.Unmarshal(raw, &single) == nil {
				actions = []string{single}
			} else if json.Unmarshal(raw, &actions) != nil {
				return key + " must be a string or a list of strings"
			}
			for _, a := range actions {
				if !strings.HasPrefix(strings.ToLower(a), "ecr:") {
					return "a registry policy names only ECR actions (ecr:...), not " + a
				}
			}
		}
	}
	return ""
}

// PutRegistryPolicy stores the registry's permissions policy (not
// enforced), replacing any earlier one.
func (s *Service) PutRegistryPolicy(ctx context.Context, in *w.PutRegistryPolicyRequest) (*w.PutRegistryPolicyResponse, error) {
	sc := s.scope(ctx)
	if why := registryPolicyProblem(in.PolicyText); why != "" {
		s.log.InfoContext(ctx, "refused a registry policy", "reason", why)
		return nil, invalidRegistryPolicy()
	}
	st, err := s.reg.UpdateSettings(ctx, sc.ns, func(st *registry.Settings) error {
		st.Policy = in.PolicyText
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.PutRegistryPolicyResponse{PolicyText: st.Policy, RegistryId: sc.Account}, nil
}

// GetRegistryPolicy returns the registry's permissions policy.
func (s *Service) GetRegistryPolicy(ctx context.Context, _ *w.GetRegistryPolicyRequest) (*w.GetRegistryPolicyResponse, error) {
	sc := s.scope(ctx)
	st, err := s.reg.Settings(ctx, sc.ns)
	if err != nil {
		return nil, err
	}
	if st.Policy == "" {
		return nil, noRegistryPolicy(sc)
	}
	return &w.GetRegistryPolicyResponse{PolicyText: st.Policy, RegistryId: sc.Account}, nil
}

// DeleteRegistryPolicy removes the registry's permissions policy and
// returns it.
func (s *Service) DeleteRegistryPolicy(ctx context.Context, _ *w.DeleteRegistryPolicyRequest) (*w.DeleteRegistryPolicyResponse, error) {
	sc := s.scope(ctx)
	var old string
	_, err := s.reg.UpdateSettings(ctx, sc.ns, func(st *registry.Settings) error {
		if st.Policy == "" {
			return errNoRegistryPolicy
		}
		old, st.Policy = st.Policy, ""
		return nil
	})
	if errors.Is(err, errNoRegistryPolicy) {
		return nil, noRegistryPolicy(sc)
	}
	if err != nil {
		return nil, err
	}
	return &w.DeleteRegistryPolicyResponse{PolicyText: old, RegistryId: sc.Account}, nil
}
