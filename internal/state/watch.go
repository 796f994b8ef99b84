package state

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one change to a record under a watched prefix.
type Event struct {
	Item
	Deleted bool
}

// Watch streams the changes under prefix that happen after revision rev (0:
// from now) until ctx ends. The channel closes when the watch ends; a caller
// that must not miss changes re-lists and watches again from the list's
// revision.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan []Event {
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev+1))
	}
	out := make(chan []Event)
	wc := s.watcher().Watch(clientv3.WithRequireLeader(ctx), s.key(prefix), opts...)
	go func() {
		defer close(out)
		for resp := range wc {
			if resp.Err() != nil {
				return
			}
			evs := make([]Event, 0, len(resp.Events))
			for _, e := range resp.Events {
				evs = append(evs, Event{
					Item:    Item{Key: strings.TrimPrefix(string(e.Kv.Key), s.prefix+"/"), Value: e.Kv.Value, Revision: e.Kv.ModRevision},
					Deleted: e.Type == clientv3.EventTypeDelete,
				})
			}
			select {
			case out <- evs:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
