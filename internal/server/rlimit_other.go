//go:build !unix

package server

import "log/slog"

// raiseOpenFiles has no open files limit to raise on this system.
func raiseOpenFiles(*slog.Logger) uint64 { return 0 }
