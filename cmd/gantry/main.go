// Command gantry is the single binary of Gantry: the control plane
// (`gantry server`), the all-in-one development stack (`gantry dev`) and,
// later, the agent and client subcommands. It only reads flags and
// environment, builds a configuration, and calls one Run.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first Ctrl-C or SIGTERM ends ctx and the command shuts down; a
	// second one is no longer caught, so it ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	var pprofAddr string
	root := &cobra.Command{
		Use:               "gantry",
		Short:             "Gantry runs Amazon ECS's API and containers on your own machines",
		Version:           version,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return servePprof(pprofAddr) },
	}
	root.PersistentFlags().StringVar(&pprofAddr, "pprof-addr", os.Getenv("GANTRY_PPROF_ADDR"),
		"serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 ($GANTRY_PPROF_ADDR; off by default)")
	root.AddCommand(serverCmd(), devCmd(), agentCmd(), etcdCmd(), versionCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		os.Exit(1)
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, args []string) { fmt.Println("gantry", version) },
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
