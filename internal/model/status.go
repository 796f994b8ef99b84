package model

// Cluster statuses, as ECS reports them.
const (
	ClusterActive         = "ACTIVE"
	ClusterProvisioning   = "PROVISIONING"
	ClusterDeprovisioning = "DEPROVISIONING"
	ClusterFailed         = "FAILED"
	ClusterInactive       = "INACTIVE"
)

// Task definition statuses.
const (
	TaskDefinitionActive           = "ACTIVE"
	TaskDefinitionInactive         = "INACTIVE"
	TaskDefinitionDeleteInProgress = "DELETE_IN_PROGRESS"
)

// Container instance statuses. An instance moves ACTIVE <-> DRAINING through
// UpdateContainerInstancesState, and to INACTIVE when deregistered.
const (
	InstanceActive      = "ACTIVE"
	InstanceDraining    = "DRAINING"
	InstanceInactive    = "INACTIVE"
	InstanceRegistering = "REGISTERING"
)

// DefaultCluster is the cluster every action uses when none is named.
const DefaultCluster = "default"
