package ecr

import (
	"context"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// ECR's account settings, stored per account and region. They change
// nothing in Gantry, which has one basic scan type (none), applies no
// registry policy and mounts blobs across repositories regardless.

func (s *Service) accountSettingActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"GetAccountSetting": action(m, s.GetAccountSetting),
		"PutAccountSetting": action(m, s.PutAccountSetting),
	}
}

// accountSetting is one setting ECR knows: its default and the values the
// service model allows for it.
type accountSetting struct {
	name     string
	fallback string
	values   []string
}

// accountSettings are ECR's account settings, in the model's order. The
// defaults are AWS's for an account that never changed them.
var accountSettings = []accountSetting{
	{"BASIC_SCAN_TYPE_VERSION", "AWS_NATIVE", []string{"AWS_NATIVE"}},
	{"REGISTRY_POLICY_SCOPE", "V2", []string{"V2"}},
	{"BLOB_MOUNTING", "DISABLED", []string{"ENABLED", "DISABLED"}},
}

// findAccountSetting returns the setting called name, or ECR's refusal.
func findAccountSetting(name string) (accountSetting, error) {
	names := make([]string, len(accountSettings))
	for i, a := range accountSettings {
		if a.name == name {
			return a, nil
		}
		names[i] = a.name
	}
	return accountSetting{}, InvalidParameter.Errorf("Invalid parameter at 'name' failed to satisfy constraint: 'Member must satisfy enum value set: [%s]'", strings.Join(names, ", "))
}

// GetAccountSetting returns an account setting's value (its default until
// it is put).
func (s *Service) GetAccountSetting(ctx context.Context, in *w.GetAccountSettingRequest) (*w.GetAccountSettingResponse, error) {
	a, err := findAccountSetting(in.Name)
	if err != nil {
		return nil, err
	}
	sc := s.scope(ctx)
	st, err := s.reg.Settings(ctx, sc.ns)
	if err != nil {
		return nil, err
	}
	v, ok := st.Account[a.name]
	if !ok {
		v = a.fallback
	}
	return &w.GetAccountSettingResponse{Name: a.name, Value: v}, nil
}

// PutAccountSetting sets an account setting to one of its values.
func (s *Service) PutAccountSetting(ctx context.Context, in *w.PutAccountSettingRequest) (*w.PutAccountSettingResponse, error) {
	a, err := findAccountSetting(in.Name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(a.values, in.Value) {
		return nil, InvalidParameter.Errorf("The value %s is not valid for the account setting %s: use one of [%s].", in.Value, a.name, strings.Join(a.values, ", "))
	}
	sc := s.scope(ctx)
	_, err = s.reg.UpdateSettings(ctx, sc.ns, func(st *registry.Settings) error {
		if st.Account == nil {
			st.Account = map[string]string{}
		}
		st.Account[a.name] = in.Value
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.PutAccountSettingResponse{Name: a.name, Value: in.Value}, nil
}
