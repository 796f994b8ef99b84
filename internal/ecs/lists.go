package ecs

import (
	"reflect"

	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// ECS writes some list members as [] when they are empty, and leaves others
// out; callers depend on it (boto3's resp["taskDefinitionArns"] on an empty
// page). The wire types leave a nil list out and write an empty one, so
// fillLists, run on every response before it is encoded, turns the nil lists
// ECS always writes into empty ones:
//   - every list member of a response itself (a List* action's list, a
//     Describe* action's failures), except those in responseOptional;
//   - the members alwaysListed names, in the shapes nested anywhere in it,
//     the set of a STRINGSET resource and the network bindings of a
//     RUNNING container.
//
// The table follows the outputs AWS gives (the AWS CLI's examples of each
// action): one line per shape.
var alwaysListed = map[reflect.Type][]string{
	reflect.TypeFor[w.TaskDefinition]():      {"ContainerDefinitions", "Volumes", "PlacementConstraints", "Compatibilities", "RequiresAttributes"},
	reflect.TypeFor[w.ContainerDefinition](): {"PortMappings", "Environment", "MountPoints", "VolumesFrom"},
	reflect.TypeFor[w.Service]():             {"LoadBalancers", "ServiceRegistries", "PlacementConstraints", "PlacementStrategy", "Events", "Deployments"},
	reflect.TypeFor[w.Task]():                {"Attachments", "Containers", "Tags"},
	reflect.TypeFor[w.TaskOverride]():        {"ContainerOverrides", "InferenceAcceleratorOverrides"},
	reflect.TypeFor[w.Container]():           {"NetworkInterfaces"},
	reflect.TypeFor[w.Cluster]():             {"Statistics", "Tags", "Settings", "CapacityProviders", "DefaultCapacityProviderStrategy"},
	reflect.TypeFor[w.ContainerInstance]():   {"Attributes", "RegisteredResources", "RemainingResources", "Attachments", "Tags"},
	reflect.TypeFor[w.DeploymentAlarms]():    {"AlarmNames"},
}

// responseOptional names the list members of responses that ECS leaves out
// when empty: RegisterTaskDefinition answers tags only when some were given.
var responseOptional = map[reflect.Type][]string{
	reflect.TypeFor[w.RegisterTaskDefinitionResponse](): {"Tags"},
}

// fillLists makes the lists ECS always writes non-nil in out, a pointer to a
// response.
func fillLists(out any) {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	top := v.Elem()
	skip := map[string]bool{}
	for _, n := range responseOptional[top.Type()] {
		skip[n] = true
	}
	for i := range top.NumField() {
		f := top.Field(i)
		if f.Kind() == reflect.Slice && f.IsNil() && !skip[top.Type().Field(i).Name] {
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		}
	}
	fillNested(top)
}

// wirePackage is the package of the ECS wire types, the only structs
// fillNested walks.
var wirePackage = reflect.TypeFor[w.Task]().PkgPath()

func fillNested(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillNested(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			fillNested(v.Index(i))
		}
	case reflect.Struct:
		if v.Type().PkgPath() != wirePackage {
			return // wire.Time and the like hold no lists
		}
		if v.CanAddr() {
			switch x := v.Addr().Interface().(type) {
			case *w.Resource:
				// A STRINGSET resource (PORTS_UDP with no port) writes its set.
				if x.Type == "STRINGSET" && x.StringSetValue == nil {
					x.StringSetValue = []string{}
				}
			case *w.Container:
				// A running container writes its bindings, even none.
				if x.LastStatus == "RUNNING" && x.NetworkBindings == nil {
					x.NetworkBindings = []w.NetworkBinding{}
				}
			}
		}
		for _, n := range alwaysListed[v.Type()] {
			if f := v.FieldByName(n); f.IsNil() {
				f.Set(reflect.MakeSlice(f.Type(), 0, 0))
			}
		}
		for i := range v.NumField() {
			fillNested(v.Field(i))
		}
	}
}
