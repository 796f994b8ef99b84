package agent

import (
	"math/rand/v2"
	"time"
)

// jittered is a back-off of d with jitter: a random wait between d/2 and
// d, so that many agents that failed together (a registration storm, a
// control plane answering ThrottlingException) do not retry together.
func jittered(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
