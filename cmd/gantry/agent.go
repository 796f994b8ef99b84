package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/rt"
)

// agentCmd is `gantry agent`: make this host a container instance.
func agentCmd() *cobra.Command {
	cfg := agent.Default()
	var logLevel, accessKey, pullPolicy, reservedPorts string
	var sim simFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Make this host a container instance: register with the control plane and run its tasks on Docker",
		Long: `Make this host a container instance: register with the control plane and run its tasks on Docker.

With --runtime sim, one process runs --instances simulated container instances
(zones --zones round-robin, each --cpu units and --memory MiB): complete agents
whose containers are records in memory, for tests and benchmarks of placement
and services at scale. A simulated container reports RUNNING after
--sim-start-delay; GANTRY_SIM_* variables in its environment make it exit,
fail or turn unhealthy (see internal/agent/simrt).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			cfg.AgentVersion = version
			agent.RaiseFileLimit(log)
			if accessKey != "" {
				id, secret, ok := strings.Cut(accessKey, ":")
				if !ok {
					return fmt.Errorf("--access-key %q must be ID:SECRET", accessKey)
				}
				cfg.AccessKeyID, cfg.SecretAccessKey = id, secret
			}
			cfg.PullPolicy = rt.PullPolicy(pullPolicy)
			if cfg.ReservedPorts, err = parsePorts(reservedPorts); err != nil {
				return err
			}
			if err := sim.apply(cmd.Flags(), &cfg); err != nil {
				return err
			}
			if cfg.RuntimeName == "sim" {
				return agent.RunFleet(cmd.Context(), cfg, sim.instances, sim.zoneList(), sim.options())
			}
			return agent.Run(cmd.Context(), cfg)
		},
	}
	fs := cmd.Flags()
	agentFlags(fs, &cfg, &accessKey, &pullPolicy, &reservedPorts)
	sim.bind(fs)
	fs.StringVar(&logLevel, "log-level", env("GANTRY_LOG_LEVEL", "info"), "debug, info, warn or error ($GANTRY_LOG_LEVEL)")
	return cmd
}

// agentFlags binds the agent's flags; each default comes from the
// environment variable named in its help, then from agent.Default().
func agentFlags(fs *pflag.FlagSet, cfg *agent.Config, accessKey, pullPolicy, reservedPorts *string) {
	fs.StringVar(&cfg.Endpoint, "endpoint", env("GANTRY_ENDPOINT", cfg.Endpoint), "control plane URL ($GANTRY_ENDPOINT)")
	fs.StringVar(&cfg.Cluster, "cluster", env("GANTRY_CLUSTER", cfg.Cluster), "cluster to join ($GANTRY_CLUSTER)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("GANTRY_AGENT_DATA_DIR", cfg.DataDir), "checkpoint directory ($GANTRY_AGENT_DATA_DIR)")
	def := ""
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		def = id + ":" + secret
	}
	fs.StringVar(accessKey, "access-key", def, "access key ID:SECRET to sign requests with ($AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&cfg.Region, "region", env("AWS_REGION", env("AWS_DEFAULT_REGION", cfg.Region)), "region to sign for ($AWS_REGION, $AWS_DEFAULT_REGION)")
	fs.StringVar(&cfg.HostIP, "host-ip", env("GANTRY_HOST_IP", cfg.HostIP), "address published container ports bind to ($GANTRY_HOST_IP)")
	fs.Int64Var(&cfg.MemoryReserveMiB, "memory-reserve", cfg.MemoryReserveMiB, "MiB of host memory not offered to tasks")
	*reservedPorts = env("GANTRY_RESERVED_PORTS", joinPorts(cfg.ReservedPorts))
	fs.StringVar(reservedPorts, "reserved-ports", *reservedPorts, "comma-separated host ports never given to tasks ($GANTRY_RESERVED_PORTS)")
	fs.StringVar(&cfg.AvailabilityZone, "availability-zone", env("GANTRY_AVAILABILITY_ZONE", cfg.AvailabilityZone), "the ecs.availability-zone attribute ($GANTRY_AVAILABILITY_ZONE)")
	fs.StringVar(&cfg.InstanceType, "instance-type", env("GANTRY_INSTANCE_TYPE", cfg.InstanceType), "the ecs.instance-type attribute ($GANTRY_INSTANCE_TYPE)")
	fs.StringArrayVar(&cfg.Attributes, "attribute", nil, "custom attribute name=value, repeatable")
	*pullPolicy = env("GANTRY_PULL_POLICY", string(cfg.PullPolicy))
	fs.StringVar(pullPolicy, "pull-policy", *pullPolicy, "default, always, once or prefer-cached, as ECS_IMAGE_PULL_BEHAVIOR ($GANTRY_PULL_POLICY)")
	fs.StringVar(&cfg.DockerHost, "docker-host", os.Getenv("DOCKER_HOST"), "Docker daemon address ($DOCKER_HOST; default the local unix socket)")
	fs.StringVar(&cfg.RuntimeName, "runtime", cfg.RuntimeName, "container runtime: docker, or sim for simulated instances (--instances)")
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", cfg.StopTimeout, "grace between SIGTERM and SIGKILL for containers without stopTimeout")
	fs.DurationVar(&cfg.CleanupWait, "cleanup-wait", cfg.CleanupWait, "how long a stopped task's containers are kept before removal")
	fs.BoolVar(&cfg.DisablePrivileged, "disable-privileged", envBool("GANTRY_DISABLE_PRIVILEGED"),
		"refuse privileged containers, as ECS_DISABLE_PRIVILEGED: the instance does not advertise the capability, and a privileged task is stopped ($GANTRY_DISABLE_PRIVILEGED)")
	fs.BoolVar(&cfg.DisableDockerSocketMounts, "disable-docker-socket-mounts", envBool("GANTRY_DISABLE_DOCKER_SOCKET_MOUNTS"),
		"stop tasks whose host volumes expose the Docker socket (the socket or a directory holding it) ($GANTRY_DISABLE_DOCKER_SOCKET_MOUNTS)")
}

func parsePorts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("--reserved-ports: %q is not a port", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinPorts(ps []int) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// devAgentConfig is the in-process agent of `gantry dev`: the local server,
// the well-known test key, data in <data-dir>/agent, pull policy
// prefer-cached, stopped containers kept 10 minutes.
func devAgentConfig(endpoint, dataDir string) agent.Config {
	cfg := agent.Default()
	cfg.Endpoint = endpoint
	cfg.DataDir = filepath.Join(dataDir, "agent")
	cfg.AccessKeyID, cfg.SecretAccessKey = "test", "test"
	cfg.AgentVersion = version
	cfg.CleanupWait = 10 * time.Minute
	// A laptop's own images win: a local image is used without asking a
	// registry (the README's tour runs the locally built gantry-test/busybox).
	cfg.PullPolicy = rt.PullPreferCached
	return cfg
}
