// Package state is Gantry's typed store over etcd: JSON records under one key
// prefix, reads that return the revision they saw, paged prefix lists,
// transactions whose writes are conditional on those revisions (optimistic
// concurrency), and watches. It also starts the embedded etcd that `gantry
// dev` and `gantry server` use, alone or as a member of a cluster of
// servers, behind TLS with client certificates of its own authority; and it
// fences a leader's writes to its term (Fence).
//
// Every write that returns without error has been committed by etcd's raft
// log and fsynced, so an acknowledged API call survives kill -9.
package state
