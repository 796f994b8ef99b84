// Package state is Gantry's typed store over etcd: JSON records under one key
// prefix, reads that return the revision they saw, paged prefix lists,
// transactions whose writes are conditional on those revisions (optimistic
// concurrency), and watches. It also starts the embedded single-node etcd
// that `gantry dev` and a lone `gantry server` use.
//
// Every write that returns without error has been committed by etcd's raft
// log and fsynced, so an acknowledged API call survives kill -9.
package state
