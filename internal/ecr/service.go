package ecr

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// Service runs the ECR operations against the registry.
type Service struct {
	reg *registry.Registry
	log *slog.Logger
	now func() time.Time
}

// New returns the ECR operations over reg (which holds the store):
//
//	edge := awsapi.NewEdge(awsapi.EdgeConfig{Services: []*awsapi.Service{ecsAPI, ecr.New(reg, log).API()}, ...})
func New(reg *registry.Registry, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{reg: reg, log: log, now: time.Now}
}

// API returns the ECR action table for the edge. Each resource file
// contributes its entries.
func (s *Service) API() *awsapi.Service {
	m := awsapi.Model{Enums: ecrwire.Enums, InvalidParameter: InvalidParameter}
	actions := map[string]awsapi.Handler{}
	for _, group := range []map[string]awsapi.Handler{
		s.repositoryActions(m),
		s.imageActions(m),
		s.authActions(m),
		s.tagActions(m),
		s.lifecycleActions(m),
		s.repositoryPolicyActions(m),
		s.uploadActions(m),
	} {
		maps.Copy(actions, group)
	}
	// PutImage carries a manifest of up to 4 MiB, JSON-escaped, and
	// UploadLayerPart a part base64-encoded: they may send more than the
	// edge's default body limit.
	large := map[string]int64{"PutImage": 10 << 20, "UploadLayerPart": 10 << 20}
	return &awsapi.Service{TargetPrefix: ecrwire.TargetPrefix, SigningName: "ecr", Actions: actions, BodyLimits: large}
}

// scope is one request's view: its caller and the registry namespace of the
// caller's account and region.
type scope struct {
	awsapi.Caller
	ns registry.Namespace
}

func (s *Service) scope(ctx context.Context) scope {
	c := awsapi.CallerFrom(ctx)
	return scope{Caller: c, ns: registry.Namespace{Account: c.Account, Region: c.Region}}
}

// checkRegistry refuses a registryId other than the caller's account.
func (sc scope) checkRegistry(id string) error {
	if id != "" && id != sc.Account {
		return InvalidParameter.Errorf("registryId %s is not this account's registry (%s).", id, sc.Account)
	}
	return nil
}

// arn is the ARN of a repository in the caller's account and region.
func (sc scope) arn(repo string) string {
	return model.ARN("ecr", sc.Region, sc.Account, "repository/"+repo)
}

// host is the registry host docker uses: the host the caller reached.
func (sc scope) host() string {
	h := sc.Endpoint
	for _, p := range []string{"http://", "https://"} {
		if len(h) > len(p) && h[:len(p)] == p {
			return h[len(p):]
		}
	}
	if h == "" {
		return "127.0.0.1:4566"
	}
	return h
}
