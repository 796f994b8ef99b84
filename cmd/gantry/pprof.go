package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// servePprof serves Go's profiler (net/http/pprof, under /debug/pprof/) on
// addr, for as long as the process runs: `go tool pprof
// http://ADDR/debug/pprof/profile?seconds=30` profiles a running server or
// fleet. It is off unless --pprof-addr is given; give a loopback address,
// since it answers anyone who reaches it.
func servePprof(addr string) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(l, mux); err != nil {
			fmt.Fprintln(os.Stderr, "gantry: pprof server:", err)
		}
	}()
	return nil
}
