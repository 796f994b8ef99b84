package metadata

import (
	"net"
	"testing"
	"time"
)

// Each key gets a burst of RequestBurst, then RequestRate a second; keys do
// not share their budget.
func TestLimiterBurstAndRate(t *testing.T) {
	l := newLimiter(RequestRate, RequestBurst)
	now := time.Unix(1000, 0)
	allowed := func(key string, n int) (ok int) {
		for range n {
			if l.allow(key, now) {
				ok++
			}
		}
		return ok
	}
	if got := allowed("task a", 100); got != RequestBurst {
		t.Fatalf("a burst of 100: %d allowed, want %d", got, RequestBurst)
	}
	if got := allowed("task b", 10); got != 10 {
		t.Fatalf("another task after the first's burst: %d of 10 allowed", got)
	}
	now = now.Add(500 * time.Millisecond)
	if got := allowed("task a", 100); got != RequestRate/2 {
		t.Fatalf("half a second later: %d allowed, want %d", got, RequestRate/2)
	}
}

// The listener holds at most MaxConnsPerSource connections of one address:
// one more is closed by the server at once, and a slot freed is reused.
func TestLimitListenerPerSource(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 8, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first, second := <-accepted, <-accepted
	third := dial()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection of one address was served")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a third connection of one address was left open, not closed")
	}
	first.Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	second.Close()
}
