// Package dockerrt is the Docker implementation of rt.Runtime: the Docker
// Engine API client (with API version negotiation, so a 20.10 daemon
// speaking 1.41 works), translating each rt.ContainerSpec into a container
// config and host config, and reading container state, published ports and
// health back.
package dockerrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/rt"
)

// Runtime talks to one Docker daemon.
type Runtime struct {
	cli *client.Client
	log *slog.Logger
}

var _ rt.Runtime = (*Runtime)(nil)

// New connects to the Docker daemon at host ("" for DOCKER_HOST or the
// default unix socket) and checks that it answers.
func New(ctx context.Context, host string, log *slog.Logger) (*Runtime, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker daemon at %s is not reachable: %w", cli.DaemonHost(), err)
	}
	cli.NegotiateAPIVersion(pctx)
	return &Runtime{cli: cli, log: log}, nil
}

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Info describes the daemon and the host.
func (r *Runtime) Info(ctx context.Context) (rt.Info, error) {
	v, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return rt.Info{}, fmt.Errorf("docker version: %w", err)
	}
	info, err := r.cli.Info(ctx)
	if err != nil {
		return rt.Info{}, fmt.Errorf("docker info: %w", err)
	}
	out := rt.Info{
		Name:         "docker",
		Version:      v.Version,
		APIVersion:   r.cli.ClientVersion(),
		CPUs:         info.NCPU,
		MemoryMiB:    info.MemTotal / (1 << 20),
		Architecture: ecsArch(info.Architecture),
		LogDrivers:   slices.Clone(info.Plugins.Log),
	}
	if nw, err := r.cli.NetworkInspect(ctx, "bridge", network.InspectOptions{}); err == nil {
		out.BridgeGateway = bridgeGateway(nw)
	}
	return out, nil
}

// ecsArch names an architecture as ECS's ecs.cpu-architecture does.
func ecsArch(a string) string {
	switch a {
	case "x86_64", "amd64":
		return "x86_64"
	case "aarch64", "arm64":
		return "arm64"
	case "":
		if goruntime.GOARCH == "arm64" {
			return "arm64"
		}
		return "x86_64"
	}
	return a
}

// bridgeGateway is the default bridge's gateway: the one IPAM names, else
// the first address of its subnet (what Docker gives docker0).
func bridgeGateway(nw network.Inspect) string {
	for _, c := range nw.IPAM.Config {
		if c.Gateway != "" {
			return c.Gateway
		}
		_, n, err := net.ParseCIDR(c.Subnet)
		if err != nil || n.IP.To4() == nil {
			continue
		}
		ip := n.IP.To4()
		ip[3]++
		return ip.String()
	}
	return ""
}

// EnsureImage makes an image available following policy, pulling with the
// credentials creds gives (nil: anonymous).
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy rt.PullPolicy, creds rt.Credentials) (rt.ImageResult, error) {
	local, lerr := r.cli.ImageInspect(ctx, ref)
	present := lerr == nil
	if lerr != nil && !cerrdefs.IsNotFound(lerr) {
		return rt.ImageResult{}, fmt.Errorf("inspect image %s: %w", ref, lerr)
	}
	if present && (policy == rt.PullOnce || policy == rt.PullPreferCached) {
		return rt.ImageResult{Digest: repoDigest(ref, local.RepoDigests)}, nil
	}
	perr := r.pullWith(ctx, ref, creds)
	if perr == nil {
		img, err := r.cli.ImageInspect(ctx, ref)
		if err != nil {
			return rt.ImageResult{Pulled: true}, fmt.Errorf("inspect pulled image %s: %w", ref, err)
		}
		return rt.ImageResult{Pulled: true, Digest: repoDigest(ref, img.RepoDigests)}, nil
	}
	if present && policy == rt.PullDefault {
		r.log.Warn("image pull failed, using the cached image", "image", ref, "err", perr)
		return rt.ImageResult{Pulled: true, Digest: repoDigest(ref, local.RepoDigests)}, nil
	}
	if !present {
		return rt.ImageResult{Pulled: true}, fmt.Errorf("%w: %s: %v", rt.ErrImageNotFound, ref, perr)
	}
	return rt.ImageResult{Pulled: true}, perr
}

// pullWith pulls ref with the credentials creds gives for it; when the
// registry refuses them, it asks for new ones and pulls once more.
func (r *Runtime) pullWith(ctx context.Context, ref string, creds rt.Credentials) error {
	if creds == nil {
		return r.pull(ctx, ref, nil)
	}
	auth, err := creds.RegistryAuth(ctx, ref, false)
	if err != nil {
		return fmt.Errorf("pull %s: registry credentials: %w", ref, err)
	}
	err = r.pull(ctx, ref, auth)
	if err == nil || auth == nil || !authFailure(err) {
		return err
	}
	r.log.Info("the registry refused the credentials; pulling again with new ones", "image", ref, "err", err)
	auth, aerr := creds.RegistryAuth(ctx, ref, true)
	if aerr != nil {
		return fmt.Errorf("%w (new registry credentials: %v)", err, aerr)
	}
	return r.pull(ctx, ref, auth)
}

// pull pulls ref presenting auth (nil: none) and drains the progress
// stream (errors come in-band).
func (r *Runtime) pull(ctx context.Context, ref string, auth *rt.RegistryAuth) error {
	var opts image.PullOptions
	if auth != nil {
		enc, err := registry.EncodeAuthConfig(registry.AuthConfig{
			Username: auth.Username, Password: auth.Password, ServerAddress: auth.ServerAddress,
		})
		if err != nil {
			return fmt.Errorf("pull %s: encode credentials: %w", ref, err)
		}
		opts.RegistryAuth = enc
	}
	rc, err := r.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("pull %s: read progress: %w", ref, err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("pull %s: %s", ref, m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return fmt.Errorf("pull %s: %s", ref, m.Error)
		}
	}
}

// authFailure says whether a pull failed because the registry refused
// (or asked for) credentials, as opposed to a missing image or a network
// failure.
func authFailure(err error) bool {
	if cerrdefs.IsUnauthorized(err) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"unauthorized", "no basic auth credentials", "authentication required"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// repoDigest is the digest of the image ref names: ref's own digest, else
// the repo digest of ref's repository, else the first repo digest.
func repoDigest(ref string, ds []string) string {
	if _, dig, ok := strings.Cut(ref, "@"); ok {
		return dig
	}
	name := ref
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	first := ""
	for _, d := range ds {
		n, dig, ok := strings.Cut(d, "@")
		if !ok {
			continue
		}
		if n == name {
			return dig
		}
		if first == "" {
			first = dig
		}
	}
	return first
}

// CreateVolume creates a volume unless it exists.
func (r *Runtime) CreateVolume(ctx context.Context, v rt.VolumeSpec) error {
	if ok, err := r.VolumeExists(ctx, v.Name); err != nil || ok {
		return err
	}
	_, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: v.Labels})
	if err != nil {
		return fmt.Errorf("create volume %s: %w", v.Name, err)
	}
	return nil
}

// VolumeExists says whether a volume exists.
func (r *Runtime) VolumeExists(ctx context.Context, name string) (bool, error) {
	_, err := r.cli.VolumeInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect volume %s: %w", name, err)
	}
	return true, nil
}

// RemoveVolume removes a volume; a missing one is not an error.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	err := r.cli.VolumeRemove(ctx, name, true)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// Create creates a container from spec.
func (r *Runtime) Create(ctx context.Context, spec *rt.ContainerSpec) (string, error) {
	cfg, hc, err := translate(spec)
	if err != nil {
		return "", err
	}
	resp, err := r.cli.ContainerCreate(ctx, cfg, hc, nil, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	for _, w := range resp.Warnings {
		r.log.Warn("docker create warning", "container", spec.Name, "warning", w)
	}
	return resp.ID, nil
}

// Start starts a container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", short(id), err)
	}
	return nil
}

// Stop stops a container: SIGTERM, then SIGKILL after timeout. (Docker API
// 1.41 ignores a per-call stop signal, so the signal is always the image's
// STOPSIGNAL, SIGTERM by default.)
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout.Round(time.Second) / time.Second)
	err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", short(id), err)
	}
	return nil
}

// Inspect returns a container's state.
func (r *Runtime) Inspect(ctx context.Context, id string) (rt.ContainerState, error) {
	c, err := r.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return rt.ContainerState{}, fmt.Errorf("%w: %s", rt.ErrNotFound, short(id))
	}
	if err != nil {
		return rt.ContainerState{}, fmt.Errorf("inspect container %s: %w", short(id), err)
	}
	return stateOf(c), nil
}

// Remove removes a container and its anonymous volumes.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", short(id), err)
	}
	return nil
}

// List returns the containers carrying all of labels.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]rt.ContainerState, error) {
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []rt.ContainerState
	for _, c := range list {
		st, err := r.Inspect(ctx, c.ID)
		if errors.Is(err, rt.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Events streams the events of containers carrying label.
func (r *Runtime) Events(ctx context.Context, label string) <-chan rt.Event {
	out := make(chan rt.Event, 64)
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", label))
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: f})
	go func() {
		defer close(out)
		for {
			select {
			case m := <-msgs:
				ev := rt.Event{ContainerID: m.Actor.ID, Action: string(m.Action), Labels: m.Actor.Attributes}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					r.log.Warn("docker event stream broke", "err", err)
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// short abbreviates a container id for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
