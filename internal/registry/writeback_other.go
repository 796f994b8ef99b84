//go:build !linux || !(amd64 || arm64)

package registry

import "os"

// writebackChunk is how much written content accumulates before startWriteback.
const writebackChunk = 8 << 20

// startWriteback does nothing here (sync_file_range is used only where its
// arguments are plain 64-bit registers): commit's fsync writes the whole blob.
func startWriteback(*os.File, int64, int64) {}
