package ecs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Container instances: references, records, resources and attributes shared
// by instances.go and attributes.go.

// instanceARN is the long-format ARN of a container instance.
func (sc scope) instanceARN(cluster, id string) string {
	return sc.arn("container-instance/" + cluster + "/" + id)
}

// instanceRef resolves a container instance parameter (an id, or an ARN in
// the long form container-instance/<cluster>/<id> or the old short form
// container-instance/<id>) to an id within cluster. ok is false when ref is
// well formed but cannot name an instance of this cluster (an ARN of another
// cluster, region or account): callers treat it as not found. arn is the ARN
// to report the reference by.
func (sc scope) instanceRef(cluster, ref string) (id, arn string, ok bool, err error) {
	if !model.IsARN(ref) {
		if ref == "" || strings.ContainsAny(ref, "/\n") || len(ref) > 255 {
			return "", "", false, InvalidParameter.Errorf("%q is not a container instance id: pass the id (32 hexadecimal characters) or the full ARN of a container instance.", ref)
		}
		return ref, sc.instanceARN(cluster, ref), true, nil
	}
	a, err := model.ParseARN(ref)
	if err != nil || a.Service != "ecs" || a.ResourceType() != "container-instance" || a.ResourceID() == "" {
		return "", "", false, InvalidParameter.Errorf("%q is not a container instance ARN: expected arn:aws:ecs:%s:%s:container-instance/<cluster>/<id>.", ref, sc.Region, sc.Account)
	}
	rest := a.ResourceID()
	inCluster := cluster
	if c, i, two := strings.Cut(rest, "/"); two {
		inCluster, rest = c, i
	}
	if rest == "" || strings.Contains(rest, "/") {
		return "", "", false, InvalidParameter.Errorf("%q is not a container instance ARN: expected arn:aws:ecs:%s:%s:container-instance/<cluster>/<id>.", ref, sc.Region, sc.Account)
	}
	ok = a.Region == sc.Region && a.Account == sc.Account && inCluster == cluster
	return rest, ref, ok, nil
}

// loadInstance reads a container instance of cluster: the registered record,
// or with deregistered also an INACTIVE one. It returns the record, its
// revision and its key; state.ErrNotFound if there is none.
func loadInstance(ctx context.Context, st *state.Store, cluster, id string, deregistered bool) (*model.ContainerInstance, int64, string, error) {
	keys := []string{model.InstanceKey(cluster, id)}
	if deregistered {
		keys = append(keys, model.DeregisteredKey(cluster, id))
	}
	for _, k := range keys {
		var ci model.ContainerInstance
		rev, err := st.Get(ctx, k, &ci)
		if err == nil {
			return &ci, rev, k, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, 0, "", err
		}
	}
	return nil, 0, "", state.ErrNotFound
}

// requireCluster resolves a cluster parameter to a name and checks that
// the cluster exists (ClusterNotFoundException otherwise).
func (sc scope) requireCluster(ctx context.Context, ref string) (string, error) {
	name, err := sc.clusterName(ref)
	if err != nil {
		return "", err
	}
	return name, existingCluster(ctx, sc, name)
}

// existingCluster checks that the named cluster exists, ACTIVE or INACTIVE:
// reads of container instances work on both, as deregistered instances
// outlive their cluster.
func existingCluster(ctx context.Context, sc scope, name string) error {
	pages, err := sc.st.ReadAll(ctx, state.Read{Key: model.ClusterKey(name), CountOnly: true})
	if err != nil {
		return err
	}
	if pages[0].Count == 0 {
		return errClusterNotFound(name)
	}
	return nil
}

// The resources an agent registers, and their types.
var instanceResourceTypes = map[string]string{
	"CPU":       "INTEGER",
	"MEMORY":    "INTEGER",
	"PORTS":     "STRINGSET",
	"PORTS_UDP": "STRINGSET",
}

// registeredResources validates the totalResources of a registration and
// adds the GPUs of platformDevices as the GPU resource, as ECS reports them.
func registeredResources(total []w.Resource, devices []w.PlatformDevice) ([]w.Resource, error) {
	out := make([]w.Resource, 0, len(total)+1)
	seen := map[string]bool{}
	for _, r := range total {
		typ, ok := instanceResourceTypes[r.Name]
		if !ok {
			return nil, InvalidParameter.Errorf("Resource %q is not supported: the resources of a container instance are CPU, MEMORY (INTEGER), PORTS and PORTS_UDP (STRINGSET).", r.Name)
		}
		if r.Type == "" {
			r.Type = typ
		}
		if r.Type != typ {
			return nil, InvalidParameter.Errorf("Resource %s must be of type %s, got %s.", r.Name, typ, r.Type)
		}
		if seen[r.Name] {
			return nil, InvalidParameter.Errorf("Resource %s is given more than once.", r.Name)
		}
		seen[r.Name] = true
		switch typ {
		case "INTEGER":
			if r.IntegerValue < 0 {
				return nil, InvalidParameter.Errorf("Resource %s must not be negative, got %d.", r.Name, r.IntegerValue)
			}
			r.LongValue, r.DoubleValue, r.StringSetValue = 0, 0, nil
		case "STRINGSET":
			for _, p := range r.StringSetValue {
				if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
					return nil, InvalidParameter.Errorf("Resource %s lists %q, which is not a port number (0 to 65535).", r.Name, p)
				}
			}
			r.IntegerValue, r.LongValue, r.DoubleValue = 0, 0, 0
			r.StringSetValue = slices.Compact(slices.Clone(r.StringSetValue))
		}
		out = append(out, r)
	}
	var gpus []string
	for _, d := range devices {
		if d.Id == "" {
			return nil, InvalidParameter.Errorf("Every platform device needs an id.")
		}
		if slices.Contains(gpus, d.Id) {
			return nil, InvalidParameter.Errorf("Platform device %q is given more than once.", d.Id)
		}
		gpus = append(gpus, d.Id)
	}
	if len(gpus) > 0 {
		out = append(out, w.Resource{Name: "GPU", Type: "STRINGSET", StringSetValue: gpus})
	}
	return out, nil
}

// carryUsage returns the remaining resources of an instance that registers
// again with total: what tasks use of the old registration (registered minus
// remaining for amounts; remaining ports that were not registered ones) is
// still in use.
func carryUsage(total, oldRegistered, oldRemaining []w.Resource) []w.Resource {
	find := func(rs []w.Resource, name string) *w.Resource {
		i := slices.IndexFunc(rs, func(r w.Resource) bool { return r.Name == name })
		if i < 0 {
			return nil
		}
		return &rs[i]
	}
	out := slices.Clone(total)
	for i := range out {
		r := &out[i]
		reg, rem := find(oldRegistered, r.Name), find(oldRemaining, r.Name)
		if reg == nil || rem == nil {
			continue
		}
		switch r.Type {
		case "INTEGER":
			r.IntegerValue = max(0, r.IntegerValue-(reg.IntegerValue-rem.IntegerValue))
		case "STRINGSET":
			set := slices.Clone(r.StringSetValue)
			for _, v := range rem.StringSetValue {
				if !slices.Contains(reg.StringSetValue, v) && !slices.Contains(set, v) {
					set = append(set, v)
				}
			}
			r.StringSetValue = set
		}
	}
	return out
}

// identityInstanceID reads the instanceId of an EC2 instance identity
// document; "" when no document is given.
func identityInstanceID(doc string) (string, error) {
	if doc == "" {
		return "", nil
	}
	var d struct {
		InstanceID string `json:"instanceId"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return "", InvalidParameter.Errorf("instanceIdentityDocument is not a JSON instance identity document: %v.", err)
	}
	return d.InstanceID, nil
}

// maxCustomAttributes is the most custom attributes a resource can carry.
const maxCustomAttributes = 10

// isCustomAttribute reports whether an attribute is a custom one, rather than
// one the agent reports (ecs.*, com.amazonaws.ecs.*), which do not count
// against the limit.
func isCustomAttribute(name string) bool {
	return !strings.HasPrefix(name, "ecs.") && !strings.HasPrefix(name, "com.amazonaws.ecs.")
}

func countCustom(attrs []w.Attribute) int {
	n := 0
	for _, a := range attrs {
		if isCustomAttribute(a.Name) {
			n++
		}
	}
	return n
}

// validAttributeName: 1 to 128 letters, digits, hyphens, underscores,
// forward slashes, back slashes and periods, as the service model says.
func validAttributeName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(isAlnum(c) || strings.ContainsRune(`-_/\.`, c)) {
			return false
		}
	}
	return true
}

// validAttributeValue: 1 to 128 letters, digits, hyphens, underscores,
// periods, at signs, forward and back slashes, colons and spaces, not
// starting or ending with a space.
func validAttributeValue(s string) bool {
	if len(s) == 0 || len(s) > 128 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for _, c := range s {
		if !(isAlnum(c) || strings.ContainsRune(`-_.@/\: `, c)) {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validateAttribute checks an attribute's name and, when withValue, its
// optional value.
func validateAttribute(a w.Attribute, withValue bool) error {
	if !validAttributeName(a.Name) {
		return InvalidParameter.Errorf("Attribute name %q is not valid: 1 to 128 letters, numbers, hyphens, underscores, periods, forward slashes and back slashes are allowed.", a.Name)
	}
	if withValue && a.Value != "" && !validAttributeValue(a.Value) {
		return InvalidParameter.Errorf("The value %q of attribute %s is not valid: 1 to 128 letters, numbers, hyphens, underscores, periods, at signs, forward and back slashes, colons and spaces are allowed, not starting or ending with a space.", a.Value, a.Name)
	}
	return nil
}

// setAttribute adds or replaces the attribute of a's name; only the name
// and value are stored in an instance.
func setAttribute(attrs []w.Attribute, a w.Attribute) []w.Attribute {
	a = w.Attribute{Name: a.Name, Value: a.Value}
	if i := slices.IndexFunc(attrs, func(x w.Attribute) bool { return x.Name == a.Name }); i >= 0 {
		attrs[i] = a
		return attrs
	}
	return append(attrs, a)
}

// removeAttribute drops the attribute called name, if any.
func removeAttribute(attrs []w.Attribute, name string) []w.Attribute {
	return slices.DeleteFunc(attrs, func(x w.Attribute) bool { return x.Name == name })
}

// sortAttributes orders attributes by name, the order they are stored and
// listed in.
func sortAttributes(attrs []w.Attribute) {
	slices.SortFunc(attrs, func(a, b w.Attribute) int { return cmp.Compare(a.Name, b.Name) })
}

// errCustomLimit is the error of an instance that would carry too many
// custom attributes.
func errCustomLimit(code awsapi.Code, arn string, n int) error {
	return code.Errorf("Container instance %s would have %d custom attributes; at most %d are allowed. Remove some with DeleteAttributes first.", arn, n, maxCustomAttributes)
}
