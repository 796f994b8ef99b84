package model

import "fmt"

// Keys of the records in etcd, relative to the store of one account and
// region (see Scope). Listing a prefix returns records in key order, which is
// the order ECS lists them in: names sort, revisions are zero-padded.

// ClustersPrefix holds one record per cluster, by name.
const ClustersPrefix = "clusters/"

// ClusterKey is the key of a cluster record.
func ClusterKey(name string) string { return ClustersPrefix + name }

// TaskDefinitionsPrefix holds task definition revisions by family then revision.
const TaskDefinitionsPrefix = "taskdefs/"

// TaskDefinitionFamilyPrefix is the prefix of one family's revisions.
func TaskDefinitionFamilyPrefix(family string) string { return TaskDefinitionsPrefix + family + "/" }

// TaskDefinitionKey is the key of one revision.
func TaskDefinitionKey(family string, revision int32) string {
	return fmt.Sprintf("%s%s/%010d", TaskDefinitionsPrefix, family, revision)
}

// FamiliesPrefix holds one record per family: its last revision number, so
// revisions are never reused even after deletion.
const FamiliesPrefix = "families/"

// FamilyKey is the key of a family record.
func FamilyKey(family string) string { return FamiliesPrefix + family }

// InstancesPrefix is the prefix of a cluster's container instances.
func InstancesPrefix(cluster string) string { return "instances/" + cluster + "/" }

// InstanceKey is the key of a container instance record.
func InstanceKey(cluster, id string) string { return InstancesPrefix(cluster) + id }

// TasksPrefix is the prefix of a cluster's tasks.
func TasksPrefix(cluster string) string { return "tasks/" + cluster + "/" }

// ServicesPrefix is the prefix of a cluster's services.
func ServicesPrefix(cluster string) string { return "services/" + cluster + "/" }

// SettingsPrefix is the prefix of the account settings of a principal;
// principal "" is the account default.
func SettingsPrefix(principal string) string {
	if principal == "" {
		principal = "_default"
	}
	return "settings/" + principal + "/"
}

// SettingKey is the key of one account setting.
func SettingKey(principal, name string) string { return SettingsPrefix(principal) + name }

// IdempotencyKey is the key remembering the result of a request with a client token.
func IdempotencyKey(action, token string) string { return "idempotency/" + action + "/" + token }

// DeregisteredPrefix holds the INACTIVE records of deregistered container
// instances of a cluster, kept so they can still be described. Keeping them
// apart lets the count of registered instances be a key count.
func DeregisteredPrefix(cluster string) string { return "deregistered/" + cluster + "/" }

// DeregisteredKey is the key of a deregistered container instance.
func DeregisteredKey(cluster, id string) string { return DeregisteredPrefix(cluster) + id }

// TaskKey is the key of a task record.
func TaskKey(cluster, id string) string { return TasksPrefix(cluster) + id }

// AssignmentsPrefix holds the tasks assigned to one container instance, as
// agentproto.Assignment records: what the instance's agent is sent on Poll.
func AssignmentsPrefix(cluster, instanceID string) string {
	return ClusterAssignmentsPrefix(cluster) + instanceID + "/"
}

// ClusterAssignmentsPrefix is the prefix of the assignments of all of a
// cluster's instances.
func ClusterAssignmentsPrefix(cluster string) string { return "assignments/" + cluster + "/" }

// AssignmentKey is the key of one task's assignment to an instance.
func AssignmentKey(cluster, instanceID, taskID string) string {
	return AssignmentsPrefix(cluster, instanceID) + taskID
}

// HeartbeatKey records when an instance's agent last polled; kept apart from
// the instance record so heartbeats do not bump its version.
func HeartbeatKey(cluster, instanceID string) string {
	return "heartbeats/" + cluster + "/" + instanceID
}

// LoadsPrefix is the prefix of a cluster's instance load records.
func LoadsPrefix(cluster string) string { return "loads/" + cluster + "/" }

// LoadKey is the key of the load record of a container instance: the tasks
// placed on it and their groups, changed in the transaction that places or
// releases a task, so placement reads it without reading every task.
func LoadKey(cluster, instanceID string) string { return LoadsPrefix(cluster) + instanceID }
