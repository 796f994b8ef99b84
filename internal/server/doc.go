// Package server is the composition root of the control plane: it opens the
// state store (embedded or external etcd), builds the operations of each API,
// puts the AWS edge in front of them on one HTTP listener, and runs until its
// context ends.
package server
