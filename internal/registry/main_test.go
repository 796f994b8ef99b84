package registry_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// testAccount and testRegion are the namespace of the test registries.
const (
	testAccount = "123456789012"
	testRegion  = "us-test-1"
	// testKeyID is the access key the env's token is issued for.
	testKeyID = "AKIDTEST"
)

// env is a registry served on loopback over a real embedded etcd.
type env struct {
	reg   *registry.Registry
	srv   *httptest.Server
	now   time.Time // the registry's clock; zero means time.Now
	token string
	ns    registry.Namespace
	dir   string // the registry's data directory
	st    *state.Store
	log   *slog.Logger
}

// newEnv starts a registry in a fresh data directory.
func newEnv(t testing.TB) *env { return newEnvAt(t, time.Time{}) }

// newEnvAt starts a registry whose clock reads now until e.now is changed;
// opts adjust its configuration.
func newEnvAt(t testing.TB, now time.Time, opts ...func(*registry.Config)) *env {
	t.Helper()
	e := &env{now: now}
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := state.Open(context.Background(), state.Config{DataDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := registry.Config{Store: st, DataDir: filepath.Join(dir, "registry"), Account: testAccount,
		TokenSecret: []byte("0123456789abcdef0123456789abcdef"), Logger: log, Now: func() time.Time {
			if e.now.IsZero() {
				return time.Now()
			}
			return e.now
		}}
	for _, o := range opts {
		o(&cfg)
	}
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { reg.Close() })
	tok, _ := reg.IssueToken(testAccount, "arn:aws:iam::"+testAccount+":root", testKeyID, testRegion)
	e.st, e.log = st, log
	e.reg, e.srv, e.token, e.ns, e.dir = reg, srv, tok, registry.Namespace{Account: testAccount, Region: testRegion}, cfg.DataDir
	return e
}

// createRepo creates a repository with the given tag mutability.
func (e *env) createRepo(t testing.TB, name, mutability string) {
	t.Helper()
	err := e.reg.CreateRepository(context.Background(), e.ns, &registry.Repository{Repository: ecrwire.Repository{
		RepositoryName: name, ImageTagMutability: mutability, RegistryId: testAccount,
	}})
	if err != nil {
		t.Fatal(err)
	}
}
