package ecs

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func (s *Service) settingActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"PutAccountSetting":        awsapi.Action(m, s.PutAccountSetting),
		"PutAccountSettingDefault": awsapi.Action(m, s.PutAccountSettingDefault),
		"ListAccountSettings":      awsapi.Action(m, s.ListAccountSettings),
		"DeleteAccountSetting":     awsapi.Action(m, s.DeleteAccountSetting),
	}
}

// Account settings, as ECS has them. A setting applies to a principal (an IAM
// user or role) through the first of: the principal's own setting, the
// account default, the AWS default below. The account default is the root
// user's own setting, as in ECS: PutAccountSettingDefault, and
// PutAccountSetting by or for the root user, write the same record
// (model.SettingKey("", name)).
//
//	name                             values                       AWS default   set by
//	serviceLongArnFormat             enabled                      enabled       any principal (disabled refused)
//	taskLongArnFormat                enabled                      enabled       any principal (disabled refused)
//	containerInstanceLongArnFormat   enabled                      enabled       any principal (disabled refused)
//	awsvpcTrunking                   enabled, disabled            disabled      any principal
//	containerInsights                enabled, disabled, enhanced  disabled      any principal
//	fargateFIPSMode                  enabled, disabled            disabled      the account only
//	tagResourceAuthorization         on, off                      on            any principal
//	fargateTaskRetirementWaitPeriod  0, 7, 14 (days)              7             the account only
//	guardDutyActivate                on, off                      off           nobody: AWS-managed, read-only
//	defaultLogDriverMode             blocking, non-blocking       non-blocking  any principal
//	fargateEventWindows              enabled, disabled            disabled      any principal
var settingRules = map[string]settingRule{
	"serviceLongArnFormat":            {values: enabledDisabled, awsDefault: "enabled", noOptOut: true},
	"taskLongArnFormat":               {values: enabledDisabled, awsDefault: "enabled", noOptOut: true},
	"containerInstanceLongArnFormat":  {values: enabledDisabled, awsDefault: "enabled", noOptOut: true},
	"awsvpcTrunking":                  {values: enabledDisabled, awsDefault: "disabled"},
	"containerInsights":               {values: []string{"enabled", "disabled", "enhanced"}, awsDefault: "disabled"},
	"fargateFIPSMode":                 {values: enabledDisabled, awsDefault: "disabled", accountOnly: true},
	"tagResourceAuthorization":        {values: onOff, awsDefault: "on"},
	"fargateTaskRetirementWaitPeriod": {values: []string{"0", "7", "14"}, awsDefault: "7", accountOnly: true},
	"guardDutyActivate":               {values: onOff, awsDefault: "off", awsManaged: true},
	"defaultLogDriverMode":            {values: []string{"blocking", "non-blocking"}, awsDefault: "non-blocking"},
	"fargateEventWindows":             {values: enabledDisabled, awsDefault: "disabled"},
}

var (
	enabledDisabled = []string{"enabled", "disabled"}
	onOff           = []string{"on", "off"}
)

// settingRule is what Gantry knows of one account setting.
type settingRule struct {
	values     []string
	awsDefault string
	// accountOnly settings apply to the whole account: only the account
	// default can be set (PutAccountSettingDefault, or the root user).
	accountOnly bool
	// awsManaged settings are read-only; they are listed with type aws_managed.
	awsManaged bool
	// noOptOut settings can no longer be disabled in ECS.
	noOptOut bool
}

// Setting types on the wire.
const (
	settingTypeUser       = "user"
	settingTypeAWSManaged = "aws_managed"
)

// settingRuleFor returns the rule of a setting name the model accepts.
func settingRuleFor(name string) (settingRule, error) {
	r, ok := settingRules[name]
	if !ok {
		return r, InvalidParameter.Errorf("Gantry does not support the account setting %s yet; the supported settings are %s.", name, strings.Join(slices.Sorted(maps.Keys(settingRules)), ", "))
	}
	return r, nil
}

// checkWrite checks that value may be written for name, at the account
// level (account) or for one user or role.
func (r settingRule) checkWrite(name, value string, account bool) error {
	switch {
	case r.awsManaged:
		return InvalidParameter.Errorf("The account setting %s is managed by AWS and is read-only.", name)
	case r.accountOnly && !account:
		return InvalidParameter.Errorf("The account setting %s applies to the whole account: set it with PutAccountSettingDefault, or with PutAccountSetting for the root user.", name)
	case r.noOptOut && value == "disabled":
		return InvalidParameter.Errorf("The account setting %s can no longer be disabled: ECS uses the long ARN format for every resource. The only value allowed is enabled.", name)
	case !slices.Contains(r.values, value):
		return InvalidParameter.Errorf("Invalid value %q for the account setting %s: the allowed values are %s.", value, name, strings.Join(r.values, ", "))
	}
	return nil
}

// settingsPrincipal is the principal an account settings request is about.
type settingsPrincipal struct {
	arn string
	// who is the principal of the setting keys: "" for the root user, whose
	// settings are the account defaults.
	who string
}

func rootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// settingsPrincipal resolves the principalArn of a settings request: the
// caller when empty, else an IAM user, role or root ARN of the caller's
// account. Only the root user may name a principal other than itself.
func (sc scope) settingsPrincipal(principalArn string) (settingsPrincipal, error) {
	caller := sc.Principal
	if caller == "" {
		caller = rootARN(sc.Account)
	}
	arn := principalArn
	if arn == "" {
		arn = caller
	}
	a, err := model.ParseARN(arn)
	_, name, _ := strings.Cut(a.Resource, "/")
	kind := a.ResourceType()
	if err != nil || a.Partition != "aws" || a.Service != "iam" || a.Region != "" ||
		!(a.Resource == "root" || (kind == "user" || kind == "role") && name != "" && !strings.HasSuffix(name, "/")) {
		return settingsPrincipal{}, InvalidParameter.Errorf("%q is not a principal that can have account settings: expected arn:aws:iam::%s:root, arn:aws:iam::%s:user/<name> or arn:aws:iam::%s:role/<name>.", arn, sc.Account, sc.Account, sc.Account)
	}
	if a.Account != sc.Account {
		return settingsPrincipal{}, InvalidParameter.Errorf("The principal %s is not in account %s; account settings can only be managed for principals of the caller's account.", arn, sc.Account)
	}
	if arn != caller && caller != rootARN(sc.Account) {
		return settingsPrincipal{}, AccessDenied.Errorf("Only the root user or %s itself can manage the account settings of %s.", arn, arn)
	}
	if a.Resource == "root" {
		return settingsPrincipal{arn: arn}, nil
	}
	return settingsPrincipal{arn: arn, who: arn}, nil
}

// PutAccountSetting sets an account setting for the caller, or for
// principalArn. Setting it for the root user sets the account default.
func (s *Service) PutAccountSetting(ctx context.Context, in *w.PutAccountSettingRequest) (*w.PutAccountSettingResponse, error) {
	sc := s.scope(ctx)
	p, err := sc.settingsPrincipal(in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	set, err := putSetting(ctx, sc, p, in.Name, in.Value)
	if err != nil {
		return nil, err
	}
	return &w.PutAccountSettingResponse{Setting: set}, nil
}

// PutAccountSettingDefault sets the account default of a setting: the value
// of every principal that has no setting of its own.
func (s *Service) PutAccountSettingDefault(ctx context.Context, in *w.PutAccountSettingDefaultRequest) (*w.PutAccountSettingDefaultResponse, error) {
	sc := s.scope(ctx)
	set, err := putSetting(ctx, sc, settingsPrincipal{arn: rootARN(sc.Account)}, in.Name, in.Value)
	if err != nil {
		return nil, err
	}
	return &w.PutAccountSettingDefaultResponse{Setting: set}, nil
}

func putSetting(ctx context.Context, sc scope, p settingsPrincipal, name, value string) (*w.Setting, error) {
	r, err := settingRuleFor(name)
	if err != nil {
		return nil, err
	}
	if err := r.checkWrite(name, value, p.who == ""); err != nil {
		return nil, err
	}
	set := &model.AccountSetting{Name: name, Value: value, PrincipalArn: p.arn, Type: settingTypeUser}
	return state.Update(ctx, sc.st, model.SettingKey(p.who, name), func(*model.AccountSetting, bool) (*model.AccountSetting, error) {
		return set, nil
	})
}

// DeleteAccountSetting removes a principal's own setting (the caller's, or
// principalArn's), so that the account default or the AWS default applies
// again; for the root user it removes the account default. Deleting a
// setting that is not set succeeds and changes nothing, like UntagResource
// of an absent key. The answer carries the value the principal had before
// the deletion: its own, or the one it inherited.
func (s *Service) DeleteAccountSetting(ctx context.Context, in *w.DeleteAccountSettingRequest) (*w.DeleteAccountSettingResponse, error) {
	sc := s.scope(ctx)
	p, err := sc.settingsPrincipal(in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	r, err := settingRuleFor(in.Name)
	if err != nil {
		return nil, err
	}
	if r.awsManaged {
		return nil, InvalidParameter.Errorf("The account setting %s is managed by AWS and is read-only.", in.Name)
	}
	key := model.SettingKey(p.who, in.Name)
	return state.Retry(ctx, func() (*w.DeleteAccountSettingResponse, error) {
		var own model.AccountSetting
		rev, err := sc.st.Get(ctx, key, &own)
		if errors.Is(err, state.ErrNotFound) {
			eff, err := effectiveSettings(ctx, sc, p)
			if err != nil {
				return nil, err
			}
			set := eff[in.Name]
			set.PrincipalArn = p.arn
			return &w.DeleteAccountSettingResponse{Setting: &set}, nil
		}
		if err != nil {
			return nil, err
		}
		if _, err := sc.st.Txn().Expect(key, rev).Delete(key).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.DeleteAccountSettingResponse{Setting: &own}, nil
	})
}

// ListAccountSettings lists the settings of the caller or of principalArn,
// in name order: those it has set itself, or with effectiveSettings the
// value that applies to it for every setting. name and value filter the
// list; maxResults (1 to 10, default 10) and nextToken page through it.
func (s *Service) ListAccountSettings(ctx context.Context, in *w.ListAccountSettingsRequest) (*w.ListAccountSettingsResponse, error) {
	sc := s.scope(ctx)
	if in.Value != "" && in.Name == "" {
		return nil, InvalidParameter.Errorf("A value filter needs a name: pass the name of the account setting the value %q is for.", in.Value)
	}
	var maxResults *int32
	if in.MaxResults != 0 {
		maxResults = &in.MaxResults
	}
	limit, err := pageSize(maxResults, 10, 10)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken("ListAccountSettings", in.NextToken)
	if err != nil {
		return nil, err
	}
	p, err := sc.settingsPrincipal(in.PrincipalArn)
	if err != nil {
		return nil, err
	}
	var byName map[string]w.Setting
	if in.EffectiveSettings {
		byName, err = effectiveSettings(ctx, sc, p)
	} else {
		byName, err = ownSettings(ctx, sc, p.who)
	}
	if err != nil {
		return nil, err
	}
	out := &w.ListAccountSettingsResponse{Settings: []w.Setting{}}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		set := byName[name]
		if name <= after || in.Name != "" && name != in.Name || in.Value != "" && set.Value != in.Value {
			continue
		}
		if len(out.Settings) == limit {
			out.NextToken = encodeToken("ListAccountSettings", out.Settings[limit-1].Name)
			break
		}
		out.Settings = append(out.Settings, set)
	}
	return out, nil
}

// ownSettings returns the settings a principal has set itself, by name
// (who "" is the root user, whose settings are the account defaults).
func ownSettings(ctx context.Context, sc scope, who string) (map[string]w.Setting, error) {
	prefix := model.SettingsPrefix(who)
	page, err := sc.st.ListAll(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := map[string]w.Setting{}
	for _, it := range page.Items {
		name := strings.TrimPrefix(it.Key, prefix)
		if strings.Contains(name, "/") {
			continue // a setting of a principal whose ARN extends this one's (user/a/b under user/a)
		}
		var set model.AccountSetting
		if err := it.Decode(&set); err != nil {
			return nil, err
		}
		out[name] = set
	}
	return out, nil
}

// effectiveSettings returns, for every setting, the value that applies to
// p: its own, else the account default, else the AWS default (reported as
// a setting of the root user, as ECS does).
func effectiveSettings(ctx context.Context, sc scope, p settingsPrincipal) (map[string]w.Setting, error) {
	defaults, err := ownSettings(ctx, sc, "")
	if err != nil {
		return nil, err
	}
	own := defaults
	if p.who != "" {
		if own, err = ownSettings(ctx, sc, p.who); err != nil {
			return nil, err
		}
	}
	out := map[string]w.Setting{}
	for name, r := range settingRules {
		set, ok := own[name]
		if !ok {
			set, ok = defaults[name]
		}
		if !ok {
			set = w.Setting{Name: name, Value: r.awsDefault, PrincipalArn: rootARN(sc.Account), Type: settingTypeUser}
		}
		if r.awsManaged {
			set.Type = settingTypeAWSManaged
		}
		out[name] = set
	}
	return out, nil
}
