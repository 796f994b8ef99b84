package state

import (
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// etcd's push-back (as its client returns it, or as the embedded server's
// gRPC error) is marked Overloaded; other errors are not.
func TestStoreErrMarksOverload(t *testing.T) {
	type overloaded interface{ Overloaded() bool }
	for _, err := range []error{rpctypes.ErrTooManyRequests, rpctypes.ErrGRPCRequestTooManyRequests, rpctypes.ErrTimeout, rpctypes.ErrGRPCNoLeader} {
		var ov overloaded
		if e := storeErr("commit", err); !errors.As(e, &ov) || !errors.Is(e, err) {
			t.Errorf("%v: not marked overloaded, or its cause is lost (%v)", err, e)
		}
	}
	var ov overloaded
	if e := storeErr("commit", errors.New("disk I/O error")); errors.As(e, &ov) {
		t.Errorf("an ordinary error is marked overloaded: %v", e)
	}
}
