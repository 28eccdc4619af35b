package collection

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// The journal keeps the work of a run that did not finish. Every chunk
// embedded is appended to <collection>/journal.bin with its vector, and a
// document's last chunk is followed by a "done" record; a run that fails (an
// embedding error, Ctrl-C, a crash) leaves the file, and the next run with
// the same model, kind and chunking takes the chunks of every document whose
// content hash is unchanged and whose "done" record is there instead of
// embedding them again. A committed run removes the file. A torn last record
// (a crash mid-write) ends the journal there.
//
// Record: 4-byte length, body, CRC-32C of the body. Body: a type byte, then
// 'H' header JSON; 'C' 4-byte length, chunk JSON, 4-byte dimension, the
// float32s; 'D' document JSON.
const (
	journalFile  = "journal.bin"
	journalMagic = "LLMRJRN1"
	// maxJournalBody bounds one journal record.
	maxJournalBody = maxRecord + 4*65536 + 16
)

type journalHeader struct {
	Model        string `json:"model"`
	Kind         string `json:"kind"`
	ChunkSize    int    `json:"chunk_size"`
	ChunkOverlap int    `json:"chunk_overlap"`
}

type journalChunk struct {
	Doc    string `json:"doc"`
	SHA256 string `json:"sha256"`
	Chunk  int    `json:"chunk"`
	Text   string `json:"text"`
}

type journalDone struct {
	Doc    string `json:"doc"`
	SHA256 string `json:"sha256"`
	Chunks int    `json:"chunks"`
}

// journal is the journal of one run: what an earlier run left, and the
// appends of this one.
type journal struct {
	path string
	hdr  journalHeader
	// complete maps doc+"\x00"+sha256 to the offsets of the document's
	// chunk records, in chunk order, for documents with a "done" record.
	complete map[string][]int64

	f       *os.File // nil until the first append, or when none was left
	w       *bufio.Writer
	end     int64 // where appends go: after the last good record
	fresh   bool  // the file must be restarted (none, or another header)
	written bool  // this run appended records
}

func journalKey(doc, sha string) string { return doc + "\x00" + sha }

// openJournal reads the journal of dir, if one was left with header hdr.
func openJournal(dir string, hdr journalHeader) (*journal, error) {
	j := &journal{path: filepath.Join(dir, journalFile), hdr: hdr, complete: map[string][]int64{}, fresh: true}
	f, err := os.OpenFile(j.path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, err
	}
	j.f = f
	if err := j.scan(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", j.path, err)
	}
	return j, nil
}

// scan reads the journal left by an earlier run.
func (j *journal) scan() error {
	r := bufio.NewReaderSize(j.f, 256<<10)
	magic := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != journalMagic {
		return nil // torn or foreign: restarted on the first append
	}
	off := int64(len(journalMagic))
	pending := map[string][]int64{}
	first := true
	for {
		typ, body, n, ok := readJournalRecord(r)
		if !ok {
			break
		}
		if first {
			var h journalHeader
			if typ != 'H' || json.Unmarshal(body, &h) != nil || h != j.hdr {
				return nil // another model or chunking: of no use
			}
			first, j.fresh = false, false
		}
		switch typ {
		case 'C':
			if len(body) < 4 {
				return nil
			}
			ml := int(binary.LittleEndian.Uint32(body))
			var c journalChunk
			if ml > len(body)-4 || json.Unmarshal(body[4:4+ml], &c) != nil {
				return nil
			}
			k := journalKey(c.Doc, c.SHA256)
			if c.Chunk != len(pending[k]) {
				pending[k] = nil // a document begun again: only the last try counts
				if c.Chunk != 0 {
					break
				}
			}
			pending[k] = append(pending[k], off)
		case 'D':
			var d journalDone
			if json.Unmarshal(body, &d) != nil {
				return nil
			}
			k := journalKey(d.Doc, d.SHA256)
			if len(pending[k]) == d.Chunks {
				j.complete[k] = pending[k]
			}
			delete(pending, k)
		}
		off += n
		j.end = off
	}
	return nil
}

// readJournalRecord reads one record; ok is false at the end or at a torn
// or corrupt record.
func readJournalRecord(r io.Reader) (typ byte, body []byte, n int64, ok bool) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return 0, nil, 0, false
	}
	l := binary.LittleEndian.Uint32(lb[:])
	if l == 0 || l > maxJournalBody {
		return 0, nil, 0, false
	}
	buf := make([]byte, l+4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, 0, false
	}
	if crc32.Checksum(buf[:l], crcTable) != binary.LittleEndian.Uint32(buf[l:]) {
		return 0, nil, 0, false
	}
	return buf[0], buf[1:l], int64(l) + 8, true
}

// chunk reads the chunk record at off.
func (j *journal) chunk(off int64) (journalChunk, []float32, error) {
	var c journalChunk
	typ, body, _, ok := readJournalRecord(io.NewSectionReader(j.f, off, maxJournalBody+8))
	if !ok || typ != 'C' || len(body) < 4 {
		return c, nil, fmt.Errorf("%s: bad chunk record at %d", j.path, off)
	}
	ml := int(binary.LittleEndian.Uint32(body))
	if ml > len(body)-8 || json.Unmarshal(body[4:4+ml], &c) != nil {
		return c, nil, fmt.Errorf("%s: bad chunk record at %d", j.path, off)
	}
	rest := body[4+ml:]
	dim := int(binary.LittleEndian.Uint32(rest))
	if len(rest) != 4+4*dim {
		return c, nil, fmt.Errorf("%s: bad chunk record at %d", j.path, off)
	}
	v := make([]float32, dim)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4+4*i:]))
	}
	return c, v, nil
}

// append writes one record, starting the file first if needed.
func (j *journal) append(typ byte, parts ...[]byte) error {
	if j.w == nil {
		if err := j.start(); err != nil {
			return err
		}
	}
	l := 1
	for _, p := range parts {
		l += len(p)
	}
	var lb [4]byte
	binary.LittleEndian.PutUint32(lb[:], uint32(l))
	j.w.Write(lb[:])
	crc := crc32.Update(0, crcTable, []byte{typ})
	j.w.WriteByte(typ)
	for _, p := range parts {
		j.w.Write(p)
		crc = crc32.Update(crc, crcTable, p)
	}
	binary.LittleEndian.PutUint32(lb[:], crc)
	if _, err := j.w.Write(lb[:]); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	j.written = true
	return nil
}

// start opens the journal for appending: after the last good record of the
// one left, or a new file.
func (j *journal) start() error {
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		j.f = f
	}
	if j.fresh {
		j.end = 0
	}
	if err := j.f.Truncate(j.end); err != nil {
		return err
	}
	if _, err := j.f.Seek(j.end, io.SeekStart); err != nil {
		return err
	}
	j.w = bufio.NewWriterSize(j.f, 256<<10)
	if j.fresh {
		j.fresh = false
		j.w.WriteString(journalMagic)
		h, _ := json.Marshal(j.hdr)
		return j.append('H', h)
	}
	return nil
}

func (j *journal) addChunk(doc, sha string, n int, text string, vec []float32) error {
	meta, err := json.Marshal(journalChunk{Doc: doc, SHA256: sha, Chunk: n, Text: text})
	if err != nil {
		return err
	}
	head := binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))
	tail := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+4*len(vec)), uint32(len(vec)))
	for _, x := range vec {
		tail = binary.LittleEndian.AppendUint32(tail, math.Float32bits(x))
	}
	return j.append('C', head, meta, tail)
}

func (j *journal) addDone(doc, sha string, chunks int) error {
	b, err := json.Marshal(journalDone{Doc: doc, SHA256: sha, Chunks: chunks})
	if err != nil {
		return err
	}
	return j.append('D', b)
}

// close flushes and closes the journal, keeping it for the next run.
func (j *journal) close() error {
	if j.f == nil {
		return nil
	}
	var err error
	if j.w != nil {
		err = j.w.Flush()
	}
	return errors.Join(err, j.f.Close())
}

// remove closes and deletes the journal (the run was committed).
func (j *journal) remove() {
	j.close()
	if j.f != nil || j.written {
		os.Remove(j.path)
	}
}
