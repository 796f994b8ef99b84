// Package gantrytest starts a real Gantry control plane (embedded etcd in a
// temporary directory, HTTP on a loopback port) for tests, and builds real
// AWS SDK clients pointed at it. One server is shared per test package; each
// test gets its own region, so tests are isolated by ECS's own namespacing.
package gantrytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/state"
)

// Key is the access key pair test servers accept.
const (
	KeyID     = "AKIDGANTRYTEST"
	KeySecret = "gantry-test-secret"
	Account   = "123456789012"
)

// Env is a running control plane for tests.
type Env struct {
	Server *server.Server
	URL    string
	dir    string
}

var (
	shared     *Env
	sharedOnce sync.Once
	sharedErr  error
	regions    atomic.Int64
)

// Shared returns the package's shared server, starting it on first use. Call
// Main from TestMain to stop it when the package's tests end.
func Shared(t testing.TB) *Env {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatalf("start gantry server: %v", sharedErr)
	}
	return shared
}

// Main runs the tests of a package and then stops its shared server.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

// Option changes the configuration of a server before Start starts it.
type Option func(*server.Config)

// WithAgentTimeout sets how long an instance's agent stays connected after
// its last poll.
func WithAgentTimeout(d time.Duration) Option {
	return func(c *server.Config) { c.AgentTimeout = d }
}

// WithAgentLostAfter sets how long an agent may stay silent before the
// service controller replaces its instance's service tasks.
func WithAgentLostAfter(d time.Duration) Option {
	return func(c *server.Config) { c.AgentLostAfter = d }
}

// WithPurge sets how long stopped tasks are kept and how often the purge
// runs.
func WithPurge(retention, interval time.Duration) Option {
	return func(c *server.Config) { c.StoppedTaskRetention, c.PurgeInterval = retention, interval }
}

// WithEtcdOf makes the server use another test server's embedded etcd
// instead of its own, with a client certificate of that etcd's authority.
func WithEtcdOf(holder *Env) Option {
	return func(c *server.Config) {
		c.EtcdEndpoints = []string{holder.Store().ClientURL()}
		c.EtcdPKIDir = holder.Store().PKIDir()
	}
}

// WithoutServiceController keeps the server out of the services election.
func WithoutServiceController() Option {
	return func(c *server.Config) { c.NoServiceController = true }
}

// Start starts a fresh server with its own embedded etcd, configured by
// opts (a short agent timeout, say).
func Start(opts ...Option) (*Env, error) {
	dir, err := os.MkdirTemp("", "gantrytest-")
	if err != nil {
		return nil, err
	}
	cfg := server.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.AccountID = Account
	cfg.AccessKeys = []string{KeyID + ":" + KeySecret}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := server.Start(context.Background(), cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Env{Server: s, URL: s.URL(), dir: dir}, nil
}

// Store is the server's state store (for benchmarks beside the API).
func (e *Env) Store() *state.Store { return e.Server.Store() }

// Close stops the server and removes its data.
func (e *Env) Close() {
	e.Server.Close()
	os.RemoveAll(e.dir)
}

// NewRegion returns a region name no other test of this process uses.
func NewRegion() string { return fmt.Sprintf("test-%d", regions.Add(1)) }

// Config returns an SDK configuration signed with the test key for region,
// pointed at the server. It retries only what never reached an answer (a
// connection the machine's load broke: "use of closed network connection"
// after an idle keep-alive) and 5xx faults, up to three attempts with a short
// back-off; an API error a test expects is never retried away.
func (e *Env) Config(region string) aws.Config { return ConfigFor(e.URL, region) }

// ConfigFor is Config for a server at url that is not an Env (a `gantry
// server` process started with the test key).
func ConfigFor(url, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(KeyID, KeySecret, ""),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.MaxBackoff = 200 * time.Millisecond
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// ECS returns an ECS client in a fresh region of its own.
func (e *Env) ECS() *ecs.Client { return e.ECSIn(NewRegion()) }

// ECSIn returns an ECS client for region.
func (e *Env) ECSIn(region string) *ecs.Client { return ecs.NewFromConfig(e.Config(region)) }

// EC2 returns an EC2 client in a fresh region of its own.
func (e *Env) EC2() *ec2.Client { return e.EC2In(NewRegion()) }

// EC2In returns an EC2 client for region.
func (e *Env) EC2In(region string) *ec2.Client { return ec2.NewFromConfig(e.Config(region)) }

// Code returns the AWS error code of err ("" if it is not an API error).
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// WantCode fails the test unless err is an API error with code.
func WantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := Code(err); got != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// Must returns a function that fails the test if err is set and returns v
// otherwise: out := gantrytest.Must(client.Call(ctx, in))(t).
func Must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
