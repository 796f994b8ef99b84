package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/state"
)

// pullRecordInterval is how stale an image's last pull time may get before
// a pull records it again (ECR refreshes it at least daily).
const pullRecordInterval = time.Minute

// Config configures a Registry.
type Config struct {
	// Store is the root state store; records live under
	// <account>/<region>/ecr/... (see internal/model/registry_keys.go).
	Store *state.Store
	// DataDir holds blob content (DataDir/blobs) and uploads in progress
	// (DataDir/uploads).
	DataDir string
	// Account is the account whose registry this is: /v2/ accepts only
	// tokens of this account.
	Account string
	// TokenSecret signs and verifies authorization tokens. Every replica
	// must share it, and it must survive restarts, or tokens become invalid.
	TokenSecret []byte
	// Realm is named in the WWW-Authenticate challenge (default: the
	// request's host).
	Realm  string
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// GCGracePeriod is how old an unreferenced blob link or blob content
	// must be before garbage collection removes it (default
	// DefaultGCGracePeriod). It must exceed the longest gap between a
	// push's last layer and its manifest.
	GCGracePeriod time.Duration
}

// DefaultGCGracePeriod is the default Config.GCGracePeriod.
const DefaultGCGracePeriod = time.Hour

// Validate reports what is missing from cfg.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("registry: Config.Store is required")
	case c.DataDir == "":
		return errors.New("registry: Config.DataDir is required")
	case c.Account == "":
		return errors.New("registry: Config.Account is required")
	case len(c.TokenSecret) < 16:
		return errors.New("registry: Config.TokenSecret must be at least 16 bytes")
	}
	return nil
}

// Registry is an OCI distribution v1.1 registry with ECR semantics. It serves
// /v2/ as an http.Handler, and its methods are the repository, image and
// token operations the ECR API is built on. Metadata lives in etcd, so
// every replica sharing the store sees the same registry; blob content lives
// on disk under DataDir.
type Registry struct {
	st      *state.Store
	blobs   *blobStore
	account string
	secret  []byte
	realmV  string
	log     *slog.Logger
	now     func() time.Time

	grace time.Duration

	mu      sync.Mutex
	uploads map[string]*upload
	// gcMu keeps one garbage collection at a time in this process.
	gcMu sync.Mutex
}

// New builds a registry from cfg.
//
// Wiring: mount it on the API listener for paths under /v2/, beside the AWS
// edge, and give the same *Registry to ecr.New:
//
//	reg, err := registry.New(registry.Config{Store: st, DataDir: filepath.Join(dataDir, "registry"),
//		Account: account, TokenSecret: secret, Logger: log})
//	mux.Handle("/v2/", reg)
//	edge := awsapi.NewEdge(awsapi.EdgeConfig{Services: []*awsapi.Service{..., ecr.New(st, reg, log).API()}})
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bs, err := newBlobStore(filepath.Clean(cfg.DataDir))
	if err != nil {
		return nil, err
	}
	r := &Registry{st: cfg.Store, blobs: bs, account: cfg.Account, secret: cfg.TokenSecret, realmV: cfg.Realm,
		log: cfg.Logger, now: cfg.Now, grace: cfg.GCGracePeriod, uploads: map[string]*upload{}}
	if r.grace <= 0 {
		r.grace = DefaultGCGracePeriod
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Account is the account whose registry this is.
func (r *Registry) Account() string { return r.account }

func itoa(n int64) string { return fmt.Sprint(n) }
