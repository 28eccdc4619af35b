//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package index

import (
	"io"
	"os"
	"unsafe"
)

// mapFile reads the first size bytes of f into memory aligned for the
// index's uint32 and float32 sections (no mmap here).
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	words := make([]uint64, (size+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, int64(size)), b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}
