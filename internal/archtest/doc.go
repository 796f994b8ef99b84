// Package archtest holds the layering test: it lists every package's imports
// and fails on an edge the architecture (docs/architecture.md) forbids.
package archtest
