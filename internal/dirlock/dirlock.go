// Package dirlock gives one process at a time a data directory: an
// exclusive, non-blocking flock on <dir>/gantry.lock, holding the pid and
// the role of its owner. A second agent (or server) started on a directory
// in use fails at once with an error naming the directory and the process
// that holds it, instead of overwriting the first one's checkpoint or
// waiting forever on etcd's own lock. The kernel drops the lock when its
// holder exits, even after kill -9, so a stale file never blocks a restart.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FileName is the lock file's name inside the directory it guards.
const FileName = "gantry.lock"

// InUseError says that another process holds the directory.
type InUseError struct {
	// Dir is the directory asked for.
	Dir string
	// PID and Role are what the holder wrote in the lock file (0 and ""
	// when it had not written them yet).
	PID  int
	Role string
}

func (e *InUseError) Error() string {
	holder := "another process"
	if e.Role != "" {
		holder = e.Role
	}
	if e.PID > 0 {
		holder += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("data directory %s is in use by %s: stop it first, or give this one another --data-dir", e.Dir, holder)
}

// Lock is a held directory lock.
type Lock struct {
	f *os.File
}

// Acquire creates dir if need be and locks it for this process; role names
// the holder in the error a second process gets ("gantry agent"). It never
// waits: a directory in use gives an *InUseError at once.
func Acquire(dir, role string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			e := &InUseError{Dir: dir}
			if b, rerr := os.ReadFile(path); rerr == nil {
				pid, r, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
				e.PID, _ = strconv.Atoi(pid)
				e.Role = r
			}
			return nil, e
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	// The pid and role are for the message a second process prints; the
	// lock holds without them, so a failed write is not an error.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+role+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the directory up. It is safe to call on nil and more than
// once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
