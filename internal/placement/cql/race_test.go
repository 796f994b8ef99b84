//go:build race

package cql

// The race detector makes sync.Pool drop items at random, so the regexp
// engine's pooled state is allocated again now and then.
func init() { raceEnabled = true }
