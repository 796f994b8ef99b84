package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/simrt"
)

// simFlags are the flags of `gantry agent --runtime sim`.
type simFlags struct {
	instances  int
	zones      string
	cpu        int
	memory     int64
	startDelay time.Duration
	// checkpointInterval becomes the agent's CheckpointInterval with sim.
	checkpointInterval time.Duration
}

// simOnly are the flags that mean something with --runtime sim only.
var simOnly = []string{"instances", "zones", "cpu", "memory", "sim-start-delay", "sim-checkpoint-interval"}

// bind binds the simulated runtime's flags.
func (s *simFlags) bind(fs *pflag.FlagSet) {
	def := simrt.Default()
	fs.IntVar(&s.instances, "instances", 1, "sim: how many simulated container instances to run")
	fs.StringVar(&s.zones, "zones", "", "sim: comma-separated availability zones, given round-robin (default: --availability-zone)")
	fs.IntVar(&s.cpu, "cpu", def.CPUUnits, "sim: CPU units each simulated instance registers")
	fs.Int64Var(&s.memory, "memory", def.MemoryMiB, "sim: MiB of memory each simulated instance registers")
	fs.DurationVar(&s.startDelay, "sim-start-delay", def.StartDelay, "sim: how long a simulated container takes to start")
	fs.DurationVar(&s.checkpointInterval, "sim-checkpoint-interval", agent.DefaultSimCheckpointInterval, "sim: how long checkpoint writes may lag changes (0: write every change, as the Docker agent does)")
}

// apply refuses the simulated runtime's flags with another runtime and the
// Docker flags with the simulated one, and gives the agent's configuration
// what the flags set for it.
func (s *simFlags) apply(fs *pflag.FlagSet, cfg *agent.Config) error {
	runtime := cfg.RuntimeName
	if runtime == "sim" {
		cfg.CheckpointInterval = s.checkpointInterval
		if fs.Changed("docker-host") {
			return fmt.Errorf("--docker-host: the sim runtime uses no Docker daemon")
		}
		return nil
	}
	var set []string
	for _, name := range simOnly {
		if fs.Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("%s only apply to simulated instances: add --runtime sim (the runtime is %s)", strings.Join(set, ", "), runtime)
	}
	return nil
}

// zoneList is --zones as a list (nil: the agent's --availability-zone).
func (s *simFlags) zoneList() []string {
	var out []string
	for _, z := range strings.Split(s.zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			out = append(out, z)
		}
	}
	return out
}

// options are the simulated runtime's options.
func (s *simFlags) options() simrt.Options {
	o := simrt.Default()
	o.CPUUnits, o.MemoryMiB, o.StartDelay = s.cpu, s.memory, s.startDelay
	return o
}
