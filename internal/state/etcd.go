package state

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Config says where state lives: an external etcd cluster (Endpoints), or an
// embedded etcd in DataDir, alone or a member of a cluster of servers.
type Config struct {
	// Endpoints of an external etcd cluster; empty means embedded.
	Endpoints []string
	// DataDir holds the embedded etcd's data (in DataDir/etcd) and its
	// member certificate (in DataDir/etcd-pki).
	DataDir string
	// PKIDir holds the certificate authority (ca.crt, ca.key) of the
	// embedded etcd's TLS. Empty: DataDir/etcd-pki, created on first start.
	// The members of a cluster share one (see `gantry etcd init-pki`).
	// With Endpoints, a set PKIDir makes the client present a certificate
	// of that authority (another Gantry server's embedded etcd).
	PKIDir string
	// Member places the embedded etcd in a cluster; its zero value is a
	// lone member on loopback.
	Member Member
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

// Member is the embedded etcd's place in a cluster of Gantry servers.
type Member struct {
	// Name is the member's name in the cluster (default "gantry").
	Name string
	// ClientListen is the host:port of the member's client endpoint
	// (default 127.0.0.1 on a free port).
	ClientListen string
	// PeerListen is the host:port the other members reach this one at
	// (default 127.0.0.1 on a free port, which only a lone member can use).
	PeerListen string
	// InitialCluster lists the members of a new cluster as
	// name=https://host:port,... (this member included); empty with no Join
	// is a cluster of this member alone.
	InitialCluster string
	// Join lists client URLs of a running cluster's members: on first
	// start the member adds itself through them and joins.
	Join []string
}

// Clustered says whether the member is one of several.
func (m Member) Clustered() bool { return m.InitialCluster != "" || len(m.Join) > 0 }

// Validate checks the member's settings and says what to fix.
func (m Member) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, v string }{{"--etcd-client-listen", m.ClientListen}, {"--etcd-peer-listen", m.PeerListen}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port: %w", a.flag, a.v, err))
		}
	}
	if m.InitialCluster != "" && len(m.Join) > 0 {
		errs = append(errs, errors.New("--etcd-initial-cluster and --etcd-join exclude each other: the first starts a new cluster, the second joins a running one"))
	}
	if m.Clustered() && m.PeerListen == "" {
		errs = append(errs, errors.New("--etcd-peer-listen is required in a cluster: the other members reach this one there"))
	}
	if h, _, err := net.SplitHostPort(m.PeerListen); err == nil {
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("--etcd-peer-listen %q: give the address the other members reach this one at (it is advertised to them), not %s", m.PeerListen, h))
		}
	}
	if m.InitialCluster != "" {
		found := false
		for _, e := range strings.Split(m.InitialCluster, ",") {
			name, u, ok := strings.Cut(e, "=")
			if !ok || !strings.HasPrefix(u, "https://") {
				errs = append(errs, fmt.Errorf("--etcd-initial-cluster entry %q must be name=https://host:port", e))
				continue
			}
			found = found || name == cmp.Or(m.Name, "gantry")
		}
		if !found {
			errs = append(errs, fmt.Errorf("--etcd-initial-cluster must list this member (--etcd-name %q)", cmp.Or(m.Name, "gantry")))
		}
	}
	return errors.Join(errs...)
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
		var tc *tls.Config
		if cfg.PKIDir != "" {
			var err error
			if tc, err = ClientTLS(cfg.PKIDir); err != nil {
				return nil, err
			}
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, TLS: tc, DialTimeout: 5 * time.Second, Context: ctx})
		if err != nil {
			return nil, fmt.Errorf("state: connect to etcd %v: %w", cfg.Endpoints, err)
		}
		return &Store{cli: cli, prefix: cfg.Prefix, maxTxnOps: cmp.Or(cfg.MaxTxnOps, DefaultMaxTxnOps)}, nil
	}
	if err := cfg.Member.Validate(); err != nil {
		return nil, err
	}
	cfg.MaxTxnOps = cmp.Or(cfg.MaxTxnOps, EmbeddedMaxTxnOps)
	e, tc, err := startEmbedded(ctx, cfg, log)
	// A port picked free can be taken by another process before etcd binds
	// it (tests start many servers at once): pick again.
	for try := 0; err != nil && addrInUse(err) && autoPorts(cfg.Member) && try < 5; try++ {
		e, tc, err = startEmbedded(ctx, cfg, log)
	}
	if err != nil {
		return nil, err
	}
	// Reads and transactions go through etcd's in-process client; watches,
	// leases and elections over loopback gRPC (with the member's own
	// certificate), as a second replica would (see Store: the in-process
	// client's watch stream can wedge).
	wcli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{e.Config().AdvertiseClientUrls[0].String()}, TLS: tc, DialTimeout: 5 * time.Second, Context: ctx,
	})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("state: connect to the embedded etcd: %w", err)
	}
	return &Store{cli: v3client.New(e.Server), wcli: wcli, prefix: cfg.Prefix, embedded: e, maxTxnOps: cfg.MaxTxnOps,
		single: !cfg.Member.Clustered(), pkiDir: cmp.Or(cfg.PKIDir, filepath.Join(cfg.DataDir, PKIDirName))}, nil
}

// startEmbedded starts the embedded etcd member, its client and peer
// listeners requiring a certificate of the PKI's authority. It returns the
// TLS configuration of its own clients.
//
// A lone member is tuned for a fast start (a short election timeout: it
// elects itself in well under 100 ms); the members of a cluster keep etcd's
// default timing, which tolerates a loaded machine. Memory stays bounded:
// etcd keeps the last SnapshotCatchUpEntries raft entries in memory,
// whatever their size, so that count is kept small; revision-based
// compaction bounds the history. docs/benchmarks.md has the measurements.
func startEmbedded(ctx context.Context, cfg Config, log *slog.Logger) (*embed.Etcd, *tls.Config, error) {
	m := cfg.Member
	ec := embed.NewConfig()
	ec.Name = cmp.Or(m.Name, "gantry")
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	if m.Clustered() {
		ec.TickMs, ec.ElectionMs = 100, 1000
	} else {
		ec.TickMs, ec.ElectionMs = 10, 100
	}
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
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger(filepath.Join(cfg.DataDir, "etcd.log"), os.Stderr))

	clientHost, err := listenAddr(m.ClientListen)
	if err != nil {
		return nil, nil, err
	}
	peerHost, err := listenAddr(m.PeerListen)
	if err != nil {
		return nil, nil, err
	}
	client := url.URL{Scheme: "https", Host: clientHost}
	peer := url.URL{Scheme: "https", Host: peerHost}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}

	// TLS on both listeners, with client certificates of the authority.
	leafDir := filepath.Join(cfg.DataDir, PKIDirName)
	ca, err := loadOrCreateCA(cmp.Or(cfg.PKIDir, leafDir), cfg.PKIDir == "")
	if err != nil {
		return nil, nil, err
	}
	ch, _, _ := net.SplitHostPort(clientHost)
	ph, _, _ := net.SplitHostPort(peerHost)
	if err := ca.writeMember(leafDir, ec.Name, ch, ph); err != nil {
		return nil, nil, err
	}
	ti := transport.TLSInfo{
		CertFile:       filepath.Join(leafDir, memberCertFile),
		KeyFile:        filepath.Join(leafDir, memberKeyFile),
		TrustedCAFile:  filepath.Join(leafDir, caCertFile),
		ClientCertAuth: true,
	}
	ec.ClientTLSInfo = ti
	// A peer is trusted for its certificate of the cluster's authority,
	// whatever source address its connection comes from.
	ti.SkipClientSANVerify = true
	ec.PeerTLSInfo = ti
	tc, err := ca.clientTLS()
	if err != nil {
		return nil, nil, err
	}

	ec.InitialCluster = ec.Name + "=" + peer.String()
	if m.InitialCluster != "" {
		ec.InitialCluster = m.InitialCluster
	}
	if len(m.Join) > 0 && !hasMemberData(ec.Dir) {
		initial, err := addMember(ctx, m.Join, tc, ec.Name, peer.String())
		if err != nil {
			return nil, nil, err
		}
		ec.InitialCluster, ec.ClusterState = initial, embed.ClusterStateFlagExisting
		log.Info("added to the etcd cluster", "member", ec.Name, "initial_cluster", initial)
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, nil, fmt.Errorf("state: start embedded etcd in %s: %w", ec.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, nil, fmt.Errorf("state: embedded etcd in %s not ready after 60s (a new cluster waits for a majority of --etcd-initial-cluster to start)", ec.Dir)
	case <-ctx.Done():
		e.Close()
		return nil, nil, fmt.Errorf("state: embedded etcd in %s: %w", ec.Dir, ctx.Err())
	}
	log.Debug("embedded etcd ready", "dir", ec.Dir, "member", ec.Name, "client_url", client.String(), "peer_url", peer.String())
	return e, tc, nil
}

// hasMemberData says whether dir holds a member's data already: it
// restarts from its log and ignores how the cluster was first formed.
func hasMemberData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "member", "wal"))
	return err == nil
}

// addMember adds a member named name at peerURL to the running cluster
// reached at endpoints (unless a failed earlier start added it already)
// and returns the --initial-cluster the new member starts with.
func addMember(ctx context.Context, endpoints []string, tc *tls.Config, name, peerURL string) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tc, DialTimeout: 5 * time.Second, Context: ctx})
	if err != nil {
		return "", fmt.Errorf("state: reach the cluster to join at %v: %w", endpoints, err)
	}
	defer cli.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := cli.MemberList(actx)
	if err != nil {
		return "", fmt.Errorf("state: list the members of the cluster to join at %v: %w", endpoints, err)
	}
	members := list.Members
	added := false
	for _, mem := range members {
		for _, u := range mem.PeerURLs {
			if u == peerURL {
				added = true
			}
		}
	}
	if !added {
		resp, err := cli.MemberAdd(actx, []string{peerURL})
		if err != nil {
			return "", fmt.Errorf("state: add member %s (%s) to the cluster at %v: %w", name, peerURL, endpoints, err)
		}
		members = resp.Members
	}
	var parts []string
	for _, mem := range members {
		n := mem.Name
		for _, u := range mem.PeerURLs {
			if u == peerURL {
				n = name
			}
		}
		if n == "" {
			return "", fmt.Errorf("state: the cluster at %v has a member that never started (%v): remove it first (gantry etcd remove-member)", endpoints, mem.PeerURLs)
		}
		for _, u := range mem.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}

// addrInUse reports whether err is a listener's "address already in use"
// (etcd's embed does not always wrap the cause).
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// autoPorts reports whether the member's client and peer ports are picked
// free at start (none given, or port 0), so a start may pick others.
func autoPorts(m Member) bool {
	auto := func(addr string) bool { return addr == "" || strings.HasSuffix(addr, ":0") }
	return auto(m.ClientListen) && auto(m.PeerListen)
}

// listenAddr returns addr, or 127.0.0.1 on a free port when addr is empty;
// a port 0 is replaced by a free one too.
func listenAddr(addr string) (string, error) {
	host, port := "127.0.0.1", "0"
	if addr != "" {
		var err error
		if host, port, err = net.SplitHostPort(addr); err != nil {
			return "", fmt.Errorf("state: %q is not host:port: %w", addr, err)
		}
	}
	if port != "0" {
		return net.JoinHostPort(host, port), nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("state: find a free port for etcd on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
