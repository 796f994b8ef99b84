package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/dirlock"
	"github.com/gantry-dev/gantry/internal/reconcile"
	"github.com/gantry-dev/gantry/internal/server"
)

// controlPlaneFlags binds the flags `server` and `dev` share. Each flag's
// default comes from the environment variable named in its help, then from
// server.Default().
func controlPlaneFlags(fs *pflag.FlagSet, cfg *server.Config, logLevel *string) {
	fs.StringVar(&cfg.Listen, "listen", env("GANTRY_LISTEN", cfg.Listen), "address of the API and registry listener ($GANTRY_LISTEN)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("GANTRY_DATA_DIR", cfg.DataDir), "data directory: embedded etcd, registry blobs ($GANTRY_DATA_DIR)")
	fs.StringVar(&cfg.AccountID, "account-id", env("GANTRY_ACCOUNT_ID", cfg.AccountID), "AWS account id of every resource ($GANTRY_ACCOUNT_ID)")
	fs.StringArrayVar(&cfg.AccessKeys, "access-key", envList("GANTRY_ACCESS_KEYS"), "accepted access key as ID:SECRET, repeatable ($GANTRY_ACCESS_KEYS, comma-separated)")
	fs.StringVar(&cfg.CredentialsFile, "credentials-file", env("GANTRY_CREDENTIALS_FILE", ""), "file of ID:SECRET lines ($GANTRY_CREDENTIALS_FILE)")
	fs.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", envList("GANTRY_ETCD_ENDPOINTS"), "external etcd endpoints; empty runs an embedded etcd in --data-dir ($GANTRY_ETCD_ENDPOINTS)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", envInt("GANTRY_MAX_CONNECTIONS", cfg.MaxConnections), "client connections held open at most; past it the one idle longest is closed ($GANTRY_MAX_CONNECTIONS)")
	fs.StringVar(&cfg.EtcdPKIDir, "etcd-pki-dir", env("GANTRY_ETCD_PKI_DIR", ""), "certificate authority (ca.crt, ca.key) of the embedded etcd's TLS, shared by a cluster's servers (gantry etcd init-pki); default <data-dir>/etcd-pki ($GANTRY_ETCD_PKI_DIR)")
	fs.DurationVar(&cfg.LeaderTTL, "leader-ttl", envDuration("GANTRY_LEADER_TTL", cfg.LeaderTTL), "a leader that stops answering keeps its leadership this long; 0: 3s in a cluster or on an external etcd, 10s alone ($GANTRY_LEADER_TTL)")
	fs.DurationVar(&cfg.AgentTimeout, "agent-timeout", envDuration("GANTRY_AGENT_TIMEOUT", cfg.AgentTimeout), "an instance is disconnected when its agent has not polled for this long ($GANTRY_AGENT_TIMEOUT)")
	fs.StringVar(&cfg.RegistryDir, "registry-dir", env("GANTRY_REGISTRY_DIR", cfg.RegistryDir), "directory of the registry's blobs, ideally on its own filesystem; default <data-dir>/registry ($GANTRY_REGISTRY_DIR)")
	fs.StringVar(&cfg.RegistryDiskReserve, "registry-disk-reserve", env("GANTRY_REGISTRY_DISK_RESERVE", cfg.RegistryDiskReserve), "free space the registry leaves on its filesystem, as a size (1GiB) or a percentage (5%); uploads that would eat into it are refused ($GANTRY_REGISTRY_DISK_RESERVE)")
	fs.IntVar(&cfg.RegistryMaxUploads, "registry-max-uploads", envInt("GANTRY_REGISTRY_MAX_UPLOADS", cfg.RegistryMaxUploads), "blob upload sessions one access key may hold open at once; 0 for the default, 256 ($GANTRY_REGISTRY_MAX_UPLOADS)")
	if cfg.AgentLostAfter == 0 {
		cfg.AgentLostAfter = reconcile.AgentLostAfter
	}
	fs.DurationVar(&cfg.AgentLostAfter, "agent-lost-after", envDuration("GANTRY_AGENT_LOST_AFTER", cfg.AgentLostAfter), "a service's tasks on an instance whose agent has been silent this long are stopped and replaced elsewhere ($GANTRY_AGENT_LOST_AFTER)")
	fs.StringVar(logLevel, "log-level", env("GANTRY_LOG_LEVEL", "info"), "debug, info, warn or error ($GANTRY_LOG_LEVEL)")
}

func serverCmd() *cobra.Command {
	cfg := server.Default()
	var logLevel string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: the ECS API over etcd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			warnSecretsOnCommandLine(cmd.Flags(), log)
			warnFullDisk(cfg.DataDir)
			go watchDisk(cmd.Context(), cfg.DataDir)
			if err := server.Run(cmd.Context(), cfg); err != nil {
				return fmt.Errorf("server stopped: %w%s", err, fullDiskNote(cfg.DataDir))
			}
			return nil
		},
	}
	controlPlaneFlags(cmd.Flags(), &cfg, &logLevel)
	cmd.Flags().BoolVar(&cfg.RotateRegistrySecret, "rotate-registry-secret", false, "replace the secret that signs registry tokens, then serve: every token issued before stops working (on other replicas within a minute)")
	clusterFlags(cmd.Flags(), &cfg)
	return cmd
}

// lowDiskSpace is the free space under which the data disk counts as full:
// etcd cannot write its log and the server stops.
const lowDiskSpace = 64 << 20

// fullDiskNote says, for an error message, that the filesystem of dir is
// (nearly) full, or nothing.
func fullDiskNote(dir string) string {
	var st syscall.Statfs_t
	if dir == "" || syscall.Statfs(dir, &st) != nil {
		return ""
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < lowDiskSpace {
		return fmt.Sprintf(" (the filesystem of --data-dir %s has only %d MiB free: etcd cannot write there; free space, and give the registry's blobs their own filesystem with --registry-dir)", dir, free>>20)
	}
	return ""
}

// warnFullDisk prints to stderr that the data disk is full, and reports
// whether it did: etcd then fails, and ends the process with its reason
// written only to its log file in the data directory, which it cannot write.
func warnFullDisk(dir string) bool {
	note := fullDiskNote(dir)
	if note != "" {
		fmt.Fprintln(os.Stderr, "gantry server: WARNING: the data disk is full"+note)
	}
	return note != ""
}

// watchDisk checks the data disk every few seconds until ctx ends, and
// warns on stderr once each time it becomes full.
func watchDisk(ctx context.Context, dir string) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !warned {
				warned = warnFullDisk(dir)
			} else if fullDiskNote(dir) == "" {
				warned = false
			}
		}
	}
}

// clusterFlags binds the flags that make the embedded etcd a member of a
// cluster of servers.
func clusterFlags(fs *pflag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.Etcd.Name, "etcd-name", env("GANTRY_ETCD_NAME", "gantry"), "this server's member name in the embedded etcd cluster ($GANTRY_ETCD_NAME)")
	fs.StringVar(&cfg.Etcd.ClientListen, "etcd-client-listen", env("GANTRY_ETCD_CLIENT_LISTEN", ""), "host:port of the embedded etcd's client endpoint (TLS, client certificates); default 127.0.0.1 on a free port ($GANTRY_ETCD_CLIENT_LISTEN)")
	fs.StringVar(&cfg.Etcd.PeerListen, "etcd-peer-listen", env("GANTRY_ETCD_PEER_LISTEN", ""), "host:port the other members reach this one's embedded etcd at (TLS); required in a cluster ($GANTRY_ETCD_PEER_LISTEN)")
	fs.StringVar(&cfg.Etcd.InitialCluster, "etcd-initial-cluster", env("GANTRY_ETCD_INITIAL_CLUSTER", ""), "start a new cluster of these members: name=https://host:port,... (each one's --etcd-peer-listen) ($GANTRY_ETCD_INITIAL_CLUSTER)")
	fs.BoolVar(&cfg.NoServiceController, "no-service-controller", false, "serve the API but never run the service controller (stay out of its election)")
	fs.StringSliceVar(&cfg.Etcd.Join, "etcd-join", envList("GANTRY_ETCD_JOIN"), "join a running cluster through these members' client URLs (https://host:port) ($GANTRY_ETCD_JOIN)")
}

func devCmd() *cobra.Command {
	cfg := server.Default()
	var logLevel string
	var noAgent, stopTasks bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything on this machine: control plane with embedded etcd accepting the test/test key, and one agent on the local Docker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			warnSecretsOnCommandLine(cmd.Flags(), log)
			cfg.AcceptTestKey = true
			warnFullDisk(cfg.DataDir)
			go watchDisk(cmd.Context(), cfg.DataDir)
			s, err := server.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			agentDone := make(chan error, 1)
			var a *agent.Agent
			agentNote := "One agent runs your tasks on the local Docker (cluster default)."
			if noAgent {
				agentNote = "No agent (--no-agent): tasks stay PENDING until one registers."
			} else if a, err = startDevAgent(cmd.Context(), s.URL(), cfg.DataDir, stopTasks, log); err != nil {
				var inUse *dirlock.InUseError
				if errors.As(err, &inUse) {
					s.Close()
					return err
				}
				agentNote = fmt.Sprintf("WARNING: no agent: %v\n  The control plane runs; tasks stay PENDING until an agent registers.", err)
				fmt.Fprintln(os.Stderr, "gantry dev: WARNING: Docker is not usable, running without an agent:", err)
			} else {
				go func() { agentDone <- a.Run(cmd.Context()) }()
				// The tour's first run-task needs the default cluster, which
				// the agent's registration creates: say "running" after it.
				select {
				case <-a.Ready():
				case err := <-agentDone:
					agentDone <- err
				case <-time.After(30 * time.Second):
					fmt.Fprintln(os.Stderr, "gantry dev: WARNING: the agent has not registered after 30s; tasks stay PENDING until it does")
				case <-cmd.Context().Done():
				}
			}
			fmt.Printf(`Gantry is running at %[1]s (data in %[2]s).
%[3]s

  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=
  aws --endpoint-url %[1]s ecs register-task-definition --family web \
      --container-definitions '[{"name":"web","image":"gantry-test/busybox","memory":64,
        "command":["httpd","-f","-p","80","-h","/var/www"],"portMappings":[{"containerPort":80}],
        "linuxParameters":{"initProcessEnabled":true}}]'
  aws --endpoint-url %[1]s ecs run-task --task-definition web
  aws --endpoint-url %[1]s ecs describe-tasks --tasks <task id>     # curl 127.0.0.1:<hostPort>

Press Ctrl-C to stop.
`, s.URL(), cfg.DataDir, agentNote)
			select {
			case <-cmd.Context().Done():
			case err := <-waitCh(s):
				return err
			}
			if a == nil {
				fmt.Println("gantry dev stopped.")
				return s.Close()
			}
			if stopTasks {
				fmt.Println("Stopping the agent's tasks first (--stop-tasks-on-exit); Ctrl-C again leaves them running.")
			}
			// The agent ends first (with --stop-tasks-on-exit, once its
			// tasks are stopped and reported), the control plane after it.
			<-agentDone
			err = s.Close()
			fmt.Println(devExitNote(a.ActiveTasks(), stopTasks, cfg.DataDir))
			return err
		},
	}
	controlPlaneFlags(cmd.Flags(), &cfg, &logLevel)
	cmd.Flags().BoolVar(&noAgent, "no-agent", false, "run the control plane only")
	cmd.Flags().BoolVar(&stopTasks, "stop-tasks-on-exit", envBool("GANTRY_STOP_TASKS_ON_EXIT"),
		"on Ctrl-C or SIGTERM, stop the agent's tasks before exiting, instead of leaving their containers running for the next start to re-adopt ($GANTRY_STOP_TASKS_ON_EXIT)")
	return cmd
}

// devExitNote is the line `gantry dev` prints as it exits: what became of
// its tasks' containers.
func devExitNote(active int, stopTasks bool, dataDir string) string {
	switch {
	case active == 0 && stopTasks:
		return "gantry dev stopped: its tasks were stopped first (--stop-tasks-on-exit)."
	case active == 0:
		return "gantry dev stopped: no task was running."
	case stopTasks:
		return fmt.Sprintf("gantry dev stopped: %d task(s) did not stop in time; their containers keep running and the next gantry dev on %s re-adopts them.", active, dataDir)
	}
	return fmt.Sprintf("gantry dev stopped: the containers of its %d running task(s) keep running; the next gantry dev on %s re-adopts them (--stop-tasks-on-exit stops them instead).", active, dataDir)
}

// startDevAgent prepares the in-process agent of `gantry dev`; it fails when
// Docker is not reachable.
func startDevAgent(ctx context.Context, endpoint, dataDir string, stopTasks bool, log *slog.Logger) (*agent.Agent, error) {
	acfg := devAgentConfig(endpoint, dataDir)
	acfg.Logger = log
	acfg.StopTasksOnExit = stopTasks
	agent.RaiseFileLimit(log)
	return agent.New(ctx, acfg)
}

// warnSecretsOnCommandLine warns when --access-key was given on the
// command line, where any user of the machine reads it with ps.
func warnSecretsOnCommandLine(fs *pflag.FlagSet, log *slog.Logger) {
	if fs.Changed("access-key") {
		log.Warn("--access-key puts secret keys on the command line, where ps shows them to every user of this machine; " +
			"prefer --credentials-file or $GANTRY_ACCESS_KEYS")
	}
}

func waitCh(s *server.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Wait() }()
	return ch
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envList(name string) []string {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
