package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
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
	fs.DurationVar(&cfg.AgentTimeout, "agent-timeout", envDuration("GANTRY_AGENT_TIMEOUT", cfg.AgentTimeout), "an instance is disconnected when its agent has not polled for this long ($GANTRY_AGENT_TIMEOUT)")
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
			return server.Run(cmd.Context(), cfg)
		},
	}
	controlPlaneFlags(cmd.Flags(), &cfg, &logLevel)
	return cmd
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
			cfg.AcceptTestKey = true
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
			}
			fmt.Printf(`Gantry is running at %[1]s (data in %[2]s).
%[3]s

  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
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
