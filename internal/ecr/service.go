package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	m := awsapi.Model{Enums: ecrwire.Enums, InvalidParameter: InvalidParameter, Message: invalidParameterMessage}
	actions := map[string]awsapi.Handler{}
	for _, group := range []map[string]awsapi.Handler{
		s.repositoryActions(m),
		s.imageActions(m),
		s.referrerActions(m),
		s.authActions(m),
		s.tagActions(m),
		s.lifecycleActions(m),
		s.repositoryPolicyActions(m),
		s.uploadActions(m),
		s.registryPolicyActions(m),
		s.scanningActions(m),
		s.scanActions(m),
		s.accountSettingActions(m),
		s.replicationActions(m),
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

// managedKey is the ARN of the account's AWS managed key for ECR (alias
// aws/ecr) in the caller's region, which ECR names when a repository asks
// for KMS encryption without a key of its own. Its id is a UUID derived from
// the account and region, so every repository of a region shows the same
// key, as in AWS. Gantry stores it; it encrypts nothing with it.
func (sc scope) managedKey() string {
	h := sha256.Sum256([]byte("aws/ecr\x00" + sc.Account + "\x00" + sc.Region))
	x := hex.EncodeToString(h[:16])
	id := x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
	return model.ARN("kms", sc.Region, sc.Account, "key/"+id)
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
