package state

import (
	"fmt"
	"net"
	"testing"
)

// A start whose picked port was taken meanwhile is recognised, and retried
// only when the ports were picked free (not given by the operator).
func TestPortTakenIsRetriedOnlyForPickedPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = net.Listen("tcp", l.Addr().String())
	if err == nil || !addrInUse(fmt.Errorf("state: start embedded etcd: %w", err)) {
		t.Fatalf("a bind on a port in use (%v) is not recognised", err)
	}
	if addrInUse(fmt.Errorf("permission denied")) {
		t.Fatal("another error is taken for a port in use")
	}
	if !autoPorts(Member{}) || !autoPorts(Member{ClientListen: "127.0.0.1:0"}) || autoPorts(Member{PeerListen: "127.0.0.2:2380"}) {
		t.Fatal("autoPorts: picked ports are those not given or given as :0")
	}
}
