package ecs

import (
	"reflect"
	"sync"

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
	reflect.TypeFor[w.ServiceDeployment]():   {"SourceServiceRevisions"},
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

// conditional fills the lists of the shapes whose rule depends on a value.
func conditional(v reflect.Value) {
	if !v.CanAddr() {
		return
	}
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

// conditionalTypes are the shapes conditional handles.
var conditionalTypes = map[reflect.Type]bool{reflect.TypeFor[w.Resource](): true, reflect.TypeFor[w.Container](): true}

// A walkPlan says, for one struct type, which list fields to fill and which
// fields can lead to a shape with lists to fill; the others (strings,
// numbers, timestamps, shapes without such lists) are not visited.
type walkPlan struct {
	conditional bool
	fill, walk  []int
	empty       []reflect.Value // an empty list of each fill field's type
}

var (
	plansMu sync.Mutex
	plans   = map[reflect.Type]*walkPlan{}
	// reaches memoizes whether a type can hold a shape with lists to fill.
	reaches = map[reflect.Type]bool{}
)

// planOf returns the walk plan of a struct type.
func planOf(t reflect.Type) *walkPlan {
	plansMu.Lock()
	defer plansMu.Unlock()
	if p, ok := plans[t]; ok {
		return p
	}
	p := &walkPlan{conditional: conditionalTypes[t]}
	for _, n := range alwaysListed[t] {
		f, _ := t.FieldByName(n)
		p.fill = append(p.fill, f.Index[0])
		p.empty = append(p.empty, reflect.MakeSlice(f.Type, 0, 0))
	}
	for i := range t.NumField() {
		if reachesLists(t.Field(i).Type, map[reflect.Type]bool{}) {
			p.walk = append(p.walk, i)
		}
	}
	plans[t] = p
	return p
}

// reachesLists reports whether a value of type t can hold a shape with
// lists to fill. seen guards against recursive shapes. plansMu is held.
func reachesLists(t reflect.Type, seen map[reflect.Type]bool) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != wirePackage {
		return false
	}
	if r, ok := reaches[t]; ok {
		return r
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	r := alwaysListed[t] != nil || conditionalTypes[t]
	for i := 0; !r && i < t.NumField(); i++ {
		r = reachesLists(t.Field(i).Type, seen)
	}
	reaches[t] = r
	return r
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
		p := planOf(v.Type())
		if p.conditional {
			conditional(v)
		}
		for k, i := range p.fill {
			if f := v.Field(i); f.IsNil() {
				f.Set(p.empty[k])
			}
		}
		for _, i := range p.walk {
			fillNested(v.Field(i))
		}
	}
}
