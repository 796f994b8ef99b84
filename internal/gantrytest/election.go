package gantrytest

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/state"
)

// ServicesLeader returns the HTTP address of the server that leads the
// service controller, as its etcd election records it, reading the members
// at endpoints (https) with a client certificate of the CA in pkiDir. It
// waits up to within for a leader.
func ServicesLeader(pkiDir string, endpoints []string, within time.Duration) (string, error) {
	tc, err := state.ClientTLS(pkiDir)
	if err != nil {
		return "", err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tc, DialTimeout: 5 * time.Second})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := cli.Get(ctx, "/gantry/elections/services/", append(clientv3.WithFirstCreate(), clientv3.WithPrefix())...)
		cancel()
		if err == nil && len(resp.Kvs) > 0 {
			return string(resp.Kvs[0].Value), nil
		}
	}
	return "", fmt.Errorf("no server leads the service controller after %s", within)
}
