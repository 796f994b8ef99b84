package state

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// storeErr is an error of the store's op. When etcd pushed back (too many
// requests, a request that timed out in raft, an election under way), it
// says so with Overloaded, which the API edge answers ThrottlingException
// ("Rate exceeded", as AWS sheds load) instead of a server error: clients
// retry such an answer after a back-off.
func storeErr(op string, err error) error {
	err = fmt.Errorf("state: %s: %w", op, err)
	if overloaded(err) {
		return busyError{err}
	}
	return err
}

func overloaded(err error) bool {
	for _, e := range []error{rpctypes.ErrTooManyRequests, rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail,
		rpctypes.ErrTimeoutDueToConnectionLost, rpctypes.ErrLeaderChanged, rpctypes.ErrNoLeader} {
		if errors.Is(err, e) || err != nil && rpctypes.ErrorDesc(errors.Unwrap(err)) == rpctypes.ErrorDesc(e) {
			return true
		}
	}
	return false
}

// busyError is a store error that etcd's load caused.
type busyError struct{ error }

func (e busyError) Unwrap() error { return e.error }

// Overloaded reports that the store pushed back: the request may succeed
// if tried again later.
func (busyError) Overloaded() bool { return true }
