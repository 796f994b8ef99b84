package ecr

import (
	"context"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// The registry's replication configuration is stored and described as in
// ECR, but nothing is replicated: Gantry has one registry per account and
// region and copies no image to another.

func (s *Service) replicationActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"DescribeRegistry":            action(m, s.DescribeRegistry),
		"PutReplicationConfiguration": action(m, s.PutReplicationConfiguration),
	}
}

// replication is a replication configuration as ECR shows it: its lists
// are [] when empty.
func replication(cfg *w.ReplicationConfiguration) *w.ReplicationConfiguration {
	out := &w.ReplicationConfiguration{Rules: []w.ReplicationRule{}}
	if cfg == nil {
		return out
	}
	for _, r := range cfg.Rules {
		if r.Destinations == nil {
			r.Destinations = []w.ReplicationDestination{}
		}
		out.Rules = append(out.Rules, r)
	}
	return out
}

// PutReplicationConfiguration stores the registry's replication
// configuration (nothing is replicated). A destination that is the source
// registry itself is refused, as ECR refuses it.
func (s *Service) PutReplicationConfiguration(ctx context.Context, in *w.PutReplicationConfigurationRequest) (*w.PutReplicationConfigurationResponse, error) {
	sc := s.scope(ctx)
	for _, r := range in.ReplicationConfiguration.Rules {
		for _, d := range r.Destinations {
			if d.Region == sc.Region && d.RegistryId == sc.Account {
				return nil, InvalidParameter.Errorf("%s", "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: 'Replication destination cannot be the same as the source registry'")
			}
		}
	}
	cfg := replication(in.ReplicationConfiguration)
	if _, err := s.reg.UpdateSettings(ctx, sc.ns, func(st *registry.Settings) error {
		st.Replication = cfg
		return nil
	}); err != nil {
		return nil, err
	}
	return &w.PutReplicationConfigurationResponse{ReplicationConfiguration: cfg}, nil
}

// DescribeRegistry describes the caller's registry: its id and its
// replication configuration (no rules until one is put).
func (s *Service) DescribeRegistry(ctx context.Context, _ *w.DescribeRegistryRequest) (*w.DescribeRegistryResponse, error) {
	sc := s.scope(ctx)
	st, err := s.reg.Settings(ctx, sc.ns)
	if err != nil {
		return nil, err
	}
	return &w.DescribeRegistryResponse{RegistryId: sc.Account, ReplicationConfiguration: replication(st.Replication)}, nil
}
