package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// On-disk format, version 1 (see README.md):
//
//	<seq> TAB <prev: 64 lowercase hex> TAB <base64(binary OpenPGP message)> LF
//
// prev is the SHA-256 of the previous line (without its LF): the whole stored
// frame of the previous record, which contains its ciphertext. The first record
// of a log (seq 1) has prev = 64 zeros. Files are named
// audit-<first seq, 20 digits>-<UTC yyyymmdd>.log.

const (
	filePrefix = "audit-"
	fileSuffix = ".log"
	lockName   = ".lock"
	hashLen    = sha256.Size
)

// frame is one parsed line.
type frame struct {
	seq  uint64
	prev [hashLen]byte
	data string // base64 ciphertext, as stored
}

// appendLine appends the line for (seq, prev, ct) to dst, LF included.
func appendLine(dst []byte, seq uint64, prev [hashLen]byte, ct []byte) []byte {
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '\t')
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, '\t')
	dst = base64.StdEncoding.AppendEncode(dst, ct)
	return append(dst, '\n')
}

// lineHash is the chain hash of a line given without its LF.
func lineHash(line []byte) [hashLen]byte { return sha256.Sum256(line) }

// parseLine parses a line without its LF. It checks the shape only; the
// returned error never contains record content.
func parseLine(line []byte) (frame, error) {
	var f frame
	a, rest, ok := bytes.Cut(line, []byte{'\t'})
	if !ok {
		return f, errors.New("expected 3 tab-separated fields")
	}
	b, c, ok := bytes.Cut(rest, []byte{'\t'})
	if !ok || bytes.IndexByte(c, '\t') >= 0 {
		return f, errors.New("expected 3 tab-separated fields")
	}
	seq, err := strconv.ParseUint(string(a), 10, 64)
	if err != nil || seq == 0 || strconv.FormatUint(seq, 10) != string(a) {
		return f, errors.New("bad sequence number")
	}
	if len(b) != 2*hashLen || bytes.ContainsAny(b, "ABCDEF") {
		return f, errors.New("bad previous-record hash")
	}
	if _, err := hex.Decode(f.prev[:], b); err != nil {
		return f, errors.New("bad previous-record hash")
	}
	if len(c) == 0 {
		return f, errors.New("empty ciphertext")
	}
	f.seq = seq
	f.data = string(c)
	return f, nil
}

// decodeData decodes the stored base64 ciphertext.
func decodeData(data string) ([]byte, error) {
	ct, err := base64.StdEncoding.Strict().DecodeString(data)
	if err != nil {
		return nil, errors.New("ciphertext is not valid base64")
	}
	return ct, nil
}

// fileName is the name of the file whose first record is seq, opened on day.
func fileName(seq uint64, day string) string {
	return fmt.Sprintf("%s%020d-%s%s", filePrefix, seq, day, fileSuffix)
}

// logFile is a log file found in a directory.
type logFile struct {
	name  string
	first uint64 // first seq according to the name
	day   string
}

// parseFileName parses a name made by fileName.
func parseFileName(name string) (logFile, bool) {
	s, ok := strings.CutPrefix(name, filePrefix)
	if !ok {
		return logFile{}, false
	}
	s, ok = strings.CutSuffix(s, fileSuffix)
	if !ok {
		return logFile{}, false
	}
	num, day, ok := strings.Cut(s, "-")
	if !ok || len(num) != 20 || len(day) != 8 {
		return logFile{}, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq == 0 {
		return logFile{}, false
	}
	if _, err := strconv.ParseUint(day, 10, 32); err != nil {
		return logFile{}, false
	}
	return logFile{name: name, first: seq, day: day}, true
}

// listFiles returns the log files of dir sorted by first sequence number.
func listFiles(dir string) ([]logFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: read dir: %w", err)
	}
	var out []logFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if lf, ok := parseFileName(e.Name()); ok {
			out = append(out, lf)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first < out[j].first })
	return out, nil
}

// tail describes the end of a log file.
type tail struct {
	line []byte // last complete line without LF; nil when there is none
	good int64  // offset just after the last LF (0 when none)
	size int64  // file size
}

// found reports whether the file holds a complete line.
func (t tail) found() bool { return t.good > 0 }

// readTail finds the last complete line of f (size bytes) by reading backwards.
func readTail(f *os.File, size int64) (tail, error) {
	t := tail{size: size}
	buf := make([]byte, 64<<10)
	end, err := lastLF(f, buf, size)
	if err != nil || end < 0 {
		return t, err
	}
	t.good = end + 1
	start, err := lastLF(f, buf, end) // the LF before it, if any
	if err != nil {
		return t, err
	}
	t.line = make([]byte, end-start-1)
	if _, err := f.ReadAt(t.line, start+1); err != nil {
		return t, fmt.Errorf("audit: read tail: %w", err)
	}
	return t, nil
}

// lastLF returns the offset of the last LF in f before offset before, or
// -1 when there is none, reading backwards through buf.
func lastLF(f *os.File, buf []byte, before int64) (int64, error) {
	for off := before; off > 0; {
		n := min(int64(len(buf)), off)
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return -1, fmt.Errorf("audit: read tail: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i), nil
		}
	}
	return -1, nil
}
