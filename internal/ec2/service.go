package ec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"reflect"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

// Service runs the EC2 networking operations against a store.
type Service struct {
	store *state.Store
	log   *slog.Logger
}

// New returns the EC2 operations over store:
//
//	q := awsapi.NewQueryEdge(awsapi.QueryEdgeConfig{Services: []*awsapi.QueryService{ec2.New(store, log).API()}, ...})
func New(store *state.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, log: log}
}

// API returns the EC2 action table for the Query edge. Each resource file
// contributes its entries.
func (s *Service) API() *awsapi.QueryService {
	m := awsapi.QueryModel{Enums: w.Enums, InvalidParameter: InvalidParameterValue, MissingParameter: MissingParameter, UnknownParameter: UnknownParameter}
	actions := map[string]awsapi.QueryHandler{}
	for _, group := range []map[string]awsapi.QueryHandler{
		s.vpcActions(m),
		s.subnetActions(m),
		s.securityGroupActions(m),
		s.zoneActions(m),
		s.tagActions(m),
	} {
		maps.Copy(actions, group)
	}
	return &awsapi.QueryService{
		Protocol:     w.Protocol,
		SigningName:  w.SigningName,
		Version:      w.APIVersion,
		XMLNamespace: w.XMLNamespace,
		Actions:      actions,
	}
}

// action adapts an operation like awsapi.QueryAction, and answers a request
// with DryRun set the way EC2 does, without running it.
func action[In, Out any](m awsapi.QueryModel, fn func(context.Context, *In) (*Out, error)) awsapi.QueryHandler {
	return awsapi.QueryAction(m, func(ctx context.Context, in *In) (*Out, error) {
		if f := reflect.ValueOf(in).Elem().FieldByName("DryRun"); f.IsValid() && !f.IsNil() && f.Elem().Bool() {
			return nil, DryRunOperation.Errorf("Request would have succeeded, but DryRun flag is set.")
		}
		return fn(ctx, in)
	})
}

// scope is one request's view: the caller and the store of its account and
// region, where its EC2 resources live.
type scope struct {
	awsapi.Caller
	st *state.Store
}

func (s *Service) scope(ctx context.Context) scope {
	c := awsapi.CallerFrom(ctx)
	return scope{Caller: c, st: s.store.Sub(c.Account + "/" + c.Region)}
}

// arn builds an EC2 ARN in the caller's account and region.
func (sc scope) arn(resource string) string {
	return model.ARN("ec2", sc.Region, sc.Account, resource)
}

// zones are the availability zones of the caller's region.
func (sc scope) zones() []string {
	return []string{sc.Region + "a", sc.Region + "b", sc.Region + "c"}
}

// zoneID is the zone id AWS pairs with a zone name: us-east-1a -> use1-az1.
func zoneID(zone string) string {
	region, letter := zone[:len(zone)-1], zone[len(zone)-1]
	parts := strings.Split(region, "-")
	var b strings.Builder
	b.WriteString(parts[0])
	if len(parts) > 1 {
		for _, p := range parts[1 : len(parts)-1] {
			if p != "" {
				b.WriteString(p[:1])
			}
		}
		b.WriteString(parts[len(parts)-1])
	}
	return b.String() + "-az" + string('1'+rune(letter-'a'))
}

// newID returns prefix + "-" + 17 lowercase hex characters, as EC2's ids.
func newID(prefix string) string {
	var b [9]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

// wireTags converts record tags to the wire (nil stays nil: EC2 leaves out
// an untagged resource's tagSet).
func wireTags(tags []model.Tag) []w.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]w.Tag, len(tags))
	for i, t := range tags {
		out[i] = w.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
