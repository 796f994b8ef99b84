package ecs

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/placement"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Validation of RegisterTaskDefinition. ECS answers every problem with the
// content of a task definition as ClientException (its own messages are kept
// where they are well known, e.g. "No Fargate configuration exists for given
// values", "Container.image should not be null or empty."); malformed request
// parameters (tags, and the constraints of the service model checked by the
// edge) are InvalidParameterException.

// Network modes.
const (
	modeBridge = "bridge"
	modeHost   = "host"
	modeAwsvpc = "awsvpc"
	modeNone   = "none"
)

// Launch type compatibilities.
const (
	compatEC2              = "EC2"
	compatFargate          = "FARGATE"
	compatExternal         = "EXTERNAL"
	compatManagedInstances = "MANAGED_INSTANCES"
)

const maxContainers = 10

// Container health check bounds and the defaults ECS fills in.
const (
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

// fargateSizes is the Fargate task size table: for each task cpu, the
// memory values (MiB) allowed, as a range with a step.
var fargateSizes = map[int]struct{ min, max, step int }{
	256:   {512, 2048, 512}, // 512, 1024, 2048 (1536 is not offered)
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// fargateSize reports whether cpu units and memory MiB are a Fargate task size.
func fargateSize(cpu, mem int) bool {
	r, ok := fargateSizes[cpu]
	if !ok {
		return false
	}
	if cpu == 256 {
		return mem == 512 || mem == 1024 || mem == 2048
	}
	return mem >= r.min && mem <= r.max && (mem-r.min)%r.step == 0
}

func fargateMemoryChoices(cpu int) string {
	r, ok := fargateSizes[cpu]
	if !ok {
		return "task cpu must be one of 256, 512, 1024, 2048, 4096, 8192 or 16384 units (or 0.25 to 16 vCPU)"
	}
	if cpu == 256 {
		return "with 256 CPU, memory must be 512, 1024 or 2048"
	}
	return fmt.Sprintf("with %d CPU, memory must be %d to %d in steps of %d", cpu, r.min, r.max, r.step)
}

// taskSize describes how a task-level size is written: an integer of its
// base unit, or a number of a unit worth 1024 of them.
type taskSize struct {
	field, base, unit, example string
	pattern                    *regexp.Regexp
}

var (
	taskCPU    = taskSize{"cpu", "CPU units, 1024 per vCPU", "vCPU", "1 vCPU", regexp.MustCompile(`(?i)^([0-9]*\.?[0-9]+)\s*(vcpu)?$`)}
	taskMemory = taskSize{"memory", "MiB", "GB", "2 GB", regexp.MustCompile(`(?i)^([0-9]*\.?[0-9]+)\s*(gb)?$`)}
)

// parse reads a task cpu ("1024", "1 vCPU", "0.25 vcpu") or memory ("2048",
// "2 GB", "0.5GB") value. The unit multiplies by 1024; the result must be a
// whole number of CPU units or MiB. It returns 0 for "".
func (ts taskSize) parse(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	m := ts.pattern.FindStringSubmatch(s)
	var f float64
	err := fmt.Errorf("no match")
	if m != nil {
		f, err = strconv.ParseFloat(m[1], 64)
		if m[2] != "" {
			f *= 1024
		}
	}
	if err != nil || f != math.Trunc(f) || f <= 0 || f > math.MaxInt32 {
		return 0, withHint(errInvalidTaskSetting(ts.field), "%q: give a whole number of %s, or a number of %s such as %q", s, ts.base, ts.unit, ts.example)
	}
	return int(f), nil
}

// newTaskDefinition validates a RegisterTaskDefinition request and builds
// the definition to store, without its family counter fields (revision, ARN,
// registration). Task cpu and memory are normalised to units and MiB;
// defaults ECS fills in are filled in (essential, port mapping protocol and
// host port, health check timings); compatibilities and requiresAttributes
// are derived.
func newTaskDefinition(in *w.RegisterTaskDefinitionRequest) (*w.TaskDefinition, error) {
	if err := checkTaskDefinitionSize(in); err != nil {
		return nil, err
	}
	if !validName(in.Family) {
		return nil, ClientException.Errorf("Family %q is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", in.Family)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	// A deep copy through JSON: every member of the request that the
	// definition has (all but tags) comes back as it was sent.
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	td := new(w.TaskDefinition)
	if err := json.Unmarshal(b, td); err != nil {
		return nil, err
	}
	cpu, err := taskCPU.parse(td.Cpu)
	if err != nil {
		return nil, err
	}
	mem, err := taskMemory.parse(td.Memory)
	if err != nil {
		return nil, err
	}
	if cpu > 0 {
		if cpu < 128 || cpu > 196608 {
			return nil, withHint(errInvalidTaskSetting("cpu"), "%d units: task cpu must be between 128 (0.125 vCPU) and 196608 (192 vCPU)", cpu)
		}
		td.Cpu = strconv.Itoa(cpu)
	}
	if mem > 0 {
		td.Memory = strconv.Itoa(mem)
	}
	mode := td.NetworkMode
	if mode == "" {
		mode = modeBridge
	}
	if err := checkTaskLevel(td, mode); err != nil {
		return nil, err
	}
	if err := checkContainers(td, mode); err != nil {
		return nil, err
	}
	for _, rc := range td.RequiresCompatibilities {
		p := compatibilityProblem(rc, td, mode, cpu, mem)
		if p == noFargateSize {
			return nil, withHint(ClientException.Errorf("%s", p), "%d CPU, %d memory: %s", cpu, mem, fargateMemoryChoices(cpu))
		}
		if p != "" {
			return nil, ClientException.Errorf("%s", p)
		}
	}
	if err := checkResources(td, cpu, mem); err != nil {
		return nil, err
	}
	td.Compatibilities = compatibilities(td, mode, cpu, mem)
	td.RequiresAttributes = requiredAttributes(td, mode)
	return td, nil
}

// checkTaskLevel checks the task's volumes, placement constraints, proxy
// configuration and storage.
func checkTaskLevel(td *w.TaskDefinition, mode string) error {
	names := map[string]bool{}
	for i, v := range td.Volumes {
		if !validName(v.Name) {
			return ClientException.Errorf("volumes[%d].name %q is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", i, v.Name)
		}
		if names[v.Name] {
			return ClientException.Errorf("Volume name %q is used more than once; each volume of a task definition needs its own name.", v.Name)
		}
		names[v.Name] = true
		kinds := 0
		for _, set := range []bool{v.Host != nil, v.DockerVolumeConfiguration != nil, v.EfsVolumeConfiguration != nil, v.FsxWindowsFileServerVolumeConfiguration != nil, v.S3filesVolumeConfiguration != nil} {
			if set {
				kinds++
			}
		}
		if kinds > 1 {
			return ClientException.Errorf("Volume %q has more than one volume type; give only one of host, dockerVolumeConfiguration, efsVolumeConfiguration, fsxWindowsFileServerVolumeConfiguration and s3filesVolumeConfiguration.", v.Name)
		}
	}
	if len(td.PlacementConstraints) > 10 {
		return ClientException.Errorf("A task definition can have at most 10 placement constraints; %d were given.", len(td.PlacementConstraints))
	}
	for i, pc := range td.PlacementConstraints {
		if pc.Type != "" && pc.Type != "memberOf" || strings.TrimSpace(pc.Expression) == "" {
			return ClientException.Errorf("placementConstraints[%d] must be of type memberOf with an expression in the cluster query language.", i)
		}
		if _, err := placement.ParseConstraint(placement.MemberOf, pc.Expression); err != nil {
			return ClientException.Errorf("placementConstraints[%d]: %v.", i, err)
		}
	}
	if td.ProxyConfiguration != nil && !slices.ContainsFunc(td.ContainerDefinitions, func(c w.ContainerDefinition) bool { return c.Name == td.ProxyConfiguration.ContainerName }) {
		return ClientException.Errorf("proxyConfiguration.containerName %q is not a container of this task definition.", td.ProxyConfiguration.ContainerName)
	}
	if td.ProxyConfiguration != nil && mode != modeAwsvpc {
		return ClientException.Errorf("A proxyConfiguration requires networkMode awsvpc, not %s.", mode)
	}
	if es := td.EphemeralStorage; es != nil && (es.SizeInGiB < 21 || es.SizeInGiB > 200) {
		return ClientException.Errorf("ephemeralStorage.sizeInGiB must be between 21 and 200 GiB, got %d.", es.SizeInGiB)
	}
	return nil
}

// checkContainers checks each container and the references between them;
// it fills in the defaults ECS fills in.
func checkContainers(td *w.TaskDefinition, mode string) error {
	cs := td.ContainerDefinitions
	if len(cs) == 0 {
		return withHint(ClientException.Errorf("Container list cannot be empty."), "a task definition needs 1 to %d containerDefinitions", maxContainers)
	}
	if len(cs) > maxContainers {
		return ClientException.Errorf("A task definition can have at most %d containers; %d were given.", maxContainers, len(cs))
	}
	byName := map[string]*w.ContainerDefinition{}
	for i := range cs {
		c := &cs[i]
		if c.Name == "" {
			return withHint(ClientException.Errorf("Container.name should not be null or empty."), "containerDefinitions[%d] has no name", i)
		}
		if !validName(c.Name) {
			return ClientException.Errorf("Container name %q is not valid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", c.Name)
		}
		if byName[c.Name] != nil {
			return ClientException.Errorf("Container name %q is used more than once; container names must be unique within a task definition.", c.Name)
		}
		byName[c.Name] = c
	}
	volumes := map[string]bool{}
	for _, v := range td.Volumes {
		volumes[v.Name] = true
	}
	essential := 0
	hostPorts := map[string]string{} // "port/protocol" -> container
	portNames := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		if err := checkContainer(c, mode, byName, volumes); err != nil {
			return err
		}
		if c.Essential == nil {
			c.Essential = new(true)
		}
		if *c.Essential {
			essential++
		}
		for j := range c.PortMappings {
			pm := &c.PortMappings[j]
			if err := checkPortMapping(c.Name, j, pm, mode); err != nil {
				return err
			}
			if pm.Name != "" {
				if portNames[pm.Name] {
					return ClientException.Errorf("Port mapping name %q is used more than once; port mapping names must be unique within a task definition.", pm.Name)
				}
				portNames[pm.Name] = true
			}
			if pm.HostPort != nil && *pm.HostPort != 0 {
				k := fmt.Sprintf("%d/%s", *pm.HostPort, pm.Protocol)
				if other, dup := hostPorts[k]; dup {
					return ClientException.Errorf("Host port %d/%s is mapped twice (containers %q and %q); each host port can be used by one port mapping of the task.", *pm.HostPort, pm.Protocol, other, c.Name)
				}
				hostPorts[k] = c.Name
			}
		}
	}
	if essential == 0 {
		return withHint(ClientException.Errorf("Task definition doesn't have any essential container."), "mark one container essential (the default when essential is omitted)")
	}
	return checkDependencyCycles(cs)
}

func checkContainer(c *w.ContainerDefinition, mode string, byName map[string]*w.ContainerDefinition, volumes map[string]bool) error {
	bad := func(format string, args ...any) error {
		return ClientException.Errorf("Invalid setting for container '%s': %s", c.Name, fmt.Sprintf(format, args...))
	}
	if c.Image == "" {
		return withHint(ClientException.Errorf("Container.image should not be null or empty."), "container '%s' has no image", c.Name)
	}
	if strings.ContainsFunc(c.Image, func(r rune) bool { return r <= ' ' || r == 0x7f }) || len(c.Image) > 1024 {
		return bad("image %q is not a valid image reference (no spaces or control characters).", c.Image)
	}
	if c.Cpu < 0 {
		return bad("cpu must not be negative.")
	}
	if c.Memory != nil && *c.Memory < 4 {
		return bad("memory must be at least 4 MiB, got %d.", *c.Memory)
	}
	if c.MemoryReservation != nil && *c.MemoryReservation < 1 {
		return bad("memoryReservation must be positive, got %d.", *c.MemoryReservation)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.Memory <= *c.MemoryReservation {
		return bad("memory (%d MiB) must be greater than memoryReservation (%d MiB).", *c.Memory, *c.MemoryReservation)
	}
	for _, t := range []struct {
		name string
		v    *int32
	}{{"startTimeout", c.StartTimeout}, {"stopTimeout", c.StopTimeout}} {
		if t.v != nil && *t.v < 0 {
			return bad("%s must not be negative.", t.name)
		}
	}
	if mode == modeNone && len(c.PortMappings) > 0 {
		return bad("portMappings are not allowed when networkMode=none.")
	}
	if mode == modeAwsvpc && c.Hostname != "" {
		return bad("hostname is not supported when networkMode=awsvpc; each task gets its own network interface, remove hostname.")
	}
	if mode == modeAwsvpc && len(c.ExtraHosts) > 0 {
		return bad("extraHosts is not supported when networkMode=awsvpc.")
	}
	if len(c.Links) > 0 && mode != modeBridge {
		return bad("links are only supported when networkMode=bridge, not %s (with awsvpc or host, the containers of a task reach each other on localhost).", mode)
	}
	for _, l := range c.Links {
		target, _, _ := strings.Cut(l, ":")
		if target == c.Name || byName[target] == nil {
			return bad("link %q must name another container of this task definition.", l)
		}
	}
	for _, vf := range c.VolumesFrom {
		if vf.SourceContainer == c.Name || byName[vf.SourceContainer] == nil {
			return bad("volumesFrom sourceContainer %q must name another container of this task definition.", vf.SourceContainer)
		}
	}
	for _, mp := range c.MountPoints {
		if mp.SourceVolume == "" || mp.ContainerPath == "" {
			return bad("each mountPoint needs a sourceVolume and a containerPath.")
		}
		if !volumes[mp.SourceVolume] {
			return bad("mountPoint sourceVolume %q is not declared in the task definition's volumes; add a volume of that name.", mp.SourceVolume)
		}
	}
	for _, d := range c.DependsOn {
		t := byName[d.ContainerName]
		switch {
		case d.ContainerName == c.Name:
			return bad("a container cannot depend on itself (dependsOn %s).", d.ContainerName)
		case t == nil:
			return bad("dependsOn containerName %q is not a container of this task definition.", d.ContainerName)
		case d.Condition == "HEALTHY" && t.HealthCheck == nil:
			return bad("dependsOn %s with condition HEALTHY needs container '%s' to have a healthCheck.", d.ContainerName, d.ContainerName)
		case (d.Condition == "COMPLETE" || d.Condition == "SUCCESS") && (t.Essential == nil || *t.Essential):
			return withHint(ClientException.Errorf("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"),
				"container '%s' depends on %s with condition %s: make '%s' non-essential (essential: false), since it is expected to exit", c.Name, d.ContainerName, d.Condition, d.ContainerName)
		}
	}
	if hc := c.HealthCheck; hc != nil {
		if p := checkHealthCheck(hc); p != "" {
			return bad("%s", p)
		}
	}
	ulimits := map[string]bool{}
	for _, u := range c.Ulimits {
		if ulimits[u.Name] {
			return bad("ulimit %s is given more than once.", u.Name)
		}
		ulimits[u.Name] = true
		if u.SoftLimit > u.HardLimit {
			return bad("ulimit %s has softLimit %d above hardLimit %d.", u.Name, u.SoftLimit, u.HardLimit)
		}
	}
	for _, e := range c.Environment {
		if e.Name == "" {
			return bad("every environment variable needs a name.")
		}
	}
	for _, sc := range c.SystemControls {
		if sc.Namespace == "" {
			return bad("every systemControl needs a namespace, e.g. net.ipv4.tcp_keepalive_time.")
		}
	}
	for _, rr := range c.ResourceRequirements {
		if rr.Type == "GPU" {
			if n, err := strconv.Atoi(rr.Value); err != nil || n < 1 {
				return bad("resourceRequirements GPU value must be a positive number of GPUs, got %q.", rr.Value)
			}
		}
	}
	if lp := c.LinuxParameters; lp != nil {
		if lp.Swappiness != nil && (*lp.Swappiness < 0 || *lp.Swappiness > 100) {
			return bad("linuxParameters.swappiness must be between 0 and 100, got %d.", *lp.Swappiness)
		}
		if lp.MaxSwap != nil && *lp.MaxSwap < 0 {
			return bad("linuxParameters.maxSwap must not be negative.")
		}
		if lp.SharedMemorySize != nil && *lp.SharedMemorySize < 1 {
			return bad("linuxParameters.sharedMemorySize must be positive (MiB).")
		}
		for _, t := range lp.Tmpfs {
			if t.Size < 1 {
				return bad("tmpfs at %s needs a positive size (MiB).", t.ContainerPath)
			}
		}
	}
	if rp := c.RestartPolicy; rp != nil {
		if rp.RestartAttemptPeriod != nil && (*rp.RestartAttemptPeriod < 60 || *rp.RestartAttemptPeriod > 1800) {
			return bad("restartPolicy.restartAttemptPeriod must be between 60 and 1800 seconds, got %d.", *rp.RestartAttemptPeriod)
		}
		if len(rp.IgnoredExitCodes) > 50 {
			return bad("restartPolicy.ignoredExitCodes can list at most 50 exit codes.")
		}
	}
	return nil
}

// checkHealthCheck checks a container health check and fills in ECS's
// default interval, timeout and retries. It returns the problem, or "".
func checkHealthCheck(hc *w.HealthCheck) string {
	if len(hc.Command) == 0 {
		return "healthCheck.command is required: [\"CMD\", \"executable\", \"arg\"...], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]."
	}
	if k := hc.Command[0]; k != "CMD" && k != "CMD-SHELL" && k != "NONE" {
		return fmt.Sprintf("healthCheck.command must start with CMD, CMD-SHELL or NONE, not %q; e.g. [\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"].", k)
	}
	if hc.Command[0] != "NONE" && len(hc.Command) < 2 {
		return fmt.Sprintf("healthCheck.command %v has no command after %s.", hc.Command, hc.Command[0])
	}
	for _, r := range []struct {
		name     string
		v        **int32
		min, max int32
		def      int32
	}{
		{"interval", &hc.Interval, 5, 300, defaultHealthInterval},
		{"timeout", &hc.Timeout, 2, 120, defaultHealthTimeout},
		{"retries", &hc.Retries, 1, 10, defaultHealthRetries},
		{"startPeriod", &hc.StartPeriod, 0, 300, -1},
	} {
		if *r.v == nil {
			if r.def >= 0 {
				*r.v = new(r.def)
			}
			continue
		}
		if n := **r.v; n < r.min || n > r.max {
			return fmt.Sprintf("healthCheck.%s must be between %d and %d, got %d.", r.name, r.min, r.max, n)
		}
	}
	return ""
}

// checkPortMapping checks one port mapping and fills in the defaults ECS
// fills in: protocol tcp, and with awsvpc or host the host port equal to the
// container port.
func checkPortMapping(container string, j int, pm *w.PortMapping, mode string) error {
	bad := func(format string, args ...any) error {
		return ClientException.Errorf("Invalid port mapping %d of container '%s': %s", j, container, fmt.Sprintf(format, args...))
	}
	if pm.Protocol == "" {
		pm.Protocol = "tcp"
	}
	if pm.ContainerPortRange != "" {
		if pm.ContainerPort != nil || pm.HostPort != nil {
			return bad("give either containerPort (with an optional hostPort) or containerPortRange, not both; the host ports of a range are assigned by ECS.")
		}
		lo, hi, ok := strings.Cut(pm.ContainerPortRange, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a >= b {
			return bad("containerPortRange %q must be \"first-last\" with 1 <= first < last <= 65535.", pm.ContainerPortRange)
		}
		if mode != modeAwsvpc && mode != modeBridge {
			return bad("containerPortRange needs networkMode awsvpc or bridge, not %s.", mode)
		}
		return nil
	}
	if pm.ContainerPort == nil {
		return bad("containerPort is required (or give a containerPortRange).")
	}
	cp := *pm.ContainerPort
	if cp < 1 || cp > 65535 {
		return bad("containerPort must be between 1 and 65535, got %d.", cp)
	}
	switch mode {
	case modeAwsvpc, modeHost:
		if pm.HostPort == nil || *pm.HostPort == 0 {
			pm.HostPort = new(cp)
		}
		if *pm.HostPort != cp {
			return ClientException.Errorf("When networkMode=%s, the host ports and container ports in port mappings must match (container '%s': hostPort %d, containerPort %d). Omit hostPort or set it to %d.", mode, container, *pm.HostPort, cp, cp)
		}
	default:
		if pm.HostPort != nil && (*pm.HostPort < 0 || *pm.HostPort > 65535) {
			return bad("hostPort must be between 0 and 65535 (0 or omitted picks a dynamic host port), got %d.", *pm.HostPort)
		}
	}
	return nil
}

// checkDependencyCycles refuses a task whose containers wait on each other
// in a cycle, through dependsOn, links or volumesFrom: none of them could
// start.
func checkDependencyCycles(cs []w.ContainerDefinition) error {
	edges := map[string][]string{}
	for _, c := range cs {
		for _, d := range c.DependsOn {
			edges[c.Name] = append(edges[c.Name], d.ContainerName)
		}
		for _, l := range c.Links {
			t, _, _ := strings.Cut(l, ":")
			edges[c.Name] = append(edges[c.Name], t)
		}
		for _, vf := range c.VolumesFrom {
			edges[c.Name] = append(edges[c.Name], vf.SourceContainer)
		}
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = onPath
		path = append(path, n)
		for _, m := range edges[n] {
			switch state[m] {
			case onPath:
				i := slices.Index(path, m)
				return append(slices.Clone(path[i:]), m)
			case unseen:
				if cyc := visit(m); cyc != nil {
					return cyc
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, c := range cs {
		if state[c.Name] == unseen {
			if cyc := visit(c.Name); cyc != nil {
				return ClientException.Errorf("Container dependencies form a cycle: %s. Remove one of the dependsOn, links or volumesFrom entries of that cycle.", strings.Join(cyc, " -> "))
			}
		}
	}
	return nil
}

// checkResources checks container cpu and memory against the task's: without
// task memory every container needs memory or memoryReservation; with it, no
// container may exceed it and the reservations must fit.
func checkResources(td *w.TaskDefinition, cpu, mem int) error {
	sumCPU, sumMem := 0, 0
	for _, c := range td.ContainerDefinitions {
		sumCPU += int(c.Cpu)
		switch {
		case c.MemoryReservation != nil:
			sumMem += int(*c.MemoryReservation)
		case c.Memory != nil:
			sumMem += int(*c.Memory)
		case mem == 0:
			return withHint(ClientException.Errorf("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name), "or set the task-level memory")
		}
		if mem > 0 && c.Memory != nil && int(*c.Memory) > mem {
			return ClientException.Errorf("Invalid setting for container '%s': memory %d MiB exceeds the task memory of %d MiB.", c.Name, *c.Memory, mem)
		}
	}
	if mem > 0 && sumMem > mem {
		return ClientException.Errorf("The containers reserve %d MiB of memory in all, more than the task memory of %d MiB; lower their memoryReservation or memory, or raise the task memory.", sumMem, mem)
	}
	if cpu > 0 && sumCPU > cpu {
		return ClientException.Errorf("The containers reserve %d CPU units in all, more than the task cpu of %d; lower their cpu or raise the task cpu.", sumCPU, cpu)
	}
	return nil
}

// compatibilityProblem says why the definition cannot run with a launch
// type, or returns "".
func compatibilityProblem(launch string, td *w.TaskDefinition, mode string, cpu, mem int) string {
	switch launch {
	case compatFargate:
		return fargateProblem(td, mode, cpu, mem)
	case compatExternal:
		if mode == modeAwsvpc {
			return "Task definitions for EXTERNAL (ECS Anywhere) do not support networkMode awsvpc; use bridge, host or none."
		}
		for _, v := range td.Volumes {
			if v.EfsVolumeConfiguration != nil || v.FsxWindowsFileServerVolumeConfiguration != nil {
				return fmt.Sprintf("Task definitions for EXTERNAL (ECS Anywhere) do not support EFS or FSx volumes (volume %q).", v.Name)
			}
		}
		if len(td.InferenceAccelerators) > 0 {
			return "Task definitions for EXTERNAL (ECS Anywhere) do not support inferenceAccelerators."
		}
	}
	return ""
}

// fargateLogDrivers are the log drivers Fargate supports.
var fargateLogDrivers = []string{"awslogs", "splunk", "awsfirelens"}

// maxTaskDefinitionBytes is the largest task definition ECS registers: its
// JSON, tags left out, is at most 64 KiB.
const maxTaskDefinitionBytes = 64 << 10

// checkTaskDefinitionSize refuses a task definition larger than ECS allows,
// with ECS's answer.
func checkTaskDefinitionSize(in *w.RegisterTaskDefinitionRequest) error {
	def := *in
	def.Tags = nil
	b, err := json.Marshal(&def)
	if err != nil {
		return err
	}
	if len(b) > maxTaskDefinitionBytes {
		return withHint(ClientException.Errorf("Actual length: '%d'. Max allowed length is '%d' bytes.", len(b), maxTaskDefinitionBytes),
			"move large values (environment, command) out of the task definition: into environmentFiles, secrets or the image")
	}
	return nil
}

// noFargateSize is ECS's answer to a task size Fargate does not offer.
const noFargateSize = "No Fargate configuration exists for given values."

// errInvalidTaskSetting is ECS's answer to a task-level cpu or memory it
// cannot read or allow.
func errInvalidTaskSetting(field string) *awsapi.Error {
	return ClientException.Errorf("Invalid '%s' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", field)
}

// fargateProblem says why a definition cannot run on Fargate, or returns "".
func fargateProblem(td *w.TaskDefinition, mode string, cpu, mem int) string {
	switch {
	case mode != modeAwsvpc:
		return "Fargate only supports network mode 'awsvpc'."
	case cpu == 0:
		return "Fargate requires that 'cpu' be defined at the task level."
	case mem == 0:
		return "Fargate requires that 'memory' be defined at the task level."
	case !fargateSize(cpu, mem):
		return noFargateSize
	case td.IpcMode != "":
		return "Fargate does not support ipcMode; remove it."
	case td.PidMode == "host":
		return "Fargate supports only pidMode task, not host."
	case len(td.InferenceAccelerators) > 0:
		return "Fargate does not support inferenceAccelerators."
	case len(td.PlacementConstraints) > 0:
		return "Fargate does not support task placement constraints; remove placementConstraints."
	case td.RuntimePlatform != nil && strings.HasPrefix(td.RuntimePlatform.OperatingSystemFamily, "WINDOWS") && cpu < 1024:
		return "Windows containers on Fargate need at least 1 vCPU (cpu 1024)."
	}
	for _, v := range td.Volumes {
		if v.Host != nil && v.Host.SourcePath != "" {
			return fmt.Sprintf("Fargate does not support host volumes with a sourcePath (volume %q); omit sourcePath for a task-scoped volume.", v.Name)
		}
		if v.DockerVolumeConfiguration != nil {
			return fmt.Sprintf("Fargate does not support dockerVolumeConfiguration (volume %q).", v.Name)
		}
	}
	for _, c := range td.ContainerDefinitions {
		switch {
		case c.Privileged != nil && *c.Privileged:
			return fmt.Sprintf("Fargate does not support privileged containers (container '%s').", c.Name)
		case len(c.Links) > 0:
			return fmt.Sprintf("Fargate does not support links (container '%s').", c.Name)
		case len(c.DockerSecurityOptions) > 0:
			return fmt.Sprintf("Fargate does not support dockerSecurityOptions (container '%s').", c.Name)
		case c.LogConfiguration != nil && !slices.Contains(fargateLogDrivers, c.LogConfiguration.LogDriver):
			return fmt.Sprintf("Fargate supports only the awslogs, splunk and awsfirelens log drivers; container '%s' uses %s.", c.Name, c.LogConfiguration.LogDriver)
		case slices.ContainsFunc(c.ResourceRequirements, func(r w.ResourceRequirement) bool { return r.Type == "GPU" }):
			return fmt.Sprintf("Fargate does not support GPUs (container '%s').", c.Name)
		}
		if lp := c.LinuxParameters; lp != nil {
			switch {
			case len(lp.Devices) > 0, lp.SharedMemorySize != nil, len(lp.Tmpfs) > 0, lp.MaxSwap != nil, lp.Swappiness != nil:
				return fmt.Sprintf("Fargate does not support linuxParameters devices, sharedMemorySize, tmpfs, maxSwap or swappiness (container '%s').", c.Name)
			case lp.Capabilities != nil && slices.ContainsFunc(lp.Capabilities.Add, func(s string) bool { return s != "SYS_PTRACE" }):
				return fmt.Sprintf("Fargate can add only the SYS_PTRACE capability (container '%s').", c.Name)
			}
		}
	}
	return ""
}

// compatibilities are the launch types the definition can run with, as ECS
// reports them: EC2 always; EXTERNAL when it does not use awsvpc (ECS
// Anywhere's limits); FARGATE when it is Fargate-compatible; and
// MANAGED_INSTANCES when requested.
func compatibilities(td *w.TaskDefinition, mode string, cpu, mem int) []string {
	var out []string
	if compatibilityProblem(compatExternal, td, mode, cpu, mem) == "" {
		out = append(out, compatExternal)
	}
	out = append(out, compatEC2)
	if fargateProblem(td, mode, cpu, mem) == "" {
		out = append(out, compatFargate)
	}
	if slices.Contains(td.RequiresCompatibilities, compatManagedInstances) {
		out = append(out, compatManagedInstances)
	}
	return out
}

// requiredAttributes derives the container-instance attributes a task of
// this definition needs, a documented subset of what ECS derives:
//
//   - com.amazonaws.ecs.capability.docker-remote-api.1.18: networkMode,
//     dockerLabels, ulimits or a log configuration; 1.19 for awslogs; 1.21
//     for memoryReservation; 1.24 for health checks; 1.25 for Docker volumes
//     and initProcessEnabled
//   - com.amazonaws.ecs.capability.logging-driver.<driver> per log driver
//   - com.amazonaws.ecs.capability.task-iam-role for taskRoleArn
//   - com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager
//     for repositoryCredentials
//   - ecs.capability.task-eni for awsvpc
//   - ecs.capability.container-health-check for health checks
//   - ecs.capability.container-ordering for dependsOn
//   - ecs.capability.execution-role-awslogs for awslogs with an execution role
//   - ecs.capability.secrets.ssm.environment-variables and
//     ecs.capability.secrets.asm.environment-variables for secrets
//   - ecs.capability.firelens.<type> for FireLens containers
//
// They come back sorted by name.
func requiredAttributes(td *w.TaskDefinition, mode string) []w.Attribute {
	const docker = "com.amazonaws.ecs.capability.docker-remote-api."
	set := map[string]bool{}
	if td.NetworkMode != "" {
		set[docker+"1.18"] = true
	}
	if mode == modeAwsvpc {
		set["ecs.capability.task-eni"] = true
	}
	if td.TaskRoleArn != "" {
		set["com.amazonaws.ecs.capability.task-iam-role"] = true
	}
	for _, v := range td.Volumes {
		if v.DockerVolumeConfiguration != nil {
			set[docker+"1.25"] = true
		}
	}
	for _, c := range td.ContainerDefinitions {
		if len(c.DockerLabels) > 0 || len(c.Ulimits) > 0 {
			set[docker+"1.18"] = true
		}
		if c.MemoryReservation != nil {
			set[docker+"1.21"] = true
		}
		if c.HealthCheck != nil {
			set[docker+"1.24"] = true
			set["ecs.capability.container-health-check"] = true
		}
		if c.LinuxParameters != nil && c.LinuxParameters.InitProcessEnabled != nil && *c.LinuxParameters.InitProcessEnabled {
			set[docker+"1.25"] = true
		}
		if len(c.DependsOn) > 0 {
			set["ecs.capability.container-ordering"] = true
		}
		if c.Privileged != nil && *c.Privileged {
			set["com.amazonaws.ecs.capability.privileged-container"] = true
		}
		if lc := c.LogConfiguration; lc != nil {
			set[docker+"1.18"] = true
			set["com.amazonaws.ecs.capability.logging-driver."+lc.LogDriver] = true
			if lc.LogDriver == "awslogs" {
				set[docker+"1.19"] = true
				if td.ExecutionRoleArn != "" {
					set["ecs.capability.execution-role-awslogs"] = true
				}
			}
		}
		if c.RepositoryCredentials != nil {
			set["com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager"] = true
		}
		for _, s := range c.Secrets {
			if strings.Contains(s.ValueFrom, ":secretsmanager:") {
				set["ecs.capability.secrets.asm.environment-variables"] = true
			} else {
				set["ecs.capability.secrets.ssm.environment-variables"] = true
			}
		}
		if c.FirelensConfiguration != nil {
			set["ecs.capability.firelens."+c.FirelensConfiguration.Type] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]w.Attribute, len(names))
	for i, n := range names {
		out[i] = w.Attribute{Name: n}
	}
	return out
}
