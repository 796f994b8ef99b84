package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// newTask builds the record of a task of spec placed on an instance, and
// the assignment its agent is sent.
func (sc scope) newTask(spec *runSpec, iv instanceView, reserved []w.Resource, now time.Time) (*model.Task, *agentproto.Assignment) {
	id := model.NewID()
	arn := sc.taskARN(spec.cluster, id)
	containers := make([]w.Container, 0, len(spec.merged.ContainerDefinitions))
	for _, c := range spec.merged.ContainerDefinitions {
		ct := w.Container{
			ContainerArn: sc.arn("container/" + spec.cluster + "/" + id + "/" + newUUID()),
			TaskArn:      arn,
			Name:         c.Name,
			Image:        c.Image,
			LastStatus:   agentproto.StatusPending,
			Cpu:          strconv.Itoa(int(c.Cpu)),
		}
		if c.Memory != nil {
			ct.Memory = strconv.Itoa(int(*c.Memory))
		}
		if c.MemoryReservation != nil {
			ct.MemoryReservation = strconv.Itoa(int(*c.MemoryReservation))
		}
		if c.HealthCheck != nil {
			ct.HealthStatus = agentproto.HealthUnknown
		}
		containers = append(containers, ct)
	}
	var attrs []w.Attribute
	if v, ok := attribute(iv.ci.Attributes, "ecs.cpu-architecture"); ok {
		attrs = append(attrs, w.Attribute{Name: "ecs.cpu-architecture", Value: v})
	}
	az, _ := attribute(iv.ci.Attributes, "ecs.availability-zone")
	created := wire.At(now)
	t := &model.Task{
		Task: w.Task{
			Attributes:           attrs,
			AvailabilityZone:     az,
			ClusterArn:           sc.arn("cluster/" + spec.cluster),
			ContainerInstanceArn: iv.ci.ContainerInstanceArn,
			Containers:           containers,
			Cpu:                  spec.merged.Cpu,
			CreatedAt:            created,
			DesiredStatus:        agentproto.StatusRunning,
			Group:                spec.group,
			HealthStatus:         agentproto.HealthUnknown,
			LastStatus:           agentproto.StatusPending,
			LaunchType:           compatEC2,
			Memory:               spec.merged.Memory,
			Overrides:            spec.overrides,
			StartedBy:            spec.startedBy,
			Tags:                 slices.Clone(spec.tags),
			TaskArn:              arn,
			TaskDefinitionArn:    spec.def.Def.TaskDefinitionArn,
			Version:              1,
		},
		InstanceID: iv.id,
		Reserved:   reserved,
	}
	a := &agentproto.Assignment{
		TaskArn:       arn,
		ClusterArn:    t.ClusterArn,
		DesiredStatus: agentproto.StatusRunning,
		Definition:    spec.merged,
		Version:       1,
		CreatedAt:     created,
		Group:         spec.group,
		StartedBy:     spec.startedBy,
	}
	return t, a
}

// attribute returns the value of the attribute called name.
func attribute(attrs []w.Attribute, name string) (string, bool) {
	if i := slices.IndexFunc(attrs, func(a w.Attribute) bool { return a.Name == name }); i >= 0 {
		return attrs[i].Value, true
	}
	return "", false
}

// newUUID returns a random (version 4) UUID, the form of container ids in
// container ARNs.
func newUUID() string {
	b, _ := hex.DecodeString(model.NewID())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// registerScope records, once per process, that the caller's account and
// region hold tasks, services or instances, so that Purge and Census visit
// it.
func (s *Service) registerScope(ctx context.Context, sc scope) {
	key := sc.Account + "/" + sc.Region
	if _, done := s.scopes.Load(key); done {
		return
	}
	if _, err := s.store.Txn().Put(scopeKey(sc.Account, sc.Region), struct{}{}).Commit(ctx); err != nil {
		s.log.Warn("register scope for the purge", "scope", key, "err", err)
		return
	}
	s.scopes.Store(key, struct{}{})
}

// RunTask client tokens. The first request with a token records, in the
// transaction of each task it places, the ARNs placed so far and a hash of
// the request; a repeat of the request with that token gets the same tasks
// (as they are now) and failures back, and a different request with it a
// ConflictException. Two requests racing with one token: the first to
// commit owns it; the other answers from its record.

// runToken is the record of a client token.
type runToken struct {
	Owner     string      `json:"owner"`
	Hash      string      `json:"hash"`
	TaskArns  []string    `json:"taskArns"`
	Failures  []w.Failure `json:"failures,omitempty"`
	Done      bool        `json:"done"`
	CreatedAt int64       `json:"createdAt"` // unix milliseconds
}

// errTokenTaken says that another request committed with the same token.
var errTokenTaken = errors.New("client token taken by another request")

// tokenClaim is a request's hold on its client token.
type tokenClaim struct {
	st  *state.Store
	key string
	rev int64
	rec runToken
}

// validateClientToken: up to 64 characters in the range 33 to 126.
func validateClientToken(tok string) error {
	if len(tok) > 64 {
		return InvalidParameter.Errorf("clientToken must be at most 64 characters; it has %d.", len(tok))
	}
	for _, c := range []byte(tok) {
		if c < 33 || c > 126 {
			return InvalidParameter.Errorf("clientToken may only contain the characters 33 to 126 of ASCII (no spaces).")
		}
	}
	return nil
}

// requestHash hashes a RunTask request without its token.
func requestHash(in *w.RunTaskRequest) string {
	c := *in
	c.ClientToken = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// claimToken looks the request's token up: a known token answers the
// request from its record (or with ConflictException); an unknown one is
// claimed, to be written with the first task.
func (s *Service) claimToken(ctx context.Context, sc scope, in *w.RunTaskRequest) (*tokenClaim, *w.RunTaskResponse, error) {
	key := model.IdempotencyKey("RunTask", in.ClientToken)
	var rec runToken
	_, err := sc.st.Get(ctx, key, &rec)
	if err == nil {
		out, err := s.answerFromToken(ctx, sc, in, &rec)
		return nil, out, err
	}
	if !errors.Is(err, state.ErrNotFound) {
		return nil, nil, err
	}
	return &tokenClaim{st: sc.st, key: key, rec: runToken{
		Owner: model.NewID(), Hash: requestHash(in), TaskArns: []string{}, CreatedAt: s.now().UnixMilli(),
	}}, nil, nil
}

// replayToken answers a request whose token another request took.
func (s *Service) replayToken(ctx context.Context, sc scope, in *w.RunTaskRequest) (*w.RunTaskResponse, error) {
	var rec runToken
	if _, err := sc.st.Get(ctx, model.IdempotencyKey("RunTask", in.ClientToken), &rec); err != nil {
		return nil, err
	}
	return s.answerFromToken(ctx, sc, in, &rec)
}

// answerFromToken answers a repeated request: its tasks as they are now
// (those already purged left out) and its failures.
func (s *Service) answerFromToken(ctx context.Context, sc scope, in *w.RunTaskRequest, rec *runToken) (*w.RunTaskResponse, error) {
	if rec.Hash != requestHash(in) {
		return nil, Conflict.Errorf("The clientToken %q was already used for a different RunTask request; use a new token for a new request.", in.ClientToken)
	}
	out := &w.RunTaskResponse{Tasks: []w.Task{}, Failures: nonNil(rec.Failures)}
	for _, arn := range rec.TaskArns {
		a, err := model.ParseARN(arn)
		if err != nil {
			continue
		}
		cluster, id, _ := strings.Cut(a.ResourceID(), "/")
		var t model.Task
		_, err = sc.st.Get(ctx, model.TaskKey(cluster, id), &t)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.Tasks = append(out.Tasks, t.Task)
	}
	return out, nil
}

// refresh re-reads the token's record before an attempt: it fails with
// errTokenTaken if another request owns it now.
func (c *tokenClaim) refresh(ctx context.Context) error {
	var rec runToken
	rev, err := c.st.Get(ctx, c.key, &rec)
	switch {
	case errors.Is(err, state.ErrNotFound):
		c.rev = 0
		return nil
	case err != nil:
		return err
	case rec.Owner != c.rec.Owner:
		return errTokenTaken
	}
	c.rev = rev
	return nil
}

// record makes txn write the token done, with the request's tasks and
// failures, conditional on the token's revision read last; it returns the
// record written, which the claim holds once the transaction commits.
func (c *tokenClaim) record(txn *state.Txn, arns []string, failures []w.Failure) runToken {
	rec := c.rec
	rec.TaskArns = append(slices.Clone(rec.TaskArns), arns...)
	rec.Failures, rec.Done = failures, true
	txn.Expect(c.key, c.rev).Put(c.key, &rec)
	return rec
}

// finish records the request's failures and marks the token done, when
// the placing transaction did not (it placed nothing).
func (c *tokenClaim) finish(ctx context.Context, failures []w.Failure) error {
	_, err := state.Retry(ctx, func() (struct{}, error) {
		if err := c.refresh(ctx); err != nil {
			return struct{}{}, err
		}
		rec := c.rec
		rec.Failures, rec.Done = failures, true
		_, err := c.st.Txn().Expect(c.key, c.rev).Put(c.key, &rec).Commit(ctx)
		return struct{}{}, err
	})
	return err
}
