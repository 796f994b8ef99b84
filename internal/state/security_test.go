package state

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The embedded etcd's client endpoint is the whole of Gantry's state (task
// definitions' environments, the registry's token secret): a local user
// with a plain etcd client, or with TLS but no certificate of the
// cluster's CA, cannot read a key, while the store itself still can.
func TestEmbeddedEtcdRefusesClientsWithoutCert(t *testing.T) {
	ctx := context.Background()
	s := storeFor(t)
	if _, err := s.Txn().Put("secret", rec{S: "hunter2"}).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	url := shared.ClientURL()
	if url == "" {
		t.Fatal("the embedded etcd has no client URL")
	}
	host := url[strings.Index(url, "://")+3:]
	for _, tc := range []struct {
		name     string
		endpoint string
		tls      *tls.Config
	}{
		{"plain", "http://" + host, nil},
		{"TLS without a client certificate", "https://" + host, &tls.Config{InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{tc.endpoint}, TLS: tc.tls, DialTimeout: 2 * time.Second})
			if err != nil {
				return // refused at dial: nothing read
			}
			defer cli.Close()
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			resp, err := cli.Get(rctx, "/", clientv3.WithPrefix())
			if err == nil {
				t.Fatalf("a client without a certificate read %d keys from %s", resp.Count, tc.endpoint)
			}
		})
	}
	var r rec
	if _, err := s.Get(ctx, "secret", &r); err != nil || r.S != "hunter2" {
		t.Fatalf("the store's own read: %v %v", r, err)
	}
	// The keys that would let a user in are readable by the server's user
	// only, in a directory only it can enter.
	dir := shared.PKIDir()
	for _, name := range []string{"", caKeyFile, memberKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Join(dir, name), fi.Mode().Perm(), want)
		}
	}
}

// The peer endpoint, through which a member takes part in raft (and reads
// the cluster's membership at /members), refuses a client without a
// certificate of the authority, over plain HTTP or TLS.
func TestEmbeddedEtcdPeerEndpointRefusesStrangers(t *testing.T) {
	peer := shared.embedded.Config().AdvertisePeerUrls[0].Host
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, u := range []string{"http://" + peer + "/members", "https://" + peer + "/members"} {
		resp, err := hc.Get(u)
		if err != nil {
			continue // refused
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s without a certificate: %s", u, resp.Status)
		}
	}
}
