package state

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Config says where state lives: an external etcd cluster (Endpoints), or an
// embedded single-node etcd in DataDir.
type Config struct {
	// Endpoints of an external etcd cluster; empty means embedded.
	Endpoints []string
	// DataDir holds the embedded etcd's data (in DataDir/etcd).
	DataDir string
	// Prefix is the root of every key Gantry writes (default "/gantry").
	Prefix string
	// SnapshotCount is how many raft entries the embedded etcd keeps in memory
	// before it snapshots; it bounds its memory (default 5000).
	SnapshotCount uint64
	// MaxTxnOps is how many operations one transaction may hold: the
	// external cluster's --max-txn-ops (etcd's default 128), or what the
	// embedded etcd allows (default EmbeddedMaxTxnOps).
	MaxTxnOps int
}

// Transaction limits. Batched writers (the placement committer) size their
// transactions by Store.MaxTxnOps.
const (
	DefaultMaxTxnOps  = 128
	EmbeddedMaxTxnOps = 2048
	// embeddedMaxRequestBytes lets a transaction of EmbeddedMaxTxnOps task
	// records through (etcd's default is 1.5 MiB).
	embeddedMaxRequestBytes = 16 << 20
)

// Open connects to etcd as cfg says, starting the embedded one if needed.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/gantry"
	}
	if len(cfg.Endpoints) > 0 {
		cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Context: ctx})
		if err != nil {
			return nil, fmt.Errorf("state: connect to etcd %v: %w", cfg.Endpoints, err)
		}
		return &Store{cli: cli, prefix: cfg.Prefix, maxTxnOps: cmp.Or(cfg.MaxTxnOps, DefaultMaxTxnOps)}, nil
	}
	cfg.MaxTxnOps = cmp.Or(cfg.MaxTxnOps, EmbeddedMaxTxnOps)
	e, err := startEmbedded(cfg, log)
	if err != nil {
		return nil, err
	}
	// Reads and transactions go through etcd's in-process client; watches,
	// leases and elections over loopback gRPC, as a second replica would
	// (see Store: the in-process client's watch stream can wedge).
	wcli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{e.Config().ListenClientUrls[0].String()}, DialTimeout: 5 * time.Second, Context: ctx,
	})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("state: connect to the embedded etcd: %w", err)
	}
	return &Store{cli: v3client.New(e.Server), wcli: wcli, prefix: cfg.Prefix, embedded: e, maxTxnOps: cfg.MaxTxnOps}, nil
}

// startEmbedded starts a single-member etcd tuned for a fast start (a short
// election timeout: a lone member elects itself in well under 100 ms) and
// bounded memory: etcd keeps the last SnapshotCatchUpEntries raft entries in
// memory, whatever their size, so that count is kept small (a lone member has
// no follower to catch up); revision-based compaction bounds the history.
// docs/benchmarks.md has the measurements.
func startEmbedded(cfg Config, log *slog.Logger) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = "gantry"
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	ec.TickMs = 10
	ec.ElectionMs = 100
	ec.SnapshotCount = cfg.SnapshotCount
	if ec.SnapshotCount == 0 {
		ec.SnapshotCount = 5000
	}
	ec.SnapshotCatchUpEntries = 1000
	ec.MaxTxnOps = uint(cfg.MaxTxnOps)
	ec.MaxRequestBytes = embeddedMaxRequestBytes
	ec.AutoCompactionMode = "revision"
	ec.AutoCompactionRetention = "10000"
	ec.LogLevel = "error"
	ec.LogOutputs = []string{filepath.Join(cfg.DataDir, "etcd.log")}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.Name + "=" + peer.String()
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("state: start embedded etcd in %s: %w", ec.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("state: embedded etcd in %s not ready after 60s", ec.Dir)
	}
	log.Debug("embedded etcd ready", "dir", ec.Dir, "client_url", client.String())
	return e, nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("state: find a free port for etcd: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
