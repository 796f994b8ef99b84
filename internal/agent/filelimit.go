package agent

import (
	"log/slog"
	"syscall"
)

// lowFileLimit is the open-file limit below which the agent warns: every
// container's log stream, the Docker and control-plane connections and the
// task metadata endpoint's connections take descriptors.
const lowFileLimit = 4096

// RaiseFileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit, and logs the limit the agent runs with (a warning when it is
// low). Go's runtime raises it at start too (since Go 1.19); this makes the
// agent's limit explicit and visible in its log. Call it once per process.
func RaiseFileLimit(log *slog.Logger) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
		return
	}
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("cannot raise the open-file limit to the hard limit", "soft", l.Cur, "hard", l.Max, "err", err)
		} else {
			l = want
		}
	}
	if l.Cur < lowFileLimit {
		log.Warn("the open-file limit is low for an agent; raise the hard limit (ulimit -Hn, LimitNOFILE= in a systemd unit)", "limit", l.Cur)
		return
	}
	log.Debug("open-file limit", "limit", l.Cur)
}
