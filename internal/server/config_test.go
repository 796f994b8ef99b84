package server

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/state"
)

// The clustering flags are checked together, and each mistake says what
// to fix.
func TestValidateClusterFlags(t *testing.T) {
	base := func() Config {
		c := Default()
		c.DataDir, c.AccessKeys = t.TempDir(), []string{"a:b"}
		return c
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string // "" is valid
	}{
		{"alone", func(c *Config) {}, ""},
		{"a cluster", func(c *Config) {
			c.EtcdPKIDir = "/pki"
			c.Etcd = state.Member{Name: "s1", PeerListen: "127.0.0.1:2380", InitialCluster: "s1=https://127.0.0.1:2380,s2=https://127.0.0.2:2380"}
		}, ""},
		{"a cluster without its CA", func(c *Config) {
			c.Etcd = state.Member{Name: "s1", PeerListen: "127.0.0.1:2380", InitialCluster: "s1=https://127.0.0.1:2380"}
		}, "--etcd-pki-dir is required in a cluster"},
		{"no peer address", func(c *Config) {
			c.EtcdPKIDir = "/pki"
			c.Etcd = state.Member{Name: "s1", InitialCluster: "s1=https://127.0.0.1:2380"}
		}, "--etcd-peer-listen is required in a cluster"},
		{"plain http peers", func(c *Config) {
			c.EtcdPKIDir = "/pki"
			c.Etcd = state.Member{Name: "s1", PeerListen: "127.0.0.1:2380", InitialCluster: "s1=http://127.0.0.1:2380"}
		}, `entry "s1=http://127.0.0.1:2380" must be name=https://host:port`},
		{"this member not listed", func(c *Config) {
			c.EtcdPKIDir = "/pki"
			c.Etcd = state.Member{Name: "s3", PeerListen: "127.0.0.1:2380", InitialCluster: "s1=https://127.0.0.1:2380"}
		}, `must list this member (--etcd-name "s3")`},
		{"a peer address nobody can reach", func(c *Config) {
			c.EtcdPKIDir = "/pki"
			c.Etcd = state.Member{Name: "s1", PeerListen: "0.0.0.0:2380", InitialCluster: "s1=https://10.0.0.1:2380"}
		}, "give the address the other members reach this one at"},
		{"new and join", func(c *Config) {
			c.EtcdPKIDir = "/pki"
			c.Etcd = state.Member{Name: "s1", PeerListen: "127.0.0.1:2380", InitialCluster: "s1=https://127.0.0.1:2380", Join: []string{"https://127.0.0.2:2379"}}
		}, "exclude each other"},
		{"external etcd with a peer", func(c *Config) {
			c.EtcdEndpoints = []string{"http://127.0.0.1:2379"}
			c.Etcd = state.Member{PeerListen: "127.0.0.1:2380"}
		}, "--etcd-endpoints uses an external etcd"},
		{"a short leader TTL", func(c *Config) { c.LeaderTTL = 500_000_000 }, "--leader-ttl must be at least 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
