package registry

import (
	"cmp"
	"context"
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
	// Empty: the registry keeps it in the store (created on first start,
	// replaced by RotateTokenSecret) and re-reads it every
	// MaintenanceInterval, so that a rotation reaches every replica.
	TokenSecret []byte
	// KeyActive reports whether an access key is still accepted. A token
	// is bound to the access key it was issued for and stops working once
	// KeyActive reports false for it. Nil accepts every token.
	KeyActive func(accessKeyID string) bool
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
	// MaxUploads caps the upload sessions one principal (the access key a
	// token or request was issued for) may hold open at once (default
	// DefaultMaxUploads); more get TOOMANYREQUESTS.
	MaxUploads int
	// UploadIdleTimeout is how long an upload session may go untouched
	// before it is discarded with its file (default DefaultUploadIdleTimeout).
	UploadIdleTimeout time.Duration
	// MaintenanceInterval is how often the registry discards idle upload
	// sessions, removes upload files no session owns and re-reads a stored
	// token secret (default DefaultMaintenanceInterval).
	MaintenanceInterval time.Duration
	// DiskReserveBytes and DiskReservePercent (of the filesystem's size)
	// are the free space the registry leaves on the filesystem of DataDir:
	// uploads that would eat into the larger of the two are refused with
	// DENIED. Zero: no reserve.
	DiskReserveBytes   int64
	DiskReservePercent float64
}

// Defaults of Config's zero values.
const (
	DefaultMaxUploads          = 256
	DefaultUploadIdleTimeout   = time.Hour
	DefaultMaintenanceInterval = time.Minute
)

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
	case len(c.TokenSecret) > 0 && len(c.TokenSecret) < 16:
		return errors.New("registry: Config.TokenSecret must be at least 16 bytes")
	case c.DiskReserveBytes < 0 || c.DiskReservePercent < 0 || c.DiskReservePercent >= 100:
		return errors.New("registry: the disk reserve must be non-negative bytes and a percentage below 100")
	}
	return nil
}

// Registry is an OCI distribution v1.1 registry with ECR semantics. It serves
// /v2/ as an http.Handler, and its methods are the repository, image and
// token operations the ECR API is built on. Metadata lives in etcd, so
// every replica sharing the store sees the same registry; blob content lives
// on disk under DataDir.
type Registry struct {
	st        *state.Store
	blobs     *blobStore
	account   string
	realmV    string
	log       *slog.Logger
	now       func() time.Time
	keyActive func(string) bool

	grace       time.Duration
	maxUploads  int
	idleTimeout time.Duration

	// secret signs tokens; storedSecret says it lives in the store and is
	// re-read from there (secretMu guards both it and secretReadAt).
	secretMu     sync.Mutex
	secret       []byte
	storedSecret bool
	secretReadAt time.Time

	mu      sync.Mutex
	uploads map[string]*upload
	// perOwner counts the sessions in uploads by owner.
	perOwner map[string]int
	// gcMu keeps one garbage collection at a time in this process.
	gcMu sync.Mutex

	// stop ends the maintenance loop; stopped closes when it has ended.
	stop      context.CancelFunc
	stopped   chan struct{}
	closeOnce sync.Once
}

// New builds a registry from cfg and starts its maintenance loop (stop it
// with Close). It removes the upload files that a crash left behind.
//
// Wiring: mount it on the API listener for paths under /v2/, beside the AWS
// edge, and give the same *Registry to ecr.New:
//
//	reg, err := registry.New(registry.Config{Store: st, DataDir: filepath.Join(dataDir, "registry"),
//		Account: account, KeyActive: keys.Has, Logger: log})
//	defer reg.Close()
//	mux.Handle("/v2/", reg)
//	edge := awsapi.NewEdge(awsapi.EdgeConfig{Services: []*awsapi.Service{..., ecr.New(st, reg, log).API()}})
func New(cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bs, err := newBlobStore(filepath.Clean(cfg.DataDir), cfg.DiskReserveBytes, cfg.DiskReservePercent)
	if err != nil {
		return nil, err
	}
	r := &Registry{st: cfg.Store, blobs: bs, account: cfg.Account, secret: cfg.TokenSecret, realmV: cfg.Realm,
		log: cfg.Logger, now: cfg.Now, keyActive: cfg.KeyActive, grace: cfg.GCGracePeriod,
		maxUploads: cfg.MaxUploads, idleTimeout: cfg.UploadIdleTimeout,
		uploads: map[string]*upload{}, perOwner: map[string]int{}, stopped: make(chan struct{})}
	r.grace = cmp.Or(r.grace, DefaultGCGracePeriod)
	r.maxUploads = cmp.Or(r.maxUploads, DefaultMaxUploads)
	r.idleTimeout = cmp.Or(r.idleTimeout, DefaultUploadIdleTimeout)
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if len(r.secret) == 0 {
		r.storedSecret = true
		if r.secret, err = LoadTokenSecret(context.Background(), cfg.Store); err != nil {
			return nil, err
		}
		r.secretReadAt = time.Now()
	}
	if n := r.sweepOrphanUploads(); n > 0 {
		r.log.Info("removed upload files left by an earlier run", "files", n)
	}
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	go r.maintain(ctx, cmp.Or(cfg.MaintenanceInterval, DefaultMaintenanceInterval))
	return r, nil
}

// Close stops the maintenance loop and discards the upload sessions in
// progress, with their files. It is safe to call more than once.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.stop()
		<-r.stopped
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, u := range r.uploads {
			if u.w.mu.TryLock() {
				r.removeLocked(u)
				u.w.cancel()
				u.w.mu.Unlock()
			}
		}
	})
	return nil
}

// maintain runs maintenanceStep every interval until ctx ends.
func (r *Registry) maintain(ctx context.Context, interval time.Duration) {
	defer close(r.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.maintenanceStep(ctx)
		}
	}
}

// maintenanceStep discards idle sessions and orphan upload files, and
// re-reads a stored token secret.
func (r *Registry) maintenanceStep(ctx context.Context) {
	r.mu.Lock()
	n := r.reapLocked()
	r.mu.Unlock()
	n += r.sweepOrphanUploads()
	if n > 0 {
		r.log.Info("discarded idle upload sessions and orphan upload files", "count", n)
	}
	if r.storedSecret {
		if err := r.refreshSecret(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("re-read the registry token secret", "err", err)
		}
	}
}

// Account is the account whose registry this is.
func (r *Registry) Account() string { return r.account }

func itoa(n int64) string { return fmt.Sprint(n) }
