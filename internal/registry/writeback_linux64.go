//go:build linux && (amd64 || arm64)

package registry

import (
	"os"
	"syscall"
)

// writebackChunk is how much written content accumulates before startWriteback.
const writebackChunk = 8 << 20

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the dirty
// pages of the range, without waiting for it.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to start writing n bytes of f at off to
// disk now, so that the fsync of commit finds little left to write instead
// of the whole blob: the disk works while the upload streams. Best effort;
// errors surface at the fsync.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	})
}
