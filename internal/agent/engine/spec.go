package engine

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// MetadataEnv are the variables a container finds the task metadata
// endpoint in.
const (
	MetadataEnvV4 = "ECS_CONTAINER_METADATA_URI_V4"
	MetadataEnvV3 = "ECS_CONTAINER_METADATA_URI"
	// AgentURIEnv names the agent API's URI in a container's environment.
	AgentURIEnv = "ECS_AGENT_URI"
)

// netMode is a task's network mode, bridge by default as on EC2 Linux.
func netMode(def *ecswire.TaskDefinition) string {
	if def.NetworkMode == "" {
		return "bridge"
	}
	return def.NetworkMode
}

// labels are the labels of a task's containers and volumes.
func (tm *taskManager) labels(container string) map[string]string {
	a := &tm.t.Assignment
	l := map[string]string{
		agentproto.LabelTaskArn:     a.TaskArn,
		agentproto.LabelCluster:     a.ClusterArn,
		agentproto.LabelFamily:      a.Definition.Family,
		agentproto.LabelRevision:    strconv.Itoa(int(a.Definition.Revision)),
		agentproto.LabelInstanceArn: tm.e.cfg.InstanceArn,
	}
	if container != "" {
		l[agentproto.LabelContainerName] = container
	}
	return l
}

// spec builds the runtime spec of container c.
func (tm *taskManager) spec(c *Container, d *ecswire.ContainerDefinition) (*rt.ContainerSpec, error) {
	t := tm.t
	def := &t.Assignment.Definition
	labels := maps.Clone(d.DockerLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, tm.labels(c.Name))
	s := &rt.ContainerSpec{
		Name:        c.RuntimeName,
		Labels:      labels,
		Def:         *d,
		NetworkMode: netMode(def),
		HostIP:      tm.e.cfg.HostIP,
	}
	if d.Memory == nil {
		s.MemoryMiB = taskMemoryMiB(def)
	}
	first := t.Containers[0]
	switch def.PidMode {
	case "host":
		s.PidMode = "host"
	case "task":
		if first != c {
			s.PidMode = "container:" + first.RuntimeID
		}
	}
	switch def.IpcMode {
	case "host", "none":
		s.IpcMode = def.IpcMode
	case "task":
		if first == c {
			s.IpcMode = "shareable"
		} else {
			s.IpcMode = "container:" + first.RuntimeID
		}
	}
	for _, mp := range d.MountPoints {
		typ, src, err := tm.volumeSource(mp.SourceVolume)
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, rt.Mount{Type: typ, Source: src, Target: mp.ContainerPath, ReadOnly: mp.ReadOnly != nil && *mp.ReadOnly})
	}
	for _, vf := range d.VolumesFrom {
		x := t.container(vf.SourceContainer)
		if x == nil || x.RuntimeID == "" {
			return nil, fmt.Errorf("volumesFrom %s: no such container in the task", vf.SourceContainer)
		}
		v := x.RuntimeID
		if vf.ReadOnly != nil && *vf.ReadOnly {
			v += ":ro"
		}
		s.VolumesFrom = append(s.VolumesFrom, v)
	}
	for _, l := range d.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		x := t.container(name)
		if x == nil || x.RuntimeName == "" {
			return nil, fmt.Errorf("links %s: no such container in the task", name)
		}
		s.Links = append(s.Links, x.RuntimeName+":"+alias)
	}
	if f := tm.e.cfg.MetadataURI; f != nil {
		if uri := f(c.RuntimeName); uri != "" {
			s.ExtraEnv = append(s.ExtraEnv, MetadataEnvV4+"="+uri, MetadataEnvV3+"="+uri)
		}
	}
	if f := tm.e.cfg.AgentURI; f != nil {
		if uri := f(c.RuntimeName); uri != "" {
			s.ExtraEnv = append(s.ExtraEnv, AgentURIEnv+"="+uri)
		}
	}
	return s, nil
}

// volumeSource resolves a task volume to what a mount uses.
func (tm *taskManager) volumeSource(name string) (typ, source string, err error) {
	def := &tm.t.Assignment.Definition
	for _, v := range def.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			return rt.MountBind, v.Host.SourcePath, nil
		case v.DockerVolumeConfiguration != nil && v.DockerVolumeConfiguration.Scope == "shared":
			return rt.MountVolume, v.Name, nil
		default:
			return rt.MountVolume, taskVolumeName(def.Family, def.Revision, v.Name, taskID(tm.t.Assignment.TaskArn)), nil
		}
	}
	return "", "", fmt.Errorf("mountPoints: sourceVolume %s is not a volume of the task definition", name)
}

// volumes creates the task's volumes: task-scoped Docker volumes (created
// here, removed with the task), shared ones (used if they exist, created if
// autoprovision is set). Host bind mounts need nothing.
func (tm *taskManager) volumes(ctx context.Context) error {
	def := &tm.t.Assignment.Definition
	for _, v := range def.Volumes {
		if v.Host != nil && v.Host.SourcePath != "" {
			continue
		}
		dv := v.DockerVolumeConfiguration
		if dv == nil {
			dv = &ecswire.DockerVolumeConfiguration{}
		}
		driver := dv.Driver
		if driver == "" {
			driver = "local"
		}
		if dv.Scope == "shared" {
			ok, err := tm.e.rt.VolumeExists(ctx, v.Name)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
			if dv.Autoprovision == nil || !*dv.Autoprovision {
				return fmt.Errorf("shared volume %s does not exist and autoprovision is false", v.Name)
			}
			if err := tm.e.rt.CreateVolume(ctx, rt.VolumeSpec{Name: v.Name, Driver: driver, DriverOpts: dv.DriverOpts, Labels: dv.Labels}); err != nil {
				return err
			}
			continue
		}
		name := taskVolumeName(def.Family, def.Revision, v.Name, taskID(tm.t.Assignment.TaskArn))
		labels := maps.Clone(dv.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, tm.labels(""))
		if err := tm.e.rt.CreateVolume(ctx, rt.VolumeSpec{Name: name, Driver: driver, DriverOpts: dv.DriverOpts, Labels: labels}); err != nil {
			return err
		}
		if !contains(tm.t.Volumes, name) {
			tm.t.Volumes = append(tm.t.Volumes, name)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// adopt reconciles the task with the containers the runtime has for it (by
// label): after a restart, containers created before the last checkpoint are
// found again instead of created twice, and those that exited while the
// agent was down are recorded STOPPED with their exit code.
func (tm *taskManager) adopt(ctx context.Context) {
	if tm.t.Known == StatusStopped && tm.t.CleanedUp {
		return
	}
	list, err := tm.e.rt.List(ctx, map[string]string{agentproto.LabelTaskArn: tm.t.Assignment.TaskArn})
	if err != nil {
		tm.log.Warn("listing the task's containers failed; continuing from the checkpoint", "err", err)
		return
	}
	for _, c := range tm.t.Containers {
		var found *rt.ContainerState
		for i := range list {
			st := &list[i]
			if st.Labels[agentproto.LabelContainerName] != c.Name {
				continue
			}
			if found == nil || st.ID == c.RuntimeID || st.Name == c.RuntimeName {
				found = st
			}
		}
		if found == nil {
			if c.Known >= StatusCreated && c.Known < StatusStopped {
				tm.vanished(c)
			}
			continue
		}
		if c.RuntimeID != found.ID {
			tm.log.Info("adopting container", "container", c.Name, "id", shortID(found.ID))
			c.RuntimeID, c.RuntimeName = found.ID, found.Name
		}
		if c.Known < StatusCreated {
			c.Known = StatusCreated
		}
		tm.observe(c, *found)
	}
}

// cleanupAt is when a stopped task's containers are removed.
func (tm *taskManager) cleanupAt() time.Time {
	at := tm.now()
	if tm.t.ExecutionStoppedAt != nil {
		at = tm.t.ExecutionStoppedAt.Add(tm.e.cfg.CleanupWait)
	}
	if tm.retryCleanup.After(at) {
		at = tm.retryCleanup
	}
	return at
}

// cleanup removes a stopped task's containers and task-scoped volumes.
func (tm *taskManager) cleanup(ctx context.Context) {
	ok := true
	for _, c := range tm.t.Containers {
		if c.RuntimeID == "" {
			continue
		}
		if err := tm.e.rt.Remove(ctx, c.RuntimeID); err != nil {
			tm.log.Warn("remove container", "container", c.Name, "err", err)
			ok = false
		}
	}
	for _, v := range tm.t.Volumes {
		if err := tm.e.rt.RemoveVolume(ctx, v); err != nil {
			tm.log.Warn("remove volume", "volume", v, "err", err)
			ok = false
		}
	}
	tm.t.CleanedUp = ok
}
