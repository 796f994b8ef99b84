package metadata

import (
	"net"
	"sync"
	"time"
)

// The endpoint's protection against a task that floods it, so that one task
// can neither starve the others nor take the agent's file descriptors (and
// with them its Docker and control-plane connections).
const (
	// RequestRate and RequestBurst are each task's request budget, the ECS
	// agent's: a steady 40 requests a second, bursts of 60; beyond it the
	// endpoint answers 429 Too Many Requests.
	RequestRate  = 40
	RequestBurst = 60
	// MaxConns bounds the endpoint's open connections: beyond it, new ones
	// wait in the kernel's accept queue and take no descriptor of the agent.
	MaxConns = 128
	// MaxConnsPerSource bounds the open connections of one source address
	// (one bridge-mode task; host-mode tasks share the host's): beyond it a
	// connection is closed as soon as it is accepted.
	MaxConnsPerSource = 16
	// The read, write and idle timeouts of a connection.
	readTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
	idleTimeout  = 30 * time.Second
)

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// limiter keeps one bucket per key (a task, or a source address).
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
	swept   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, if it has one.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		// Buckets full again for a while are dropped: a new one starts full.
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limitListener accepts at most max connections at a time (Accept waits
// for one to close), and at most perSource from one address (more are
// closed at once).
type limitListener struct {
	net.Listener
	slots     chan struct{}
	perSource int
	mu        sync.Mutex
	bySource  map[string]int
}

func newLimitListener(ln net.Listener, max, perSource int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), perSource: perSource, bySource: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		l.slots <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		src := host(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.bySource[src] >= l.perSource
		if !over {
			l.bySource[src]++
		}
		l.mu.Unlock()
		if over {
			c.Close()
			<-l.slots
			continue
		}
		return &limitConn{Conn: c, l: l, src: src}, nil
	}
}

// limitConn gives its slot back when closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	src  string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.bySource[c.src]--; c.l.bySource[c.src] <= 0 {
			delete(c.l.bySource, c.src)
		}
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}

// host is the address part of host:port.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
