package ecr_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// The registry policy is put, read back, replaced and deleted; without one,
// reading or deleting it is ECR's RegistryPolicyNotFoundException, and a
// policy ECR would refuse gets its fixed text.
func TestRegistryPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	none := "Registry policy does not exist in the registry with id '" + account + "'"
	_, err := c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantError(t, err, "RegistryPolicyNotFoundException", none)
	_, err = c.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{})
	wantError(t, err, "RegistryPolicyNotFoundException", none)

	for _, bad := range []string{
		`not json`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:ReplicateImage"],"Resource":"*"}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["s3:GetObject"],"Resource":"*"}]}`,
	} {
		_, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(bad)})
		wantError(t, err, "InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")
	}
	_, err = c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantCode(t, err, "RegistryPolicyNotFoundException")

	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"replicate","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}]}`
	put := must(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy)}))(t)
	if aws.ToString(put.RegistryId) != account || !sameJSON(t, aws.ToString(put.PolicyText), policy) {
		t.Fatalf("put = %s %s", aws.ToString(put.RegistryId), aws.ToString(put.PolicyText))
	}
	got := must(c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{}))(t)
	if aws.ToString(got.RegistryId) != account || !sameJSON(t, aws.ToString(got.PolicyText), policy) {
		t.Fatalf("get = %s %s", aws.ToString(got.RegistryId), aws.ToString(got.PolicyText))
	}
	second := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*"}}`
	must(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(second)}))(t)
	del := must(c.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{}))(t)
	if aws.ToString(del.RegistryId) != account || !sameJSON(t, aws.ToString(del.PolicyText), second) {
		t.Fatalf("delete returned %s", aws.ToString(del.PolicyText))
	}
	_, err = c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantError(t, err, "RegistryPolicyNotFoundException", none)
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t testing.TB, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// The registry's scanning configuration is BASIC without rules until put;
// once put, each repository reports the rule its name matches (a
// continuous-scan rule over a scan-on-push one), and a repository that
// does not exist is a failure of its own.
func TestRegistryScanningConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	for _, name := range []string{"team/web", "team/api", "other"} {
		must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name),
			ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: name == "other"}}))(t)
	}
	got := must(c.GetRegistryScanningConfiguration(ctx, &ecr.GetRegistryScanningConfigurationInput{}))(t)
	if aws.ToString(got.RegistryId) != account || got.ScanningConfiguration.ScanType != types.ScanTypeBasic ||
		got.ScanningConfiguration.Rules == nil || len(got.ScanningConfiguration.Rules) != 0 {
		t.Fatalf("default scanning configuration = %+v", got.ScanningConfiguration)
	}
	// Before any registry configuration, a repository's own scanOnPush
	// decides.
	batch := must(c.BatchGetRepositoryScanningConfiguration(ctx, &ecr.BatchGetRepositoryScanningConfigurationInput{
		RepositoryNames: []string{"other", "team/web", "missing"}}))(t)
	if len(batch.ScanningConfigurations) != 2 || !batch.ScanningConfigurations[0].ScanOnPush ||
		batch.ScanningConfigurations[0].ScanFrequency != types.ScanFrequencyScanOnPush ||
		batch.ScanningConfigurations[1].ScanOnPush || batch.ScanningConfigurations[1].ScanFrequency != types.ScanFrequencyManual ||
		batch.ScanningConfigurations[1].AppliedScanFilters == nil {
		t.Fatalf("scanning configurations = %+v", batch.ScanningConfigurations)
	}
	if len(batch.Failures) != 1 || aws.ToString(batch.Failures[0].RepositoryName) != "missing" ||
		batch.Failures[0].FailureCode != types.ScanningConfigurationFailureCodeRepositoryNotFound ||
		aws.ToString(batch.Failures[0].FailureReason) != "REPOSITORY_NOT_FOUND" {
		t.Fatalf("failures = %+v", batch.Failures)
	}

	push := types.ScanningRepositoryFilter{Filter: aws.String("team/*"), FilterType: types.ScanningRepositoryFilterTypeWildcard}
	cont := types.ScanningRepositoryFilter{Filter: aws.String("team/api"), FilterType: types.ScanningRepositoryFilterTypeWildcard}
	put := must(c.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{
		ScanType: types.ScanTypeEnhanced,
		Rules: []types.RegistryScanningRule{
			{ScanFrequency: types.ScanFrequencyScanOnPush, RepositoryFilters: []types.ScanningRepositoryFilter{push}},
			{ScanFrequency: types.ScanFrequencyContinuousScan, RepositoryFilters: []types.ScanningRepositoryFilter{cont}},
		}}))(t)
	if put.RegistryScanningConfiguration.ScanType != types.ScanTypeEnhanced || len(put.RegistryScanningConfiguration.Rules) != 2 {
		t.Fatalf("put = %+v", put.RegistryScanningConfiguration)
	}
	got = must(c.GetRegistryScanningConfiguration(ctx, &ecr.GetRegistryScanningConfigurationInput{}))(t)
	if r := got.ScanningConfiguration.Rules; got.ScanningConfiguration.ScanType != types.ScanTypeEnhanced || len(r) != 2 ||
		r[1].ScanFrequency != types.ScanFrequencyContinuousScan || aws.ToString(r[1].RepositoryFilters[0].Filter) != "team/api" {
		t.Fatalf("get after put = %+v", got.ScanningConfiguration)
	}
	batch = must(c.BatchGetRepositoryScanningConfiguration(ctx, &ecr.BatchGetRepositoryScanningConfigurationInput{
		RepositoryNames: []string{"team/web", "team/api", "other"}}))(t)
	want := []struct {
		freq   types.ScanFrequency
		push   bool
		filter string
	}{{types.ScanFrequencyScanOnPush, true, "team/*"}, {types.ScanFrequencyContinuousScan, false, "team/api"}, {types.ScanFrequencyManual, false, ""}}
	if len(batch.ScanningConfigurations) != 3 || len(batch.Failures) != 0 || batch.Failures == nil {
		t.Fatalf("batch = %+v", batch)
	}
	for i, w := range want {
		got := batch.ScanningConfigurations[i]
		filters := got.AppliedScanFilters
		if got.ScanFrequency != w.freq || got.ScanOnPush != w.push || (w.filter == "") != (len(filters) == 0) ||
			(w.filter != "" && aws.ToString(filters[0].Filter) != w.filter) || !arnEndsWith(got.RepositoryArn, aws.ToString(got.RepositoryName)) {
			t.Fatalf("repository %d: %+v", i, got)
		}
	}

	// Basic scanning has no continuous scan; filters follow the model's
	// pattern. Neither refusal changes the stored configuration.
	_, err := c.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeBasic,
		Rules: []types.RegistryScanningRule{{ScanFrequency: types.ScanFrequencyContinuousScan, RepositoryFilters: []types.ScanningRepositoryFilter{push}}}})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeBasic,
		Rules: []types.RegistryScanningRule{{ScanFrequency: types.ScanFrequencyScanOnPush, RepositoryFilters: []types.ScanningRepositoryFilter{
			{Filter: aws.String("Team/*"), FilterType: types.ScanningRepositoryFilterTypeWildcard}}}}})
	wantError(t, err, "InvalidParameterException", `Invalid parameter at 'rules.1.member.repositoryFilters.1.member.filter' failed to satisfy constraint: 'must satisfy regular expression '^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$''`)
	got = must(c.GetRegistryScanningConfiguration(ctx, &ecr.GetRegistryScanningConfigurationInput{}))(t)
	if got.ScanningConfiguration.ScanType != types.ScanTypeEnhanced || len(got.ScanningConfiguration.Rules) != 2 {
		t.Fatalf("a refused put changed the configuration: %+v", got.ScanningConfiguration)
	}

	// Back to basic without rules: every repository is scanned manually.
	must(c.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeBasic, Rules: []types.RegistryScanningRule{}}))(t)
	batch = must(c.BatchGetRepositoryScanningConfiguration(ctx, &ecr.BatchGetRepositoryScanningConfigurationInput{RepositoryNames: []string{"team/web", "other"}}))(t)
	for _, s := range batch.ScanningConfigurations {
		if s.ScanOnPush || s.ScanFrequency != types.ScanFrequencyManual || len(s.AppliedScanFilters) != 0 {
			t.Fatalf("after reset: %+v", s)
		}
	}
}

func arnEndsWith(arn *string, name string) bool {
	s := aws.ToString(arn)
	return len(s) > len(name) && s[len(s)-len(name)-1:] == "/"+name
}

// Account settings read AWS's defaults until put; a put value is read
// back; an unknown name or a value the setting does not take is refused.
func TestAccountSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	for name, want := range map[string]string{"BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE", "REGISTRY_POLICY_SCOPE": "V2", "BLOB_MOUNTING": "DISABLED"} {
		got := must(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String(name)}))(t)
		if aws.ToString(got.Name) != name || aws.ToString(got.Value) != want {
			t.Fatalf("default %s = %s, want %s", name, aws.ToString(got.Value), want)
		}
	}
	put := must(c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")}))(t)
	if aws.ToString(put.Name) != "BLOB_MOUNTING" || aws.ToString(put.Value) != "ENABLED" {
		t.Fatalf("put = %+v", put)
	}
	got := must(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")}))(t)
	if aws.ToString(got.Value) != "ENABLED" {
		t.Fatalf("after put: %s", aws.ToString(got.Value))
	}
	// Settings belong to one account and region: another region still
	// reads the default.
	other := must(e.client().GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")}))(t)
	if aws.ToString(other.Value) != "DISABLED" {
		t.Fatalf("another region reads %s", aws.ToString(other.Value))
	}

	_, err := c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("SCAN_EVERYTHING")})
	wantError(t, err, "InvalidParameterException",
		"Invalid parameter at 'name' failed to satisfy constraint: 'Member must satisfy enum value set: [BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE, BLOB_MOUNTING]'")
	_, err = c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("SOMETIMES")})
	wantCode(t, err, "InvalidParameterException")
	got = must(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")}))(t)
	if aws.ToString(got.Value) != "ENABLED" {
		t.Fatalf("a refused put changed the setting to %s", aws.ToString(got.Value))
	}
}

// DescribeRegistry shows no replication rules until a configuration is
// put, then the configuration; replicating to the source registry itself
// is refused with ECR's text.
func TestReplicationConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	d := must(c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{}))(t)
	if aws.ToString(d.RegistryId) != account || d.ReplicationConfiguration == nil || d.ReplicationConfiguration.Rules == nil ||
		len(d.ReplicationConfiguration.Rules) != 0 {
		t.Fatalf("describe = %+v", d)
	}
	cfg := &types.ReplicationConfiguration{Rules: []types.ReplicationRule{{
		Destinations:      []types.ReplicationDestination{{Region: aws.String("eu-west-1"), RegistryId: aws.String(account)}},
		RepositoryFilters: []types.RepositoryFilter{{Filter: aws.String("team"), FilterType: types.RepositoryFilterTypePrefixMatch}},
	}}}
	put := must(c.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: cfg}))(t)
	if r := put.ReplicationConfiguration.Rules; len(r) != 1 || aws.ToString(r[0].Destinations[0].Region) != "eu-west-1" {
		t.Fatalf("put = %+v", put.ReplicationConfiguration)
	}
	d = must(c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{}))(t)
	r := d.ReplicationConfiguration.Rules
	if len(r) != 1 || aws.ToString(r[0].Destinations[0].RegistryId) != account || aws.ToString(r[0].RepositoryFilters[0].Filter) != "team" ||
		r[0].RepositoryFilters[0].FilterType != types.RepositoryFilterTypePrefixMatch {
		t.Fatalf("describe after put = %+v", d.ReplicationConfiguration)
	}

	self := &types.ReplicationConfiguration{Rules: []types.ReplicationRule{{
		Destinations: []types.ReplicationDestination{{Region: aws.String(c.Options().Region), RegistryId: aws.String(account)}}}}}
	_, err := c.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: self})
	wantError(t, err, "InvalidParameterException",
		"Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: 'Replication destination cannot be the same as the source registry'")

	must(c.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: &types.ReplicationConfiguration{Rules: []types.ReplicationRule{}}}))(t)
	d = must(c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{}))(t)
	if d.ReplicationConfiguration.Rules == nil || len(d.ReplicationConfiguration.Rules) != 0 {
		t.Fatalf("after clearing: %+v", d.ReplicationConfiguration)
	}
}

// Gantry scans nothing: StartImageScan of an existing image is ECR's
// UnsupportedImageTypeException and DescribeImageScanFindings its
// ScanNotFoundException, while a missing repository or image is refused
// first, as ECR refuses it.
func TestImageScansAreUnsupported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("scanned")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	tok, _, _ := login(t, c)
	cfg, layer := pushBlob(t, e.url, tok, "scanned", []byte("{}")), pushBlob(t, e.url, tok, "scanned", []byte("layer"))
	img := must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(cfg, layer, 1))}))(t)
	digest := aws.ToString(img.Image.ImageId.ImageDigest)

	_, err := c.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: repo, ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
	wantCode(t, err, "UnsupportedImageTypeException")
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: repo, ImageId: &types.ImageIdentifier{ImageDigest: aws.String(digest)}})
	wantError(t, err, "ScanNotFoundException", "Image scan does not exist for the image with '{imageDigest:'"+digest+"', imageTag:'null'}' in the repository with name 'scanned' in the registry with id '"+account+"'")

	_, err = c.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: repo, ImageId: &types.ImageIdentifier{ImageTag: aws.String("v2")}})
	wantError(t, err, "ImageNotFoundException", "The image with imageId {imageDigest:'null', imageTag:'v2'} does not exist within the repository with name 'scanned' in the registry with id '"+account+"'")
	_, err = c.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("ghost"), ImageId: &types.ImageIdentifier{ImageTag: aws.String("v1")}})
	wantError(t, err, "RepositoryNotFoundException", "The repository with name 'ghost' does not exist in the registry with id '"+account+"'")
}

// The registry's settings share one record: changes of different settings
// made at the same time all survive (each is its own transaction, retried
// on conflict), none overwrites another.
func TestConcurrentRegistrySettingsAllSurvive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}`
	calls := []func() error{
		func() error {
			_, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy)})
			return err
		},
		func() error {
			_, err := c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String("BLOB_MOUNTING"), Value: aws.String("ENABLED")})
			return err
		},
		func() error {
			_, err := c.PutRegistryScanningConfiguration(ctx, &ecr.PutRegistryScanningConfigurationInput{ScanType: types.ScanTypeEnhanced, Rules: []types.RegistryScanningRule{}})
			return err
		},
		func() error {
			_, err := c.PutReplicationConfiguration(ctx, &ecr.PutReplicationConfigurationInput{ReplicationConfiguration: &types.ReplicationConfiguration{
				Rules: []types.ReplicationRule{{Destinations: []types.ReplicationDestination{{Region: aws.String("eu-west-1"), RegistryId: aws.String(account)}}}}}})
			return err
		},
	}
	errs := make(chan error, len(calls))
	for _, call := range calls {
		go func() { errs <- call() }()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	must(c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{}))(t)
	if v := must(c.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String("BLOB_MOUNTING")}))(t); aws.ToString(v.Value) != "ENABLED" {
		t.Fatalf("BLOB_MOUNTING = %s", aws.ToString(v.Value))
	}
	if s := must(c.GetRegistryScanningConfiguration(ctx, &ecr.GetRegistryScanningConfigurationInput{}))(t); s.ScanningConfiguration.ScanType != types.ScanTypeEnhanced {
		t.Fatalf("scan type = %s", s.ScanningConfiguration.ScanType)
	}
	if d := must(c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{}))(t); len(d.ReplicationConfiguration.Rules) != 1 {
		t.Fatalf("replication = %+v", d.ReplicationConfiguration)
	}
}
