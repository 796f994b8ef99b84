//go:build unix

package server

import (
	"log/slog"
	"syscall"
)

// raiseOpenFiles raises the process's soft limit of open files
// (RLIMIT_NOFILE) to its hard limit and returns the limit in force (0 if it
// cannot be read). Every client connection takes a file descriptor, and
// the embedded etcd needs its own for its WAL and snapshots. Go's runtime
// already raises the soft limit at start on Linux; doing it here makes it
// explicit, covers the other Unixes, and logs the figure the connection cap
// is derived from.
func raiseOpenFiles(log *slog.Logger) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("read the open files limit", "err", err)
		return 0
	}
	soft := lim.Cur
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("raise the open files limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		} else {
			lim = raised
		}
	}
	log.Info("open files limit", "soft_was", soft, "soft", lim.Cur, "hard", lim.Max)
	return lim.Cur
}
