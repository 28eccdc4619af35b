// Package collection is a RAG collection on disk: the chunks of a set of
// documents, their embeddings in a vector index (package index, loaded by
// mmap) and a manifest, under <persist-dir>/<name>/.
//
// Files of a collection directory:
//
//	manifest.json    format version, embedding model, dimension, vector kind,
//	                 chunk size and overlap, and per document its path,
//	                 SHA-256 content hash and chunk ids; names the two files
//	                 below. Replacing it (write to a temporary file, rename)
//	                 is what commits an update.
//	index-<gen>.bin  the vector index (package index), ids = chunk ids
//	chunks-<gen>.bin the chunks: records of a 4-byte length and a JSON
//	                 object {"doc","chunk","text"}, then a table of
//	                 (id, offset) sorted by id, then a trailer with the
//	                 table's offset, its length and a CRC-32C
//	journal.bin      while a run goes on, and after one that did not finish:
//	                 the chunks it embedded, with their vectors (see
//	                 journal.go); the next run resumes from it
//
// An update writes the files of a new generation next to the old ones and
// then the manifest; a crash before that leaves the old collection as it
// was. Only one indexer may run on a collection at a time; readers may run
// alongside it.
package collection

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/llmrouter/llm-router/plugins/rag/index"
)

// FormatVersion is the version of the manifest and chunks file layout.
const FormatVersion = 1

const (
	manifestFile = "manifest.json"
	// maxManifest bounds a manifest read.
	maxManifest = 256 << 20
	// maxRecord bounds one chunk record.
	maxRecord = 8 << 20
	// chunksMagic starts and ends a chunks file.
	chunksMagic = "LLMRCHK1"
	trailerLen  = 8 + 4 + 4 + 8 // table offset, count, crc, magic
	tableEntry  = 4 + 8         // id, offset
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrNotFound is a collection that does not exist (no manifest).
var ErrNotFound = errors.New("collection not found")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckName reports a collection name that cannot be a directory name here:
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("collection name %q: use letters, digits, '.', '_' and '-' (up to 128, starting with a letter or digit)", name)
	}
	return nil
}

// manifest is manifest.json.
type manifest struct {
	Format       int       `json:"format"`
	Model        string    `json:"model"`
	Dim          int       `json:"dim"`
	Kind         string    `json:"kind"`
	ChunkSize    int       `json:"chunk_size"`
	ChunkOverlap int       `json:"chunk_overlap"`
	Generation   int       `json:"generation"`
	Index        string    `json:"index"`
	Chunks       string    `json:"chunks"`
	NextID       uint32    `json:"next_id"`
	Total        int       `json:"chunks_total"`
	Updated      time.Time `json:"updated"`
	Documents    []docInfo `json:"documents"`
}

// docInfo is one document of the manifest; its chunks have ids FirstID to
// FirstID+Chunks-1.
type docInfo struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	FirstID uint32 `json:"first_id"`
	Chunks  int    `json:"chunks"`
	// Skipped says why a document has no chunks (a binary file), so that an
	// unchanged one is not read again.
	Skipped string `json:"skipped,omitempty"`
}

func readManifest(dir string) (*manifest, error) {
	f, err := os.Open(filepath.Join(dir, manifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.Name(), maxManifest)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("%s: format version %d, this llm-router reads %d; index the collection again", f.Name(), m.Format, FormatVersion)
	}
	if _, err := ParseKind(m.Kind); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if filepath.Base(m.Index) != m.Index || filepath.Base(m.Chunks) != m.Chunks || m.Index == "" || m.Chunks == "" {
		return nil, fmt.Errorf("%s: bad file names %q, %q", f.Name(), m.Index, m.Chunks)
	}
	return &m, nil
}

// ParseKind parses a vector kind name ("float32" or "int8").
func ParseKind(s string) (index.Kind, error) {
	switch s {
	case "float32", "":
		return index.Float32, nil
	case "int8":
		return index.Int8, nil
	}
	return 0, fmt.Errorf("vector kind %q: want float32 or int8", s)
}

// Hit is a chunk found by Search.
type Hit struct {
	// Doc is the document's path as indexed.
	Doc string
	// Chunk numbers the chunk within its document, from 0.
	Chunk int
	// Text is the chunk's text.
	Text string
	// Score is the cosine similarity to the query.
	Score float32
}

// Collection is an opened collection. Its methods are safe for concurrent
// use, except Close.
type Collection struct {
	dir    string
	man    *manifest
	ix     *index.Index
	chunks *chunkFile
}

// Open opens the collection name under persistDir: the manifest, the vector
// index (mapped) and the chunks' table (texts are read when found).
func Open(persistDir, name string) (*Collection, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(persistDir, name)
	var err error
	// An indexer that commits between the manifest read and the file opens
	// removes the files the old manifest names: read it again then.
	for range 3 {
		var c *Collection
		c, err = open(dir)
		if err == nil || !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotFound) {
			return c, err
		}
	}
	return nil, err
}

func open(dir string) (*Collection, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	ix, err := index.Open(filepath.Join(dir, m.Index))
	if err != nil {
		return nil, err
	}
	if ix.Dim() != m.Dim || ix.Len() != m.Total {
		ix.Close()
		return nil, fmt.Errorf("%s: index of %d×%d vectors, manifest says %d×%d", dir, ix.Len(), ix.Dim(), m.Total, m.Dim)
	}
	cf, err := openChunks(filepath.Join(dir, m.Chunks))
	if err != nil {
		ix.Close()
		return nil, err
	}
	if len(cf.ids) != m.Total {
		ix.Close()
		cf.Close()
		return nil, fmt.Errorf("%s: %d chunks, manifest says %d", cf.f.Name(), len(cf.ids), m.Total)
	}
	return &Collection{dir: dir, man: m, ix: ix, chunks: cf}, nil
}

// Model is the embedding model the collection was indexed with; queries
// must be embedded with it.
func (c *Collection) Model() string { return c.man.Model }

// Dim is the vector dimension.
func (c *Collection) Dim() int { return c.man.Dim }

// ChunkSize is the chunk size, in tokens (package chunk), the collection
// was indexed with: texts of that size are known to embed.
func (c *Collection) ChunkSize() int { return c.man.ChunkSize }

// Len is the number of chunks.
func (c *Collection) Len() int { return c.man.Total }

// Documents is the number of documents indexed (binary files that were
// skipped not counted).
func (c *Collection) Documents() int {
	n := 0
	for _, d := range c.man.Documents {
		if d.Skipped == "" {
			n++
		}
	}
	return n
}

// Search returns up to k chunks whose similarity to vec is at least
// minScore, best first. A vec of the wrong dimension is an error.
func (c *Collection) Search(vec []float32, k int, minScore float32) ([]Hit, error) {
	if len(vec) != c.man.Dim {
		return nil, fmt.Errorf("query vector of %d dimensions; collection %s (model %q) has %d: %w",
			len(vec), filepath.Base(c.dir), c.man.Model, c.man.Dim, index.ErrDim)
	}
	if k <= 0 {
		return nil, nil
	}
	var hits []Hit
	for _, r := range c.ix.Search(vec, k) {
		if r.Score < minScore {
			break
		}
		rec, err := c.chunks.record(r.ID)
		if err != nil {
			return nil, err
		}
		hits = append(hits, Hit{Doc: rec.Doc, Chunk: rec.Chunk, Text: rec.Text, Score: r.Score})
	}
	return hits, nil
}

// Close releases the index mapping and the chunks file.
func (c *Collection) Close() error {
	return errors.Join(c.ix.Close(), c.chunks.Close())
}

// record is one chunk in a chunks file.
type record struct {
	Doc   string `json:"doc"`
	Chunk int    `json:"chunk"`
	Text  string `json:"text"`
}

// chunkFile is an opened chunks file: the table in memory, records read on
// demand.
type chunkFile struct {
	f    *os.File
	size int64
	ids  []uint32 // sorted
	offs []int64
}

func openChunks(path string) (*chunkFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	cf, err := readTable(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cf, nil
}

func readTable(f *os.File) (*chunkFile, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < int64(len(chunksMagic)+trailerLen) {
		return nil, errors.New("not a chunks file (too short)")
	}
	head := make([]byte, len(chunksMagic))
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, err
	}
	tr := make([]byte, trailerLen)
	if _, err := f.ReadAt(tr, size-trailerLen); err != nil {
		return nil, err
	}
	if string(head) != chunksMagic || string(tr[16:]) != chunksMagic {
		return nil, errors.New("not a chunks file of this version")
	}
	tableOff := int64(binary.LittleEndian.Uint64(tr[0:]))
	n := int64(binary.LittleEndian.Uint32(tr[8:]))
	sum := binary.LittleEndian.Uint32(tr[12:])
	if tableOff < int64(len(chunksMagic)) || tableOff+n*tableEntry != size-trailerLen {
		return nil, errors.New("corrupt chunks file (table out of place)")
	}
	table := make([]byte, n*tableEntry)
	if _, err := f.ReadAt(table, tableOff); err != nil {
		return nil, err
	}
	if crc32.Checksum(table, crcTable) != sum {
		return nil, errors.New("corrupt chunks file (table checksum)")
	}
	cf := &chunkFile{f: f, size: tableOff, ids: make([]uint32, n), offs: make([]int64, n)}
	for i := range n {
		e := table[i*tableEntry:]
		cf.ids[i] = binary.LittleEndian.Uint32(e)
		cf.offs[i] = int64(binary.LittleEndian.Uint64(e[4:]))
		if i > 0 && cf.ids[i] <= cf.ids[i-1] || cf.offs[i] < int64(len(chunksMagic)) || cf.offs[i]+4 > tableOff {
			return nil, errors.New("corrupt chunks file (table entry)")
		}
	}
	return cf, nil
}

// raw returns the record bytes of id (the JSON, without its length).
func (cf *chunkFile) raw(id uint32) ([]byte, error) {
	lo, hi := 0, len(cf.ids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cf.ids[m] < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(cf.ids) || cf.ids[lo] != id {
		return nil, fmt.Errorf("%s: no chunk %d", cf.f.Name(), id)
	}
	off := cf.offs[lo]
	var lb [4]byte
	if _, err := cf.f.ReadAt(lb[:], off); err != nil {
		return nil, fmt.Errorf("%s: %w", cf.f.Name(), err)
	}
	n := int64(binary.LittleEndian.Uint32(lb[:]))
	if n > maxRecord || off+4+n > cf.size {
		return nil, fmt.Errorf("%s: corrupt record of chunk %d", cf.f.Name(), id)
	}
	b := make([]byte, n)
	if _, err := cf.f.ReadAt(b, off+4); err != nil {
		return nil, fmt.Errorf("%s: %w", cf.f.Name(), err)
	}
	return b, nil
}

func (cf *chunkFile) record(id uint32) (record, error) {
	var r record
	b, err := cf.raw(id)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: chunk %d: %w", cf.f.Name(), id, err)
	}
	return r, nil
}

func (cf *chunkFile) Close() error { return cf.f.Close() }

// chunkWriter writes a chunks file: records as they come, the table at the
// end.
type chunkWriter struct {
	f    *os.File
	w    *bufio.Writer
	off  int64
	ids  []uint32
	offs []int64
}

func newChunkWriter(path string) (*chunkWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cw := &chunkWriter{f: f, w: bufio.NewWriterSize(f, 256<<10)}
	cw.w.Write([]byte(chunksMagic))
	cw.off = int64(len(chunksMagic))
	return cw, nil
}

// add writes the record of id (its JSON bytes).
func (cw *chunkWriter) add(id uint32, js []byte) error {
	if len(js) > maxRecord {
		return fmt.Errorf("chunk %d: record of %d bytes, more than %d", id, len(js), maxRecord)
	}
	var lb [4]byte
	binary.LittleEndian.PutUint32(lb[:], uint32(len(js)))
	cw.w.Write(lb[:])
	if _, err := cw.w.Write(js); err != nil { // bufio.Writer errors stick
		return fmt.Errorf("%s: %w", cw.f.Name(), err)
	}
	cw.ids = append(cw.ids, id)
	cw.offs = append(cw.offs, cw.off)
	cw.off += 4 + int64(len(js))
	return nil
}

// finish writes the table and trailer, syncs and closes the file.
func (cw *chunkWriter) finish() error {
	order := make([]int, len(cw.ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(cw.ids[a], cw.ids[b]) })
	table := make([]byte, 0, len(order)*tableEntry)
	for _, i := range order {
		table = binary.LittleEndian.AppendUint32(table, cw.ids[i])
		table = binary.LittleEndian.AppendUint64(table, uint64(cw.offs[i]))
	}
	cw.w.Write(table)
	tr := binary.LittleEndian.AppendUint64(nil, uint64(cw.off))
	tr = binary.LittleEndian.AppendUint32(tr, uint32(len(order)))
	tr = binary.LittleEndian.AppendUint32(tr, crc32.Checksum(table, crcTable))
	tr = append(tr, chunksMagic...)
	cw.w.Write(tr)
	err := cw.w.Flush()
	if err == nil {
		err = cw.f.Sync()
	}
	return errors.Join(err, cw.f.Close())
}

// abort closes and removes the file.
func (cw *chunkWriter) abort() {
	cw.f.Close()
	os.Remove(cw.f.Name())
}
