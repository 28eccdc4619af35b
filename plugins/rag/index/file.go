package index

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"unsafe"
)

// The file format, version 1. All integers little-endian.
//
//	header (64 bytes):
//	  0  magic "LLMRVIDX"
//	  8  u32 format version (1)
//	 12  u8 kind (0 float32, 1 int8), 3 bytes zero
//	 16  u32 dim        20 u32 n          24 u32 M        28 u32 efSearch
//	 32  u32 entry      36 u32 maxLevel   40 u32 flags (bit 0: graph)
//	 44  u32 upperLen (uint32s in the upper-layer section)
//	 48  u64 payload length (bytes after the header)
//	 56  u32 CRC-32C of the payload
//	 60  u32 CRC-32C of header bytes 0..59
//	payload: sections in this order, each starting at a multiple of 8
//	  ids u32[n]  sortedIDs u32[n]  sortedPos u32[n]
//	  vectors f32[n·dim] (float32) or i8[n·dim] then scales f32[n] (int8)
//	  graph only: levels u8[n]  upperOff u32[n]  layer0 u32[n·(1+2M)]  upper u32[upperLen]
const (
	magic         = "LLMRVIDX"
	formatVersion = 1
	headerSize    = 64
	flagGraph     = 1
	maxEfSearch   = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the decoded file header.
type header struct {
	version                                          uint32
	kind                                             Kind
	dim, n, m, efSearch, entry, maxLevel, flags, upN uint32
	payloadLen                                       uint64
	payloadCRC                                       uint32
}

// layout is where each section starts in the payload, and its length.
type layout struct {
	ids, sortedIDs, sortedPos, vecs, scales, levels, upperOff, layer0, upper, total uint64
}

func align8(x uint64) uint64 { return (x + 7) &^ 7 }

// layoutOf computes the payload layout of h. With the header's limits
// checked (dim <= 65536, n < 2^31, M <= 128) nothing overflows.
func layoutOf(h header) layout {
	var l layout
	n, dim := uint64(h.n), uint64(h.dim)
	at := uint64(0)
	next := func(size uint64) uint64 {
		start := align8(at)
		at = start + size
		return start
	}
	l.ids = next(4 * n)
	l.sortedIDs = next(4 * n)
	l.sortedPos = next(4 * n)
	if h.kind == Int8 {
		l.vecs = next(n * dim)
		l.scales = next(4 * n)
	} else {
		l.vecs = next(4 * n * dim)
		l.scales = at
	}
	if h.flags&flagGraph != 0 {
		l.levels = next(n)
		l.upperOff = next(4 * n)
		l.layer0 = next(4 * n * (1 + 2*uint64(h.m)))
		l.upper = next(4 * uint64(h.upN))
	} else {
		l.levels, l.upperOff, l.layer0, l.upper = at, at, at, at
	}
	l.total = align8(at)
	return l
}

// header describes ix (payload length and checksum not filled in).
func (ix *Index) header() header {
	h := header{
		version:  formatVersion,
		kind:     ix.kind,
		dim:      uint32(ix.dim),
		n:        uint32(ix.n),
		m:        uint32(ix.m),
		efSearch: uint32(ix.efSearch),
		entry:    ix.entry,
		maxLevel: uint32(ix.maxLevel),
		upN:      uint32(len(ix.upper)),
	}
	if ix.graph {
		h.flags |= flagGraph
	}
	return h
}

func (h header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], h.version)
	b[12] = byte(h.kind)
	for i, v := range []uint32{h.dim, h.n, h.m, h.efSearch, h.entry, h.maxLevel, h.flags, h.upN} {
		le.PutUint32(b[16+4*i:], v)
	}
	le.PutUint64(b[48:], h.payloadLen)
	le.PutUint32(b[56:], h.payloadCRC)
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

// decodeHeader checks and decodes a header; its errors say what is wrong
// (the caller wraps them in ErrFormat).
func decodeHeader(b []byte) (header, error) {
	var h header
	if !bytes.Equal(b[:8], []byte(magic)) {
		return h, errors.New("not an llm-router vector index (bad magic)")
	}
	le := binary.LittleEndian
	h.version = le.Uint32(b[8:])
	if h.version != formatVersion {
		return h, fmt.Errorf("format version %d, this build reads version %d", h.version, formatVersion)
	}
	if got, want := crc32.Checksum(b[:60], castagnoli), le.Uint32(b[60:]); got != want {
		return h, errors.New("header checksum mismatch (corrupt)")
	}
	h.kind = Kind(b[12])
	f := make([]uint32, 8)
	for i := range f {
		f[i] = le.Uint32(b[16+4*i:])
	}
	h.dim, h.n, h.m, h.efSearch, h.entry, h.maxLevel, h.flags, h.upN = f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
	h.payloadLen = le.Uint64(b[48:])
	h.payloadCRC = le.Uint32(b[56:])
	switch {
	case h.kind != Float32 && h.kind != Int8:
		return h, fmt.Errorf("unknown vector kind %d", h.kind)
	case h.dim < 1 || h.dim > maxDim:
		return h, fmt.Errorf("dimension %d outside 1..%d", h.dim, maxDim)
	case h.n > maxN:
		return h, fmt.Errorf("%d vectors, more than %d", h.n, maxN)
	case h.m < 2 || h.m > maxM:
		return h, fmt.Errorf("M %d outside 2..%d", h.m, maxM)
	case h.efSearch < 1 || h.efSearch > maxEfSearch:
		return h, fmt.Errorf("efSearch %d outside 1..%d", h.efSearch, maxEfSearch)
	case h.flags&^flagGraph != 0:
		return h, fmt.Errorf("unknown flags %#x", h.flags)
	case h.flags&flagGraph != 0 && (h.n < 2 || h.entry >= h.n || h.maxLevel > maxLevel):
		return h, errors.New("bad graph header")
	case h.flags&flagGraph == 0 && h.upN != 0:
		return h, errors.New("upper layers without a graph")
	}
	if want := layoutOf(h).total; h.payloadLen != want {
		return h, fmt.Errorf("payload length %d, its sections need %d", h.payloadLen, want)
	}
	return h, nil
}

// littleEndian reports whether the host stores integers little-endian, so
// that the file's arrays can be used in place.
func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// asBytes is the memory of s as bytes (little-endian hosts) or an encoded
// copy.
func asBytes[T uint32 | float32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	if littleEndian() {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
	}
	b := make([]byte, 4*len(s))
	for i, v := range s {
		var u uint32
		switch x := any(v).(type) {
		case uint32:
			u = x
		case float32:
			u = math.Float32bits(x)
		}
		binary.LittleEndian.PutUint32(b[4*i:], u)
	}
	return b
}

// u32s views b (8-aligned, little-endian) as uint32s, or decodes a copy on a
// big-endian host.
func u32s(b []byte) []uint32 {
	if len(b) == 0 {
		return []uint32{}
	}
	if littleEndian() {
		return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	}
	s := make([]uint32, len(b)/4)
	for i := range s {
		s[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return s
}

// f32s is u32s for float32.
func f32s(b []byte) []float32 {
	if len(b) == 0 {
		return []float32{}
	}
	if littleEndian() {
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	}
	s := make([]float32, len(b)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return s
}

// i8s views b as int8s.
func i8s(b []byte) []int8 {
	if len(b) == 0 {
		return []int8{}
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

// bytesOf views int8s as bytes.
func bytesOf(s []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// WriteFile writes the index to path atomically (a temporary file in the
// same directory, synced, then renamed; mode 0644): a versioned header and
// the index's arrays, with a CRC-32C checksum of both.
func (ix *Index) WriteFile(path string) (err error) {
	h := ix.header()
	lay := layoutOf(h)
	h.payloadLen = lay.total

	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("index: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("index: write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := bw.Write(make([]byte, headerSize)); err != nil {
		return err
	}
	crc := crc32.New(castagnoli)
	if err := writeSections(io.MultiWriter(bw, crc), ix.sections(lay)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	h.payloadCRC = crc.Sum32()
	if _, err := f.WriteAt(h.encode(), 0); err != nil {
		return err
	}
	return install(f, path)
}

// section is one array of the payload and its offset in the layout.
type section struct {
	off uint64
	b   []byte
}

// sections lists the payload's arrays in file order, ending with an empty
// one at the payload's end (for the padding before it).
func (ix *Index) sections(lay layout) []section {
	parts := []section{
		{lay.ids, asBytes(ix.ids)},
		{lay.sortedIDs, asBytes(ix.sortedIDs)},
		{lay.sortedPos, asBytes(ix.sortedPos)},
	}
	if ix.kind == Int8 {
		parts = append(parts, section{lay.vecs, bytesOf(ix.i8)}, section{lay.scales, asBytes(ix.scales)})
	} else {
		parts = append(parts, section{lay.vecs, asBytes(ix.f32)})
	}
	if ix.graph {
		parts = append(parts, []section{
			{lay.levels, ix.levels},
			{lay.upperOff, asBytes(ix.upperOff)},
			{lay.layer0, asBytes(ix.layer0)},
			{lay.upper, asBytes(ix.upper)},
		}...)
	}
	return append(parts, section{lay.total, nil})
}

// writeSections writes parts to w, each at its offset: the gap before one
// (alignment, at most 8 bytes) is written as zeros.
func writeSections(w io.Writer, parts []section) error {
	at := uint64(0)
	var zero [8]byte
	for _, p := range parts {
		if p.off < at || p.off-at > 8 {
			return fmt.Errorf("internal error: section at %d after %d", p.off, at)
		}
		if _, err := w.Write(zero[:p.off-at]); err != nil {
			return err
		}
		_, err := w.Write(p.b)
		at = p.off + uint64(len(p.b))
		if err != nil {
			return err
		}
	}
	return nil
}

// install makes the written temporary file f durable and renames it to
// path.
func install(f *os.File, path string) error {
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return nil
}

// Open opens an index written by WriteFile. On unix the file is mapped
// read-only and searched in place; elsewhere it is read whole. A file that is
// not an index, of another format version, corrupt or truncated is an error
// wrapping ErrFormat that says which.
func Open(path string) (*Index, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrFormat, path, fmt.Sprintf(format, a...))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		return nil, bad("not a regular file")
	}
	if size < headerSize {
		return nil, bad("%d bytes, shorter than the %d-byte header (truncated)", size, headerSize)
	}
	hb := make([]byte, headerSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		return nil, fmt.Errorf("index: read %s: %w", path, err)
	}
	// The header and the size first: a foreign file is neither mapped nor
	// read whole.
	if err := checkSize(hb, size); err != nil {
		return nil, bad("%v", err)
	}
	data, release, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("index: map %s: %w", path, err)
	}
	ix, err := parse(data)
	if err != nil {
		release()
		return nil, bad("%v", err)
	}
	ix.release = release
	return ix, nil
}

// checkSize decodes the header hb and checks it against the file size.
func checkSize(hb []byte, size int64) error {
	h, err := decodeHeader(hb)
	if err != nil {
		return err
	}
	want := uint64(headerSize) + h.payloadLen
	switch {
	case uint64(size) < want:
		return fmt.Errorf("truncated: %d bytes, the header says %d", size, want)
	case uint64(size) > want:
		return fmt.Errorf("%d bytes, the header says %d (trailing data)", size, want)
	case want > math.MaxInt:
		return fmt.Errorf("%d bytes, too large for this platform", want)
	}
	return nil
}

// parse checks a whole index file's bytes (8-aligned) and returns the index
// whose arrays point into them.
func parse(data []byte) (*Index, error) {
	if len(data) < headerSize {
		return nil, fmt.Errorf("%d bytes, shorter than the %d-byte header (truncated)", len(data), headerSize)
	}
	if err := checkSize(data[:headerSize], int64(len(data))); err != nil {
		return nil, err
	}
	h, _ := decodeHeader(data[:headerSize])
	payload := data[headerSize:]
	if crc32.Checksum(payload, castagnoli) != h.payloadCRC {
		return nil, errors.New("checksum mismatch (corrupt)")
	}
	ix := fromPayload(h, payload)
	if err := ix.validate(); err != nil {
		return nil, err
	}
	ix.init()
	return ix, nil
}

// fromPayload points an Index's arrays at the sections of payload.
func fromPayload(h header, p []byte) *Index {
	lay := layoutOf(h)
	n, dim := uint64(h.n), uint64(h.dim)
	ix := &Index{
		dim:       int(h.dim),
		n:         int(h.n),
		kind:      h.kind,
		m:         int(h.m),
		efSearch:  int(h.efSearch),
		ids:       u32s(p[lay.ids : lay.ids+4*n]),
		sortedIDs: u32s(p[lay.sortedIDs : lay.sortedIDs+4*n]),
		sortedPos: u32s(p[lay.sortedPos : lay.sortedPos+4*n]),
		payload:   int64(lay.total),
	}
	if h.kind == Int8 {
		ix.i8 = i8s(p[lay.vecs : lay.vecs+n*dim])
		ix.scales = f32s(p[lay.scales : lay.scales+4*n])
	} else {
		ix.f32 = f32s(p[lay.vecs : lay.vecs+4*n*dim])
	}
	if h.flags&flagGraph != 0 {
		ix.graph = true
		ix.entry = h.entry
		ix.maxLevel = int(h.maxLevel)
		ix.levels = []uint8(p[lay.levels : lay.levels+n])
		ix.upperOff = u32s(p[lay.upperOff : lay.upperOff+4*n])
		ix.layer0 = u32s(p[lay.layer0 : lay.layer0+4*n*(1+2*uint64(h.m))])
		ix.upper = u32s(p[lay.upper : lay.upper+4*uint64(h.upN)])
	}
	return ix
}

// validate checks what the searches rely on, so that a well-checksummed but
// inconsistent file is an error, never an out-of-range panic.
func (ix *Index) validate() error {
	n := uint32(ix.n)
	for i, id := range ix.sortedIDs {
		if i > 0 && id <= ix.sortedIDs[i-1] {
			return errors.New("id table not strictly ascending (duplicate ids?)")
		}
		if p := ix.sortedPos[i]; p >= n || ix.ids[p] != id {
			return errors.New("id table does not match the ids")
		}
	}
	for _, s := range ix.scales {
		if s < 0 || math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return errors.New("bad int8 scale")
		}
	}
	if !ix.graph {
		return nil
	}
	if int(ix.levels[ix.entry]) != ix.maxLevel {
		return errors.New("entry point is not on the top layer")
	}
	m := uint32(ix.m)
	w := 1 + 2*m
	for p := range n {
		lst := ix.layer0[p*w : (p+1)*w]
		if lst[0] > 2*m {
			return fmt.Errorf("node %d: %d neighbours on layer 0, at most %d", p, lst[0], 2*m)
		}
		for _, e := range lst[1 : 1+lst[0]] {
			if e >= n {
				return fmt.Errorf("node %d: neighbour %d out of range", p, e)
			}
		}
		level := uint32(ix.levels[p])
		if int(level) > ix.maxLevel {
			return fmt.Errorf("node %d: level %d above the top %d", p, level, ix.maxLevel)
		}
		off := uint64(ix.upperOff[p])
		if off+uint64(level)*uint64(1+m) > uint64(len(ix.upper)) {
			return fmt.Errorf("node %d: upper layers out of range", p)
		}
		for l := uint32(1); l <= level; l++ {
			lst := ix.upper[off+uint64(l-1)*uint64(1+m):][:1+m]
			if lst[0] > m {
				return fmt.Errorf("node %d: %d neighbours on layer %d, at most %d", p, lst[0], l, m)
			}
			for _, e := range lst[1 : 1+lst[0]] {
				if e >= n || uint32(ix.levels[e]) < l {
					return fmt.Errorf("node %d: bad neighbour %d on layer %d", p, e, l)
				}
			}
		}
	}
	return nil
}

// Close releases the mapping of an opened index (a built one has nothing to
// release). Afterwards the index is empty: searches return nil. Close must
// not be called while a search runs.
func (ix *Index) Close() error {
	rel := ix.release
	*ix = Index{dim: ix.dim, kind: ix.kind, m: ix.m, efSearch: ix.efSearch}
	ix.init()
	if rel != nil {
		return rel()
	}
	return nil
}
