// Package bench holds Gantry's benchmarks: the API edge driven by the real
// AWS SDK over loopback, and the etcd ceiling beside it. Run them with
// `make bench`; docs/benchmarks.md records the figures.
package bench
