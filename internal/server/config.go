package server

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/state"
)

// Config is everything a control plane needs; cmd/gantry fills it from flags
// and environment.
type Config struct {
	// Listen is the address of the single HTTP listener (AWS APIs, registry).
	Listen string
	// DataDir holds the embedded etcd and, unless RegistryDir is set, the
	// registry's blobs.
	DataDir string
	// AccountID is the account every configured key belongs to.
	AccountID string
	// AccessKeys are "ID:SECRET" pairs that requests may be signed with.
	AccessKeys []string
	// CredentialsFile names a file of "ID:SECRET" lines, added to AccessKeys.
	CredentialsFile string
	// EtcdEndpoints selects an external etcd cluster; empty means embedded.
	EtcdEndpoints []string
	// EtcdPKIDir holds the certificate authority (ca.crt, ca.key) of the
	// embedded etcd's TLS, shared by the members of a cluster (`gantry etcd
	// init-pki`); empty: DataDir/etcd-pki, created on first start. With
	// EtcdEndpoints, the client presents a certificate of that authority.
	EtcdPKIDir string
	// Etcd places the embedded etcd in a cluster of servers (--etcd-name,
	// --etcd-peer-listen, --etcd-initial-cluster, --etcd-join).
	Etcd state.Member
	// LeaderTTL is how long a leader (of the service controller, of the
	// purge) that stopped answering keeps its leadership before another
	// server takes over. 0: 3s when other servers can take over (a cluster
	// of embedded members, an external etcd), 10s for a server alone on its
	// embedded etcd, where a short lease only risks losing the term to a
	// stall.
	LeaderTTL time.Duration
	// NoServiceController keeps this server out of the services election:
	// it serves the API but never schedules services (tests of failover
	// use it for the server that holds the shared embedded etcd).
	NoServiceController bool
	// AcceptTestKey also accepts the well-known pair test/test (gantry dev).
	AcceptTestKey bool
	// AgentTimeout is how long an instance's agent stays connected after
	// its last poll (--agent-timeout; default 30s). Tasks are placed only on
	// instances with a connected agent.
	AgentTimeout time.Duration
	// AgentLostAfter is how long an agent may stay silent before the service
	// controller stops its instance's service tasks and replaces them
	// elsewhere (default 3m; 0 keeps the default).
	AgentLostAfter time.Duration
	// StoppedTaskRetention is how long STOPPED tasks stay describable before
	// they are purged (default 1h; ECS keeps them at least an hour).
	StoppedTaskRetention time.Duration
	// PurgeInterval is how often the purge of old stopped tasks runs, on one
	// replica at a time (default 1m).
	PurgeInterval time.Duration
	// RegistryMaintenanceInterval is how often the leader applies ECR
	// lifecycle policies and collects unreferenced registry blobs.
	RegistryMaintenanceInterval time.Duration
	// RegistryDir holds the registry's blobs and uploads in progress
	// (--registry-dir; default <DataDir>/registry). Giving it its own
	// filesystem keeps pushes from filling the disk etcd writes to.
	RegistryDir string
	// RegistryDiskReserve is the free space the registry leaves on its
	// filesystem, as bytes with an optional unit ("1GiB", "500MB") or a
	// percentage of the filesystem ("5%"); uploads that would eat into it
	// are refused (--registry-disk-reserve; default 1GiB; "0" for none).
	RegistryDiskReserve string
	// RegistryMaxUploads caps the upload sessions one access key may hold
	// open at once (--registry-max-uploads; 0: the registry's default).
	RegistryMaxUploads int
	// RotateRegistrySecret replaces the secret that signs registry tokens
	// at start: every token issued before stops working.
	RotateRegistrySecret bool

	// MaxConnections caps the client connections held open
	// (--max-connections; default 10,000, and at most half the open files
	// limit): past it the connection idle longest is closed for each new
	// one (see connLimiter).
	MaxConnections int
	// IdleTimeout closes a keep-alive connection that sends no request for
	// this long (default 60 s, as AWS's load balancers).
	IdleTimeout time.Duration
	// BodyStallTimeout drops a request whose body sends nothing for this
	// long (default 15 s); a body that keeps arriving, however large, is
	// not cut.
	BodyStallTimeout time.Duration
	// MaxBufferedBodies bounds the bytes of AWS API request bodies held at
	// once by the requests in flight (default 64 MiB).
	MaxBufferedBodies int64

	Logger *slog.Logger
}

// Defaults of the connection handling.
const (
	defaultMaxConnections = 10000
	// apiWriteTimeout is how long a client has to take an AWS API answer
	// (an agent's poll waits up to 20 s before it is answered).
	apiWriteTimeout = 2 * time.Minute
	// readHeaderTimeout is how long a client has to send a request's
	// headers.
	readHeaderTimeout = 10 * time.Second
)

// Default returns the configuration of a local control plane.
func Default() Config {
	home, _ := os.UserHomeDir()
	return Config{
		Listen:                      "127.0.0.1:4566",
		DataDir:                     filepath.Join(home, ".gantry"),
		AccountID:                   "000000000000",
		AgentTimeout:                30 * time.Second,
		StoppedTaskRetention:        time.Hour,
		PurgeInterval:               time.Minute,
		RegistryMaintenanceInterval: 10 * time.Minute,
		RegistryDiskReserve:         "1GiB",
		MaxConnections:              defaultMaxConnections,
		IdleTimeout:                 60 * time.Second,
		BodyStallTimeout:            15 * time.Second,
		MaxBufferedBodies:           64 << 20,
	}
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q is not host:port: %w", c.Listen, err))
	}
	if len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("--account-id %q must be 12 digits", c.AccountID))
	}
	if len(c.EtcdEndpoints) == 0 && c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required with the embedded etcd"))
	}
	if len(c.EtcdEndpoints) == 0 {
		if err := c.Etcd.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.Etcd.Clustered() && c.EtcdPKIDir == "" {
			errs = append(errs, errors.New("--etcd-pki-dir is required in a cluster: the members share one certificate authority (gantry etcd init-pki --dir DIR, then copy DIR to every server)"))
		}
	} else if c.Etcd.Clustered() || c.Etcd.PeerListen != "" {
		errs = append(errs, errors.New("--etcd-endpoints uses an external etcd: drop the embedded etcd's --etcd-peer-listen, --etcd-initial-cluster and --etcd-join"))
	}
	if c.LeaderTTL != 0 && c.LeaderTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("--leader-ttl must be at least 2s (0 for the default), got %v", c.LeaderTTL))
	}
	for _, k := range c.AccessKeys {
		id, secret, ok := strings.Cut(k, ":")
		if !ok || id == "" || secret == "" {
			errs = append(errs, fmt.Errorf("--access-key %q must be ID:SECRET", k))
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--agent-timeout", c.AgentTimeout}, {"--agent-lost-after", c.AgentLostAfter}, {"stopped task retention", c.StoppedTaskRetention}, {"purge interval", c.PurgeInterval},
		{"idle timeout", c.IdleTimeout}, {"body stall timeout", c.BodyStallTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration (0 for the default), got %v", d.flag, d.v))
		}
	}
	if _, _, err := ParseDiskReserve(c.RegistryDiskReserve); err != nil {
		errs = append(errs, err)
	}
	if c.RegistryMaxUploads < 0 {
		errs = append(errs, fmt.Errorf("--registry-max-uploads must be positive (0 for the default), got %d", c.RegistryMaxUploads))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("--max-connections must be positive (0 for the default), got %d", c.MaxConnections))
	}
	if len(c.AccessKeys) == 0 && c.CredentialsFile == "" && !c.AcceptTestKey {
		errs = append(errs, errors.New("no access keys: pass --access-key ID:SECRET or --credentials-file"))
	}
	return errors.Join(errs...)
}

// withDefaults returns the configuration with zero durations replaced by
// their defaults.
func (c Config) withDefaults() Config {
	def := Default()
	if c.AgentTimeout == 0 {
		c.AgentTimeout = def.AgentTimeout
	}
	if c.StoppedTaskRetention == 0 {
		c.StoppedTaskRetention = def.StoppedTaskRetention
	}
	if c.RegistryMaintenanceInterval == 0 {
		c.RegistryMaintenanceInterval = def.RegistryMaintenanceInterval
	}
	if c.PurgeInterval == 0 {
		c.PurgeInterval = def.PurgeInterval
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = def.MaxConnections
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = def.IdleTimeout
	}
	if c.BodyStallTimeout == 0 {
		c.BodyStallTimeout = def.BodyStallTimeout
	}
	if c.MaxBufferedBodies == 0 {
		c.MaxBufferedBodies = def.MaxBufferedBodies
	}
	if c.LeaderTTL == 0 {
		c.LeaderTTL = 3 * time.Second
		if len(c.EtcdEndpoints) == 0 && !c.Etcd.Clustered() {
			c.LeaderTTL = 10 * time.Second
		}
	}
	return c
}

// registryDir is where the registry keeps its blobs.
func (c *Config) registryDir() string {
	if c.RegistryDir != "" {
		return c.RegistryDir
	}
	return filepath.Join(c.DataDir, "registry")
}

// ParseDiskReserve reads a disk reserve: a percentage ("5%") or a byte count
// with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB); "" and "0"
// mean none.
func ParseDiskReserve(s string) (bytes int64, percent float64, err error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("--registry-disk-reserve %q must be a size such as 1GiB or 500MB, or a percentage such as 5%%", s)
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v >= 100 {
			return 0, 0, bad
		}
		return 0, v, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}[strings.ToUpper(unit)]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 {
		return 0, 0, bad
	}
	return int64(v * mult), 0, nil
}

// keys returns every access key pair the server accepts. An access key id
// given twice (by --access-key, $GANTRY_ACCESS_KEYS, the credentials file
// or gantry dev's test key) is refused, naming both places: one of them
// would silently not be the secret the server checks.
func (c *Config) keys() ([][2]string, error) {
	var out [][2]string
	from := map[string]string{}
	add := func(id, secret, where string) error {
		if prev, ok := from[id]; ok {
			return fmt.Errorf("access key %q is configured twice (%s and %s): give each access key once", id, prev, where)
		}
		from[id] = where
		out = append(out, [2]string{id, secret})
		return nil
	}
	for _, k := range c.AccessKeys {
		id, secret, _ := strings.Cut(k, ":")
		if err := add(id, secret, "--access-key"); err != nil {
			return nil, err
		}
	}
	if c.CredentialsFile != "" {
		f, err := os.Open(c.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			id, secret, ok := strings.Cut(line, ":")
			if !ok || id == "" || secret == "" {
				return nil, fmt.Errorf("credentials file %s line %d: want ID:SECRET", c.CredentialsFile, n)
			}
			if err := add(id, secret, fmt.Sprintf("credentials file %s line %d", c.CredentialsFile, n)); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
	}
	if c.AcceptTestKey {
		if err := add("test", "test", "the test key of gantry dev"); err != nil {
			return nil, err
		}
	}
	return out, nil
}
