package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/internal/agent"
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
	fs.StringVar(&cfg.EtcdPKIDir, "etcd-pki-dir", env("GANTRY_ETCD_PKI_DIR", ""), "certificate authority (ca.crt, ca.key) of the embedded etcd's TLS, shared by a cluster's servers (gantry etcd init-pki); default <data-dir>/etcd-pki ($GANTRY_ETCD_PKI_DIR)")
	fs.DurationVar(&cfg.LeaderTTL, "leader-ttl", envDuration("GANTRY_LEADER_TTL", cfg.LeaderTTL), "a leader that stops answering keeps its leadership this long; 0: 3s in a cluster or on an external etcd, 10s alone ($GANTRY_LEADER_TTL)")
	fs.DurationVar(&cfg.AgentTimeout, "agent-timeout", envDuration("GANTRY_AGENT_TIMEOUT", cfg.AgentTimeout), "an instance is disconnected when its agent has not polled for this long ($GANTRY_AGENT_TIMEOUT)")
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
	clusterFlags(cmd.Flags(), &cfg)
	return cmd
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
	var noAgent bool
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
			agentNote := "One agent runs your tasks on the local Docker (cluster default)."
			if noAgent {
				agentNote = "No agent (--no-agent): tasks stay PENDING until one registers."
			} else if a, err := startDevAgent(cmd.Context(), s.URL(), cfg.DataDir, log); err != nil {
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
				if !noAgent {
					select {
					case <-agentDone:
					case <-time.After(5 * time.Second):
					}
				}
				return s.Close()
			case err := <-waitCh(s):
				return err
			}
		},
	}
	controlPlaneFlags(cmd.Flags(), &cfg, &logLevel)
	cmd.Flags().BoolVar(&noAgent, "no-agent", false, "run the control plane only")
	return cmd
}

// startDevAgent prepares the in-process agent of `gantry dev`; it fails when
// Docker is not reachable.
func startDevAgent(ctx context.Context, endpoint, dataDir string, log *slog.Logger) (*agent.Agent, error) {
	acfg := devAgentConfig(endpoint, dataDir)
	acfg.Logger = log
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

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
