// Package ecs implements the operations of the Amazon ECS API over the state
// store: one file per resource (clusters, task definitions, container
// instances, attributes, tags, account settings, tasks, services), each
// validating its input, applying ECS's defaults and rules, and writing
// through etcd transactions.
// Operations return typed *awsapi.Error values from errors.go; the edge maps
// them to the wire. The agent protocol's Poll (agentapi.go) and the agent's
// state reports (taskstate.go) share the task records with the ECS actions;
// Purge removes old stopped tasks.
package ecs
