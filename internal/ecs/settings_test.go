package ecs_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/awsapi"
	gecs "github.com/gantry-dev/gantry/internal/ecs"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/state"
)

var (
	rootARN  = "arn:aws:iam::" + gt.Account + ":root"
	aliceARN = "arn:aws:iam::" + gt.Account + ":user/alice"
	bobARN   = "arn:aws:iam::" + gt.Account + ":role/deploy/bob"
)

// awsDefaults are the values of every setting in a fresh account.
var awsDefaults = map[types.SettingName]string{
	"awsvpcTrunking":                  "disabled",
	"containerInsights":               "disabled",
	"containerInstanceLongArnFormat":  "enabled",
	"defaultLogDriverMode":            "non-blocking",
	"fargateEventWindows":             "disabled",
	"fargateFIPSMode":                 "disabled",
	"fargateTaskRetirementWaitPeriod": "7",
	"guardDutyActivate":               "off",
	"serviceLongArnFormat":            "enabled",
	"tagResourceAuthorization":        "on",
	"taskLongArnFormat":               "enabled",
}

// effective returns the setting name applies to principal ("" for the caller).
func effective(t *testing.T, c *ecs.Client, principal string, name types.SettingName) types.Setting {
	t.Helper()
	in := &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: name}
	if principal != "" {
		in.PrincipalArn = aws.String(principal)
	}
	out := gt.Must(c.ListAccountSettings(context.Background(), in))(t)
	if len(out.Settings) != 1 {
		t.Fatalf("effective %s of %q: %d settings", name, principal, len(out.Settings))
	}
	return out.Settings[0]
}

func wantSetting(t *testing.T, got types.Setting, name types.SettingName, value, principal string, typ types.SettingType) {
	t.Helper()
	if got.Name != name || aws.ToString(got.Value) != value || aws.ToString(got.PrincipalArn) != principal || got.Type != typ {
		t.Fatalf("setting = {%s %s %s %s}, want {%s %s %s %s}", got.Name, aws.ToString(got.Value), aws.ToString(got.PrincipalArn), got.Type,
			name, value, principal, typ)
	}
}

func TestAccountSettingPrecedence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	const ci = types.SettingNameContainerInsights

	// Nothing set: the AWS default, reported as the root user's.
	wantSetting(t, effective(t, c, aliceARN, ci), ci, "disabled", rootARN, types.SettingTypeUser)

	// The account default applies to every principal without its own.
	def := gt.Must(c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: ci, Value: aws.String("enabled")}))(t)
	wantSetting(t, *def.Setting, ci, "enabled", rootARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, aliceARN, ci), ci, "enabled", rootARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, "", ci), ci, "enabled", rootARN, types.SettingTypeUser)

	// A principal's own setting wins over the default, for it alone.
	own := gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: ci, Value: aws.String("enhanced"), PrincipalArn: aws.String(aliceARN)}))(t)
	wantSetting(t, *own.Setting, ci, "enhanced", aliceARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, aliceARN, ci), ci, "enhanced", aliceARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, bobARN, ci), ci, "enabled", rootARN, types.SettingTypeUser)

	// Without effectiveSettings, only what the principal set itself is listed.
	l := gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{PrincipalArn: aws.String(aliceARN)}))(t)
	if len(l.Settings) != 1 || aws.ToString(l.Settings[0].Value) != "enhanced" {
		t.Fatalf("alice's own settings = %+v", l.Settings)
	}
	l = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{PrincipalArn: aws.String(bobARN)}))(t)
	if len(l.Settings) != 0 || l.NextToken != nil {
		t.Fatalf("bob's own settings = %+v", l.Settings)
	}
	// The caller here is the root user: its own settings are the account defaults.
	l = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{}))(t)
	if len(l.Settings) != 1 || l.Settings[0].Name != ci || aws.ToString(l.Settings[0].PrincipalArn) != rootARN {
		t.Fatalf("root's own settings = %+v", l.Settings)
	}

	// Changing the default does not change alice; PutAccountSetting for the
	// root user is the same as PutAccountSettingDefault.
	root := gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: ci, Value: aws.String("disabled"), PrincipalArn: aws.String(rootARN)}))(t)
	wantSetting(t, *root.Setting, ci, "disabled", rootARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, aliceARN, ci), ci, "enhanced", aliceARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, bobARN, ci), ci, "disabled", rootARN, types.SettingTypeUser)
	gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: ci, Value: aws.String("enabled")}))(t)
	wantSetting(t, effective(t, c, bobARN, ci), ci, "enabled", rootARN, types.SettingTypeUser)

	// Deleting alice's setting answers the value she had, then she inherits.
	del := gt.Must(c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: ci, PrincipalArn: aws.String(aliceARN)}))(t)
	wantSetting(t, *del.Setting, ci, "enhanced", aliceARN, types.SettingTypeUser)
	wantSetting(t, effective(t, c, aliceARN, ci), ci, "enabled", rootARN, types.SettingTypeUser)
	// Deleting it again succeeds and changes nothing; it answers the inherited value.
	del = gt.Must(c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: ci, PrincipalArn: aws.String(aliceARN)}))(t)
	if aws.ToString(del.Setting.Value) != "enabled" || aws.ToString(del.Setting.PrincipalArn) != aliceARN {
		t.Fatalf("second delete = %+v", del.Setting)
	}

	// Deleting the root user's setting removes the account default: back to AWS's.
	gt.Must(c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: ci}))(t)
	wantSetting(t, effective(t, c, aliceARN, ci), ci, "disabled", rootARN, types.SettingTypeUser)
	l = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{}))(t)
	if len(l.Settings) != 0 {
		t.Fatalf("root's own settings after delete = %+v", l.Settings)
	}
}

func TestAccountSettingValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	for _, tc := range []struct {
		name  types.SettingName
		value string
	}{
		{"serviceLongArnFormat", "enabled"},
		{"awsvpcTrunking", "enabled"},
		{"containerInsights", "enhanced"},
		{"tagResourceAuthorization", "off"},
		{"defaultLogDriverMode", "blocking"},
		{"fargateEventWindows", "enabled"},
	} {
		out := gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: tc.name, Value: aws.String(tc.value), PrincipalArn: aws.String(bobARN)}))(t)
		wantSetting(t, *out.Setting, tc.name, tc.value, bobARN, types.SettingTypeUser)
		wantSetting(t, effective(t, c, bobARN, tc.name), tc.name, tc.value, bobARN, types.SettingTypeUser)
	}
	// Account-wide settings: through the default, or PutAccountSetting of the root user.
	for _, tc := range []struct {
		name  types.SettingName
		value string
	}{
		{"fargateTaskRetirementWaitPeriod", "0"},
		{"fargateTaskRetirementWaitPeriod", "14"},
		{"fargateFIPSMode", "enabled"},
	} {
		out := gt.Must(c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: tc.name, Value: aws.String(tc.value)}))(t)
		wantSetting(t, *out.Setting, tc.name, tc.value, rootARN, types.SettingTypeUser)
		wantSetting(t, effective(t, c, bobARN, tc.name), tc.name, tc.value, rootARN, types.SettingTypeUser)
	}
	gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "fargateTaskRetirementWaitPeriod", Value: aws.String("7")}))(t)
	wantSetting(t, effective(t, c, aliceARN, "fargateTaskRetirementWaitPeriod"), "fargateTaskRetirementWaitPeriod", "7", rootARN, types.SettingTypeUser)
}

func TestListAccountSettingsPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: "awsvpcTrunking", Value: aws.String("enabled")}))(t)
	gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "containerInsights", Value: aws.String("enhanced"), PrincipalArn: aws.String(aliceARN)}))(t)

	want := map[types.SettingName]string{}
	for k, v := range awsDefaults {
		want[k] = v
	}
	want["awsvpcTrunking"] = "enabled"
	want["containerInsights"] = "enhanced"

	var names []types.SettingName
	var sizes []int
	p := ecs.NewListAccountSettingsPaginator(c, &ecs.ListAccountSettingsInput{EffectiveSettings: true, PrincipalArn: aws.String(aliceARN), MaxResults: 4})
	for p.HasMorePages() {
		out := gt.Must(p.NextPage(ctx))(t)
		sizes = append(sizes, len(out.Settings))
		for _, s := range out.Settings {
			names = append(names, s.Name)
			if aws.ToString(s.Value) != want[s.Name] {
				t.Errorf("%s = %s, want %s", s.Name, aws.ToString(s.Value), want[s.Name])
			}
			wantPrincipal, wantType := rootARN, types.SettingTypeUser
			if s.Name == "containerInsights" {
				wantPrincipal = aliceARN
			}
			if s.Name == "guardDutyActivate" {
				wantType = types.SettingTypeAwsManaged
			}
			if aws.ToString(s.PrincipalArn) != wantPrincipal || s.Type != wantType {
				t.Errorf("%s: principal %s type %s, want %s %s", s.Name, aws.ToString(s.PrincipalArn), s.Type, wantPrincipal, wantType)
			}
		}
	}
	// Every setting of the model, once each, in name order, by pages of 4.
	all := types.SettingName("").Values()
	slices.Sort(all)
	if !slices.Equal(names, all) {
		t.Fatalf("listed %v, want %v", names, all)
	}
	if !slices.Equal(sizes, []int{4, 4, 3}) {
		t.Fatalf("page sizes %v, want [4 4 3]", sizes)
	}

	// The default page holds 10; a full last page has no nextToken.
	out := gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true}))(t)
	if len(out.Settings) != 10 || out.NextToken == nil {
		t.Fatalf("default page: %d settings, nextToken %v", len(out.Settings), out.NextToken)
	}
	out = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, NextToken: out.NextToken}))(t)
	if len(out.Settings) != 1 || out.NextToken != nil {
		t.Fatalf("second page: %d settings, nextToken %v", len(out.Settings), out.NextToken)
	}

	// Filters: by name, and by name and value.
	out = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: "awsvpcTrunking", Value: aws.String("enabled")}))(t)
	if len(out.Settings) != 1 || aws.ToString(out.Settings[0].Value) != "enabled" {
		t.Fatalf("name+value filter = %+v", out.Settings)
	}
	out = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{EffectiveSettings: true, Name: "awsvpcTrunking", Value: aws.String("disabled")}))(t)
	if len(out.Settings) != 0 {
		t.Fatalf("non-matching value filter = %+v", out.Settings)
	}
	out = gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Name: "awsvpcTrunking"}))(t)
	if len(out.Settings) != 1 || aws.ToString(out.Settings[0].PrincipalArn) != rootARN {
		t.Fatalf("root's own awsvpcTrunking = %+v", out.Settings)
	}
}

func TestAccountSettingErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	put := func(name types.SettingName, value, principal string) func() error {
		return func() error {
			in := &ecs.PutAccountSettingInput{Name: name, Value: aws.String(value)}
			if principal != "" {
				in.PrincipalArn = aws.String(principal)
			}
			_, err := c.PutAccountSetting(ctx, in)
			return err
		}
	}
	putDefault := func(name types.SettingName, value string) func() error {
		return func() error {
			_, err := c.PutAccountSettingDefault(ctx, &ecs.PutAccountSettingDefaultInput{Name: name, Value: aws.String(value)})
			return err
		}
	}
	list := func(in *ecs.ListAccountSettingsInput) func() error {
		return func() error { _, err := c.ListAccountSettings(ctx, in); return err }
	}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown setting name", put("colour", "enabled", ""), "InvalidParameterException"},
		{"bad value", put("awsvpcTrunking", "maybe", ""), "InvalidParameterException"},
		{"empty value", put("awsvpcTrunking", "", ""), "InvalidParameterException"},
		{"enhanced only for containerInsights", put("awsvpcTrunking", "enhanced", ""), "InvalidParameterException"},
		{"on/off for tagResourceAuthorization", put("tagResourceAuthorization", "enabled", ""), "InvalidParameterException"},
		{"long ARN format cannot be disabled", put("taskLongArnFormat", "disabled", aliceARN), "InvalidParameterException"},
		{"long ARN format default cannot be disabled", putDefault("serviceLongArnFormat", "disabled"), "InvalidParameterException"},
		{"guardDutyActivate is read-only", put("guardDutyActivate", "on", ""), "InvalidParameterException"},
		{"guardDutyActivate default is read-only", putDefault("guardDutyActivate", "off"), "InvalidParameterException"},
		{"guardDutyActivate cannot be deleted", func() error {
			_, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: "guardDutyActivate"})
			return err
		}, "InvalidParameterException"},
		{"retirement wait period for a user", put("fargateTaskRetirementWaitPeriod", "14", aliceARN), "InvalidParameterException"},
		{"retirement wait period of 3 days", putDefault("fargateTaskRetirementWaitPeriod", "3"), "InvalidParameterException"},
		{"FIPS mode for a role", put("fargateFIPSMode", "enabled", bobARN), "InvalidParameterException"},
		{"log driver mode", putDefault("defaultLogDriverMode", "enabled"), "InvalidParameterException"},
		{"principal of another account", put("awsvpcTrunking", "enabled", "arn:aws:iam::999999999999:user/alice"), "InvalidParameterException"},
		{"principal not an ARN", put("awsvpcTrunking", "enabled", "alice"), "InvalidParameterException"},
		{"principal not IAM", put("awsvpcTrunking", "enabled", "arn:aws:ecs:"+c.Options().Region+":"+gt.Account+":cluster/x"), "InvalidParameterException"},
		{"principal a group", put("awsvpcTrunking", "enabled", "arn:aws:iam::"+gt.Account+":group/admins"), "InvalidParameterException"},
		{"principal user without name", put("awsvpcTrunking", "enabled", "arn:aws:iam::"+gt.Account+":user/"), "InvalidParameterException"},
		{"delete for another account", func() error {
			_, err := c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: "awsvpcTrunking", PrincipalArn: aws.String("arn:aws:iam::999999999999:root")})
			return err
		}, "InvalidParameterException"},
		{"list for another account", list(&ecs.ListAccountSettingsInput{PrincipalArn: aws.String("arn:aws:iam::999999999999:root")}), "InvalidParameterException"},
		{"list value without name", list(&ecs.ListAccountSettingsInput{Value: aws.String("enabled")}), "InvalidParameterException"},
		{"list maxResults 11", list(&ecs.ListAccountSettingsInput{MaxResults: 11}), "InvalidParameterException"},
		{"list maxResults negative", list(&ecs.ListAccountSettingsInput{MaxResults: -1}), "InvalidParameterException"},
		{"list garbage nextToken", list(&ecs.ListAccountSettingsInput{NextToken: aws.String("garbage")}), "InvalidParameterException"},
		{"list nextToken of another action", list(&ecs.ListAccountSettingsInput{NextToken: aws.String(listClustersToken(t, c))}), "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// None of the refused writes changed anything.
	out := gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{}))(t)
	if len(out.Settings) != 0 {
		t.Fatalf("refused writes left settings: %+v", out.Settings)
	}
	for _, p := range []string{aliceARN, bobARN} {
		out := gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{PrincipalArn: aws.String(p)}))(t)
		if len(out.Settings) != 0 {
			t.Fatalf("refused writes left settings for %s: %+v", p, out.Settings)
		}
	}
}

// listClustersToken returns a valid nextToken of ListClusters.
func listClustersToken(t *testing.T, c *ecs.Client) string {
	t.Helper()
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(n)}))(t)
	}
	out := gt.Must(c.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(1)}))(t)
	return aws.ToString(out.NextToken)
}

// A caller that is not the root user manages its own settings only. The
// shared test server knows only a root key, so this test serves the ECS API
// with a key of an IAM user, over its own store.
func TestAccountSettingsOfNonRootCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := state.Open(ctx, state.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := awsapi.Keys{"AKIDALICE": {ID: "AKIDALICE", Secret: "alice-secret", Account: gt.Account, Principal: aliceARN}}
	srv := httptest.NewServer(awsapi.NewEdge(awsapi.EdgeConfig{Keys: keys, Services: []*awsapi.Service{gecs.New(st, log).API()}, Logger: log}))
	t.Cleanup(srv.Close)
	c := ecs.NewFromConfig(aws.Config{
		Region:       "test-alice",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDALICE", "alice-secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	const ci = types.SettingNameContainerInsights

	// Without principalArn, and naming herself: alice's own setting.
	out := gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: ci, Value: aws.String("enabled")}))(t)
	wantSetting(t, *out.Setting, ci, "enabled", aliceARN, types.SettingTypeUser)
	gt.Must(c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "awsvpcTrunking", Value: aws.String("enabled"), PrincipalArn: aws.String(aliceARN)}))(t)
	l := gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{}))(t)
	if len(l.Settings) != 2 || aws.ToString(l.Settings[0].PrincipalArn) != aliceARN {
		t.Fatalf("alice's own settings = %+v", l.Settings)
	}
	wantSetting(t, effective(t, c, "", "awsvpcTrunking"), "awsvpcTrunking", "enabled", aliceARN, types.SettingTypeUser)

	// Account-wide settings are not hers to set through PutAccountSetting.
	_, err = c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: "fargateTaskRetirementWaitPeriod", Value: aws.String("14")})
	gt.WantCode(t, err, "InvalidParameterException")

	// Other principals' settings, the root user's included, are refused.
	_, err = c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: ci, Value: aws.String("enabled"), PrincipalArn: aws.String(bobARN)})
	gt.WantCode(t, err, "AccessDeniedException")
	_, err = c.PutAccountSetting(ctx, &ecs.PutAccountSettingInput{Name: ci, Value: aws.String("enabled"), PrincipalArn: aws.String(rootARN)})
	gt.WantCode(t, err, "AccessDeniedException")
	_, err = c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{PrincipalArn: aws.String(rootARN)})
	gt.WantCode(t, err, "AccessDeniedException")
	_, err = c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: ci, PrincipalArn: aws.String(bobARN)})
	gt.WantCode(t, err, "AccessDeniedException")

	// Deleting her own falls back to the AWS default.
	gt.Must(c.DeleteAccountSetting(ctx, &ecs.DeleteAccountSettingInput{Name: ci}))(t)
	wantSetting(t, effective(t, c, "", ci), ci, "disabled", rootARN, types.SettingTypeUser)
}
