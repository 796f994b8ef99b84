package ecr

import (
	"context"
	"fmt"
	"regexp"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// The registry's scanning configuration is stored and applied to what
// BatchGetRepositoryScanningConfiguration reports, as in ECR; Gantry itself
// scans nothing (see scans.go).

func (s *Service) scanningActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"PutRegistryScanningConfiguration":        action(m, s.PutRegistryScanningConfiguration),
		"GetRegistryScanningConfiguration":        action(m, s.GetRegistryScanningConfiguration),
		"BatchGetRepositoryScanningConfiguration": action(m, s.BatchGetRepositoryScanningConfiguration),
	}
}

// scanFilterText is the model's pattern for a scanning repository filter.
const scanFilterText = `^[a-z0-9*](?:[._\-/a-z0-9*]?[a-z0-9*]+)*$`

var scanFilterPattern = regexp.MustCompile(scanFilterText)

// registryScanning is the registry's scanning configuration: BASIC without
// rules until one is put, as in ECR.
func registryScanning(st *registry.Settings) *w.RegistryScanningConfiguration {
	if st.Scanning == nil {
		return &w.RegistryScanningConfiguration{ScanType: "BASIC", Rules: []w.RegistryScanningRule{}}
	}
	out := *st.Scanning
	if out.Rules == nil {
		out.Rules = []w.RegistryScanningRule{}
	}
	return &out
}

// checkScanningRules refuses what the model's tags cannot say: a filter
// outside the model's pattern, and a scan frequency the scan type does not
// offer (basic scanning has no continuous scan).
func checkScanningRules(scanType string, rules []w.RegistryScanningRule) error {
	for i, r := range rules {
		for j, f := range r.RepositoryFilters {
			if !scanFilterPattern.MatchString(f.Filter) {
				return InvalidParameter.Errorf("Invalid parameter at 'rules.%d.member.repositoryFilters.%d.member.filter' failed to satisfy constraint: 'must satisfy regular expression '%s''", i+1, j+1, scanFilterText)
			}
		}
		if scanType == "BASIC" && r.ScanFrequency == "CONTINUOUS_SCAN" {
			return InvalidParameter.Errorf("Invalid parameter at 'rules.%d.member.scanFrequency': CONTINUOUS_SCAN needs scanType ENHANCED; BASIC scanning offers SCAN_ON_PUSH (or MANUAL).", i+1)
		}
	}
	return nil
}

// PutRegistryScanningConfiguration replaces the registry's scanning
// configuration (scanType BASIC when not given).
func (s *Service) PutRegistryScanningConfiguration(ctx context.Context, in *w.PutRegistryScanningConfigurationRequest) (*w.PutRegistryScanningConfigurationResponse, error) {
	sc := s.scope(ctx)
	cfg := w.RegistryScanningConfiguration{ScanType: in.ScanType, Rules: in.Rules}
	if cfg.ScanType == "" {
		cfg.ScanType = "BASIC"
	}
	if cfg.Rules == nil {
		cfg.Rules = []w.RegistryScanningRule{}
	}
	for i := range cfg.Rules {
		if cfg.Rules[i].RepositoryFilters == nil {
			cfg.Rules[i].RepositoryFilters = []w.ScanningRepositoryFilter{}
		}
	}
	if err := checkScanningRules(cfg.ScanType, cfg.Rules); err != nil {
		return nil, err
	}
	st, err := s.reg.UpdateSettings(ctx, sc.ns, func(st *registry.Settings) error {
		st.Scanning = &cfg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.PutRegistryScanningConfigurationResponse{RegistryScanningConfiguration: registryScanning(st)}, nil
}

// GetRegistryScanningConfiguration returns the registry's scanning
// configuration.
func (s *Service) GetRegistryScanningConfiguration(ctx context.Context, _ *w.GetRegistryScanningConfigurationRequest) (*w.GetRegistryScanningConfigurationResponse, error) {
	sc := s.scope(ctx)
	st, err := s.reg.Settings(ctx, sc.ns)
	if err != nil {
		return nil, err
	}
	return &w.GetRegistryScanningConfigurationResponse{RegistryId: sc.Account, ScanningConfiguration: registryScanning(st)}, nil
}

// repositoryScanning is the scanning configuration that applies to a
// repository: the registry's rules whose filters match its name (a
// continuous-scan rule over a scan-on-push one, as ECR documents), or,
// while the registry has no scanning configuration, the repository's own
// scanOnPush.
func repositoryScanning(cfg *w.RegistryScanningConfiguration, r *registry.Repository) w.RepositoryScanningConfiguration {
	out := w.RepositoryScanningConfiguration{RepositoryArn: r.RepositoryArn, RepositoryName: r.RepositoryName,
		ScanFrequency: "MANUAL", AppliedScanFilters: []w.ScanningRepositoryFilter{}}
	if cfg == nil {
		if r.ImageScanningConfiguration != nil && r.ImageScanningConfiguration.ScanOnPush {
			out.ScanOnPush, out.ScanFrequency = true, "SCAN_ON_PUSH"
		}
		return out
	}
	rank := map[string]int{"MANUAL": 0, "SCAN_ON_PUSH": 1, "CONTINUOUS_SCAN": 2}
	for _, rule := range cfg.Rules {
		var matched []w.ScanningRepositoryFilter
		for _, f := range rule.RepositoryFilters {
			if registry.WildcardMatch(f.Filter, r.RepositoryName) {
				matched = append(matched, f)
			}
		}
		if len(matched) > 0 && rank[rule.ScanFrequency] > rank[out.ScanFrequency] {
			out.ScanFrequency, out.AppliedScanFilters = rule.ScanFrequency, matched
		}
	}
	out.ScanOnPush = out.ScanFrequency == "SCAN_ON_PUSH"
	return out
}

// BatchGetRepositoryScanningConfiguration reports the scanning
// configuration of each named repository; a repository that does not
// exist is a failure of its own, not an error of the call.
func (s *Service) BatchGetRepositoryScanningConfiguration(ctx context.Context, in *w.BatchGetRepositoryScanningConfigurationRequest) (*w.BatchGetRepositoryScanningConfigurationResponse, error) {
	sc := s.scope(ctx)
	st, err := s.reg.Settings(ctx, sc.ns)
	if err != nil {
		return nil, err
	}
	out := &w.BatchGetRepositoryScanningConfigurationResponse{
		ScanningConfigurations: []w.RepositoryScanningConfiguration{}, Failures: []w.RepositoryScanningConfigurationFailure{}}
	for _, name := range in.RepositoryNames {
		r, _, err := s.reg.Repository(ctx, sc.ns, name)
		if e, ok := registry.AsError(err); ok && e.Code.Name == registry.NameUnknown.Name {
			out.Failures = append(out.Failures, w.RepositoryScanningConfigurationFailure{
				RepositoryName: name, FailureCode: "REPOSITORY_NOT_FOUND", FailureReason: "REPOSITORY_NOT_FOUND"})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", name, err)
		}
		out.ScanningConfigurations = append(out.ScanningConfigurations, repositoryScanning(st.Scanning, r))
	}
	return out, nil
}
