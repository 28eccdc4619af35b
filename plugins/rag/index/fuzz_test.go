package index

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// FuzzOpen: whatever the bytes of a file, Open's checks return an error or
// an index that searches without panicking. Run longer with
// go test -fuzz FuzzOpen ./plugins/rag/index.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	for i, o := range []Options{{FlatMax: -1, M: 2}, {Kind: Int8, FlatMax: -1, M: 3}, {}} {
		ix := build(f, clustered(12, 4, 2, uint64(30+i)), o, sparseID)
		p := filepath.Join(dir, "seed")
		if err := ix.WriteFile(p); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// What Open does after mapping the file, on aligned memory like a
		// mapping's; the checksums kept right so that the fuzzer reaches
		// the structural checks, not only the CRC.
		words := make([]uint64, (len(in)+7)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(in))
		copy(b, in)
		if len(b) >= headerSize && bytes.HasPrefix(b, []byte(magic)) {
			fixChecksums(b)
		}
		ix, err := parse(b)
		if err != nil {
			return
		}
		q := make([]float32, ix.Dim())
		q[0] = 1
		ix.Search(q, 5)
		ix.SearchExact(q, 5)
		for _, id := range ix.IDs() {
			ix.Vector(id)
		}
	})
}
