// Package model holds Gantry's domain vocabulary: ARNs and ids in ECS's
// formats, resource statuses, the records stored in etcd, and the layout of
// their keys. It depends on the standard library and the generated wire types
// only, so every other package can share it.
package model
