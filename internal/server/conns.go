package server

import (
	"container/list"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// connLimiter caps the client connections the server holds open, so that
// no one who can reach the port can take all of the process's file
// descriptors (which the embedded etcd needs for its WAL) or its memory by
// opening connections and sending nothing.
//
// It sheds rather than blocks. Every connection is busy (a request of it is
// in a handler: it has sent complete headers and is being answered), fresh
// (accepted, and has not yet sent a complete request: an idle or slow
// attacker's socket looks like this) or idle (it has been answered and
// waits as a keep-alive). When a connection arrives with the cap reached,
// the limiter closes the fresh connection waiting longest, else the idle
// one waiting longest (a client reopens a keep-alive at the cost of a
// handshake), and admits the new one; only when every connection is busy is
// the new one closed at once. Shedding fresh ones first keeps the
// connections of clients that have made requests open however many idle
// sockets arrive; a busy connection is never shed, as its request runs to
// an end the server's deadlines bound (headers, body stall, write). So a
// flood of idle connections costs legitimate clients nothing, or at worst a
// reconnect, never a wait, and the process never holds more than the cap.
type connLimiter struct {
	max int
	log *slog.Logger

	mu          sync.Mutex
	conns       map[net.Conn]*tracked
	fresh, idle list.List // of net.Conn, waiting longest first
	shed        atomic.Int64
	refused     atomic.Int64
}

// tracked is the limiter's record of one connection: the list it waits in
// (fresh or idle; none while busy) and its element there.
type tracked struct {
	in   *list.List
	elem *list.Element
}

func (t *tracked) leave() {
	if t.in != nil {
		t.in.Remove(t.elem)
		t.in, t.elem = nil, nil
	}
}

func newConnLimiter(max int, log *slog.Logger) *connLimiter {
	return &connLimiter{max: max, log: log, conns: map[net.Conn]*tracked{}}
}

// admit decides on a connection just accepted: it reports whether c may be
// served, having closed a waiting connection to make room if the cap is
// reached.
func (l *connLimiter) admit(c net.Conn) bool {
	l.mu.Lock()
	var victim net.Conn
	if len(l.conns) >= l.max {
		front := l.fresh.Front()
		if front == nil {
			front = l.idle.Front()
		}
		if front == nil {
			l.mu.Unlock()
			if l.refused.Add(1)&1023 == 1 {
				l.log.Warn("connection refused: every connection is busy", logMaxConns, l.max, "refused_so_far", l.refused.Load())
			}
			return false
		}
		victim = front.Value.(net.Conn)
		l.conns[victim].leave()
		delete(l.conns, victim)
	}
	l.conns[c] = &tracked{in: &l.fresh, elem: l.fresh.PushBack(c)}
	l.mu.Unlock()
	if victim != nil {
		victim.Close()
		if l.shed.Add(1)&1023 == 1 {
			l.log.Info("connection limit reached: closing the connections waiting longest", logMaxConns, l.max, "shed_so_far", l.shed.Load())
		}
	}
	return true
}

// connState follows the server's view of each connection (http.Server's
// ConnState hook).
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.conns[c]
	if !ok {
		return // shed, or refused
	}
	switch s {
	case http.StateIdle:
		t.leave()
		t.in, t.elem = &l.idle, l.idle.PushBack(c)
	case http.StateClosed, http.StateHijacked:
		t.leave()
		delete(l.conns, c)
	}
}

// busy marks c as answering a request: it is not shed until it is idle.
func (l *connLimiter) busy(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.conns[c]; ok {
		t.leave()
	}
}

// open is the number of connections held.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// limitListener admits each accepted connection through the limiter.
type limitListener struct {
	net.Listener
	l *connLimiter
}

func (ln limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ln.l.admit(c) {
			return c, nil
		}
		c.Close()
	}
}

// logMaxConns is the log attribute of the connection cap.
const logMaxConns = "max_connections"

type connKey struct{}

// guard wraps the server's handler: it marks the request's connection busy
// while the handler runs, and sets the deadlines of the request. A request
// with a body must keep sending it: each read pushes the read deadline
// stall further, so that a large registry upload runs as long as it moves
// while a stalled one is dropped; once the body is read there is no read
// deadline, so that an agent's long poll is not cut. Answers of the AWS APIs
// must be taken within writeTimeout; the registry's (blobs of any size)
// have no write deadline.
func guard(h http.Handler, l *connLimiter, stall, writeTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			l.busy(c)
		}
		rc := http.NewResponseController(w)
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			rc.SetWriteDeadline(time.Time{})
		} else {
			rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		}
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			rc.SetReadDeadline(time.Now().Add(stall))
			// A shallow copy, as http.StripPrefix makes: the server looks
			// at the original request's body after the handler.
			r2 := new(http.Request)
			*r2 = *r
			r2.Body = &stallBody{ReadCloser: r.Body, rc: rc, stall: stall}
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// stallBody pushes the connection's read deadline forward as the body
// arrives.
type stallBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	last  time.Time
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// Pushing the deadline costs a timer update: once per 1/8 of the stall
	// is enough. At the body's end net/http lifts the deadline itself (it
	// then watches the connection for the client going away); after an
	// error the deadline stays, so that the server's drain of what is left
	// does not wait either.
	if n > 0 && err == nil {
		if now := time.Now(); now.Sub(b.last) > b.stall/8 {
			b.last = now
			b.rc.SetReadDeadline(now.Add(b.stall))
		}
	}
	return n, err
}

// connContext puts the connection into its requests' contexts, for guard.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}
