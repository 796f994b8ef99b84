package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MemberInfo is one member of an embedded etcd cluster.
type MemberInfo struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
}

// memberClient connects to the cluster at endpoints with a client
// certificate of the authority in pkiDir.
func memberClient(ctx context.Context, endpoints []string, pkiDir string) (*clientv3.Client, error) {
	tc, err := ClientTLS(pkiDir)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tc, DialTimeout: 5 * time.Second, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("state: connect to etcd %v: %w", endpoints, err)
	}
	return cli, nil
}

// Members lists the members of the cluster reached at endpoints.
func Members(ctx context.Context, endpoints []string, pkiDir string) ([]MemberInfo, error) {
	cli, err := memberClient(ctx, endpoints, pkiDir)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: list members at %v: %w", endpoints, err)
	}
	out := make([]MemberInfo, 0, len(resp.Members))
	for _, m := range resp.Members {
		out = append(out, MemberInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs})
	}
	return out, nil
}

// RemoveMember removes the member named name from the cluster reached at
// endpoints. The removed member's data directory must not be started
// again as it is: to bring the server back, empty its DataDir/etcd and
// join again (--etcd-join).
func RemoveMember(ctx context.Context, endpoints []string, pkiDir, name string) error {
	cli, err := memberClient(ctx, endpoints, pkiDir)
	if err != nil {
		return err
	}
	defer cli.Close()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("state: list members at %v: %w", endpoints, err)
	}
	var names []string
	for _, m := range resp.Members {
		if m.Name == name {
			if _, err := cli.MemberRemove(ctx, m.ID); errors.Is(err, rpctypes.ErrUnhealthy) {
				return fmt.Errorf("state: remove member %s: %w (etcd removes a member only once the others have been connected for 5s: try again)", name, err)
			} else if err != nil {
				return fmt.Errorf("state: remove member %s: %w", name, err)
			}
			return nil
		}
		names = append(names, m.Name)
	}
	return fmt.Errorf("state: the cluster at %v has no member named %q (members: %v)", endpoints, name, names)
}
