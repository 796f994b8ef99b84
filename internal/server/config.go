package server

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/state"
)

// Config is everything a control plane needs; cmd/gantry fills it from flags
// and environment.
type Config struct {
	// Listen is the address of the single HTTP listener (AWS APIs, registry).
	Listen string
	// DataDir holds the embedded etcd and, later, the registry's blobs.
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
	Logger                      *slog.Logger
}

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
	}{{"--agent-timeout", c.AgentTimeout}, {"stopped task retention", c.StoppedTaskRetention}, {"purge interval", c.PurgeInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration (0 for the default), got %v", d.flag, d.v))
		}
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
	if c.LeaderTTL == 0 {
		c.LeaderTTL = 3 * time.Second
		if len(c.EtcdEndpoints) == 0 && !c.Etcd.Clustered() {
			c.LeaderTTL = 10 * time.Second
		}
	}
	return c
}

// keys returns every access key pair the server accepts.
func (c *Config) keys() ([][2]string, error) {
	var out [][2]string
	for _, k := range c.AccessKeys {
		id, secret, _ := strings.Cut(k, ":")
		out = append(out, [2]string{id, secret})
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
			out = append(out, [2]string{id, secret})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("credentials file: %w", err)
		}
	}
	if c.AcceptTestKey {
		out = append(out, [2]string{"test", "test"})
	}
	return out, nil
}
