package ecs

import (
	"cmp"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The checks and defaults of CreateService and UpdateService. Members that
// Gantry cannot honour yet (load balancers, service discovery, Service
// Connect, EBS volumes, VPC Lattice, capacity providers, launch types other
// than EC2, deployment controllers other than ECS) are refused with an
// InvalidParameterException that names them, never stored and ignored.

// Service defaults and limits, as ECS documents them.
const (
	// A REPLICA service may have tasks above desiredCount during a
	// deployment up to maximumPercent, and keeps minimumHealthyPercent of
	// desiredCount RUNNING; a DAEMON service cannot exceed one task per
	// instance (maximumPercent 100) and may stop them all (0).
	replicaMaxPercent = 200
	replicaMinPercent = 100
	daemonMaxPercent  = 100
	daemonMinPercent  = 0

	// maxServiceToken is how long a CreateService clientToken may be.
	maxServiceToken = 36
	// maxGracePeriod is the longest healthCheckGracePeriodSeconds.
	maxGracePeriod = 2147483647

	deploymentControllerECS = "ECS"
	deploymentRolling       = "ROLLING"
	propagateNone           = "NONE"
	resourceManagedCustomer = "CUSTOMER"
	azRebalancingEnabled    = "ENABLED"
)

// validServiceName refuses a service name ECS would not take.
func validServiceName(name string) error {
	if !validName(name) {
		return InvalidParameter.Errorf("Service name %q is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", name)
	}
	return nil
}

// validServiceToken checks a CreateService clientToken: up to 36 ASCII
// characters in the range 33 to 126.
func validServiceToken(tok string) error {
	if len(tok) > maxServiceToken {
		return InvalidParameter.Errorf("clientToken must be at most %d characters; it has %d.", maxServiceToken, len(tok))
	}
	return validateClientToken(tok)
}

// notYet is the error for a member Gantry does not support yet.
func notYet(member, why string) error {
	return InvalidParameter.Errorf("%s is not supported yet by Gantry: %s. Remove it from the request.", member, why)
}

// unsupportedMembers are the members CreateService and UpdateService share
// that Gantry refuses when they are set.
type unsupportedMembers struct {
	loadBalancers     []w.LoadBalancer
	serviceRegistries []w.ServiceRegistry
	serviceConnect    *w.ServiceConnectConfiguration
	volumes           []w.ServiceVolumeConfiguration
	vpcLattice        []w.VpcLatticeConfiguration
	capacityProviders []w.CapacityProviderStrategyItem
	platformVersion   string
	execCmd           bool
	controller        *w.DeploymentController
}

func (u unsupportedMembers) check() error {
	switch {
	case len(u.loadBalancers) > 0:
		return notYet("loadBalancers", "services cannot register their tasks with load balancers")
	case len(u.serviceRegistries) > 0:
		return notYet("serviceRegistries", "there is no Cloud Map service discovery")
	case u.serviceConnect != nil && u.serviceConnect.Enabled:
		return notYet("serviceConnectConfiguration", "there is no Service Connect proxy")
	case len(u.volumes) > 0:
		return notYet("volumeConfigurations", "EBS volumes configured at launch are not attached")
	case len(u.vpcLattice) > 0:
		return notYet("vpcLatticeConfigurations", "there is no VPC Lattice")
	case len(u.capacityProviders) > 0:
		return notYet("capacityProviderStrategy", "services run on the cluster's container instances with launchType EC2")
	case u.platformVersion != "":
		return InvalidParameter.Errorf("The platform version must be null when specifying an EC2 launch type.")
	case u.execCmd:
		return notYet("enableExecuteCommand", "ECS Exec sessions are not served")
	case u.controller != nil && u.controller.Type != deploymentControllerECS:
		return notYet("deploymentController type "+u.controller.Type, "only the rolling update (ECS) deployment controller is available")
	}
	return nil
}

// checkServiceLaunchType refuses a launch type other than EC2.
func checkServiceLaunchType(lt string, capacityProviders []w.CapacityProviderStrategyItem) error {
	if lt != "" && len(capacityProviders) > 0 {
		return InvalidParameter.Errorf("Specifying both a launchType and capacityProviderStrategy is not supported.")
	}
	if lt != "" && lt != compatEC2 {
		return notYet("launchType "+lt, "services run on the cluster's container instances, with launchType EC2 (the default)")
	}
	return nil
}

// checkCreateService checks what CreateService can check without reading
// the store.
func checkCreateService(in *w.CreateServiceRequest) error {
	if err := validServiceName(in.ServiceName); err != nil {
		return err
	}
	if err := validServiceToken(in.ClientToken); err != nil {
		return err
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := checkServiceLaunchType(in.LaunchType, in.CapacityProviderStrategy); err != nil {
		return err
	}
	u := unsupportedMembers{
		loadBalancers: in.LoadBalancers, serviceRegistries: in.ServiceRegistries, serviceConnect: in.ServiceConnectConfiguration,
		volumes: in.VolumeConfigurations, vpcLattice: in.VpcLatticeConfigurations, capacityProviders: in.CapacityProviderStrategy,
		platformVersion: in.PlatformVersion, execCmd: in.EnableExecuteCommand, controller: in.DeploymentController,
	}
	if err := u.check(); err != nil {
		return err
	}
	if in.Role != "" {
		return InvalidParameter.Errorf("role is only permitted for a service with loadBalancers, which Gantry does not support yet. Remove it from the request.")
	}
	if in.TaskDefinition == "" {
		return InvalidParameter.Errorf("taskDefinition is required for a service of the ECS deployment controller: give a family, family:revision or task definition ARN.")
	}
	if in.NetworkConfiguration != nil {
		return errNetworkConfiguration()
	}
	if err := checkGracePeriod(in.HealthCheckGracePeriodSeconds); err != nil {
		return err
	}
	switch in.SchedulingStrategy {
	case model.SchedulingDaemon:
		if in.DesiredCount != nil {
			return InvalidParameter.Errorf("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again.")
		}
		if len(in.PlacementStrategy) > 0 {
			return InvalidParameter.Errorf("The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again.")
		}
	default:
		if in.DesiredCount == nil {
			return InvalidParameter.Errorf("desiredCount is required for a service with the REPLICA scheduling strategy (the default); give the number of tasks to keep running.")
		}
		if err := checkDesiredCount(*in.DesiredCount); err != nil {
			return err
		}
	}
	return nil
}

// checkUpdateService checks what UpdateService can check without reading
// the store.
func checkUpdateService(in *w.UpdateServiceRequest) error {
	u := unsupportedMembers{
		loadBalancers: in.LoadBalancers, serviceRegistries: in.ServiceRegistries, serviceConnect: in.ServiceConnectConfiguration,
		volumes: in.VolumeConfigurations, vpcLattice: in.VpcLatticeConfigurations, capacityProviders: in.CapacityProviderStrategy,
		platformVersion: in.PlatformVersion, execCmd: in.EnableExecuteCommand != nil && *in.EnableExecuteCommand,
		controller: in.DeploymentController,
	}
	if err := u.check(); err != nil {
		return err
	}
	if in.NetworkConfiguration != nil {
		return errNetworkConfiguration()
	}
	if in.DesiredCount != nil {
		if err := checkDesiredCount(*in.DesiredCount); err != nil {
			return err
		}
	}
	return checkGracePeriod(in.HealthCheckGracePeriodSeconds)
}

// errNetworkConfiguration: a network configuration is only for the awsvpc
// network mode, which EC2 tasks in Gantry do not have.
func errNetworkConfiguration() error {
	return InvalidParameter.Errorf("Network Configuration is not valid for the network mode of this task definition; it is only for networkMode awsvpc, which Gantry does not support yet (tasks run in bridge, host or none mode). Remove networkConfiguration.")
}

func checkDesiredCount(n int32) error {
	if n < 0 {
		return InvalidParameter.Errorf("desiredCount must not be negative, got %d.", n)
	}
	return nil
}

func checkGracePeriod(p *int32) error {
	if p != nil && *p < 0 {
		return InvalidParameter.Errorf("healthCheckGracePeriodSeconds must be between 0 and %d, got %d.", maxGracePeriod, *p)
	}
	return nil
}

// checkServiceTaskDefinition refuses a task definition whose tasks the
// Gantry agent could not run: the service would fail every task it starts.
func checkServiceTaskDefinition(def *model.TaskDefinition) error {
	return checkHonourable(&def.Def)
}

// checkServicePlacement validates a service's placement strategies and
// constraints as RunTask does (at most 5 strategies; at most 10 constraints,
// counting the task definition's), with the messages of placementRequest.
func checkServicePlacement(def *model.TaskDefinition, strategies []w.PlacementStrategy, constraints []w.PlacementConstraint) error {
	spec := &runSpec{def: def}
	if def != nil {
		spec.merged = def.Def
	} else {
		spec.def = &model.TaskDefinition{}
	}
	_, err := placementRequest(spec, 1, strategies, constraints, nil)
	return err
}

// defaultDeploymentConfiguration is the deployment configuration of a
// service that gives none: ECS's defaults for its scheduling strategy, the
// circuit breaker off, rolling updates.
func defaultDeploymentConfiguration(scheduling string) *w.DeploymentConfiguration {
	maxP, minP := int32(replicaMaxPercent), int32(replicaMinPercent)
	if scheduling == model.SchedulingDaemon {
		maxP, minP = daemonMaxPercent, daemonMinPercent
	}
	return &w.DeploymentConfiguration{
		MaximumPercent: &maxP, MinimumHealthyPercent: &minP,
		DeploymentCircuitBreaker: &w.DeploymentCircuitBreaker{},
		Strategy:                 deploymentRolling,
	}
}

// mergeDeploymentConfiguration applies the members given in a request over
// cur (nil on create: the defaults) and checks the result for the
// scheduling strategy. Members left out keep their current values.
func mergeDeploymentConfiguration(cur *w.DeploymentConfiguration, in *w.DeploymentConfiguration, scheduling string) (*w.DeploymentConfiguration, error) {
	out := *defaultDeploymentConfiguration(scheduling)
	if cur != nil {
		out = *cur
		def := defaultDeploymentConfiguration(scheduling)
		out.MaximumPercent = cmp.Or(out.MaximumPercent, def.MaximumPercent)
		out.MinimumHealthyPercent = cmp.Or(out.MinimumHealthyPercent, def.MinimumHealthyPercent)
		out.DeploymentCircuitBreaker = cmp.Or(out.DeploymentCircuitBreaker, def.DeploymentCircuitBreaker)
	}
	if in == nil {
		return &out, nil
	}
	switch in.Strategy {
	case "", deploymentRolling:
	default:
		return nil, notYet("deploymentConfiguration.strategy "+in.Strategy, "deployments are rolling updates (ROLLING)")
	}
	switch {
	case in.BakeTimeInMinutes != nil:
		return nil, notYet("deploymentConfiguration.bakeTimeInMinutes", "it is for blue/green, linear and canary deployments; deployments are rolling updates")
	case in.CanaryConfiguration != nil:
		return nil, notYet("deploymentConfiguration.canaryConfiguration", "deployments are rolling updates")
	case in.LinearConfiguration != nil:
		return nil, notYet("deploymentConfiguration.linearConfiguration", "deployments are rolling updates")
	case len(in.LifecycleHooks) > 0:
		return nil, notYet("deploymentConfiguration.lifecycleHooks", "deployments have no lifecycle hooks")
	case in.Alarms != nil && in.Alarms.Enable:
		return nil, notYet("deploymentConfiguration.alarms", "there are no CloudWatch alarms to watch; use deploymentCircuitBreaker")
	}
	if in.MaximumPercent != nil {
		out.MaximumPercent = new(*in.MaximumPercent)
	}
	if in.MinimumHealthyPercent != nil {
		out.MinimumHealthyPercent = new(*in.MinimumHealthyPercent)
	}
	if in.DeploymentCircuitBreaker != nil {
		out.DeploymentCircuitBreaker = &w.DeploymentCircuitBreaker{Enable: in.DeploymentCircuitBreaker.Enable, Rollback: in.DeploymentCircuitBreaker.Rollback}
	}
	if in.Alarms != nil {
		out.Alarms = in.Alarms
	}
	out.Strategy = deploymentRolling
	maxP, minP := *out.MaximumPercent, *out.MinimumHealthyPercent
	if minP < 0 || minP > 100 {
		return nil, InvalidParameter.Errorf("deploymentConfiguration.minimumHealthyPercent must be between 0 and 100, got %d.", minP)
	}
	if scheduling == model.SchedulingDaemon {
		if maxP != daemonMaxPercent {
			return nil, InvalidParameter.Errorf("deploymentConfiguration.maximumPercent must be 100 for a service with the DAEMON scheduling strategy (one task per instance), got %d.", maxP)
		}
		if minP >= maxP {
			return nil, InvalidParameter.Errorf("deploymentConfiguration.minimumHealthyPercent must be below maximumPercent (100) for a service with the DAEMON scheduling strategy, or no task could ever be replaced; got %d.", minP)
		}
		return &out, nil
	}
	if maxP < 100 {
		return nil, InvalidParameter.Errorf("deploymentConfiguration.maximumPercent must be at least 100, got %d.", maxP)
	}
	return &out, nil
}

// newDeploymentID returns a deployment id in ECS's form: ecs-svc/ and 19
// digits.
func newDeploymentID() string {
	var b strings.Builder
	b.WriteString("ecs-svc/")
	b.WriteString(strconv.Itoa(1 + rand.IntN(9)))
	for range 18 {
		b.WriteByte(byte('0' + rand.IntN(10)))
	}
	return b.String()
}
