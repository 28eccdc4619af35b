package audit

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Kinds of Break.
const (
	BreakLink      = "broken link" // prev hash does not match the previous record (edited record)
	BreakGap       = "gap"         // records missing (deleted records or a removed file)
	BreakReorder   = "reorder"     // a record out of order, or duplicated
	BreakTruncated = "truncated"   // a torn final line, or the log ends before the anchor
	BreakMalformed = "malformed"   // a line that is not a record, or a ciphertext that does not decrypt
	BreakMisnamed  = "misnamed"    // a file whose name does not match its first record
	BreakAnchor    = "anchor"      // the record at the anchor's seq has another hash (rewritten log)
	BreakMismatch  = "mismatch"    // decrypted seq/prev differ from the line's (forged record)
)

// Break is the first problem found in a log. It names the file, the line
// and the sequence number, never record content.
type Break struct {
	Kind   string
	File   string
	Line   int    // 1-based; 0 when the problem is not at a line
	Seq    uint64 // sequence number involved, when known
	Detail string
}

// Error formats the break for humans.
func (b *Break) Error() string {
	var sb strings.Builder
	sb.WriteString("audit: ")
	sb.WriteString(b.Kind)
	if b.File != "" {
		sb.WriteString(" in ")
		sb.WriteString(b.File)
		if b.Line > 0 {
			sb.WriteString(":" + strconv.Itoa(b.Line))
		}
	}
	if b.Seq > 0 {
		sb.WriteString(" at seq " + strconv.FormatUint(b.Seq, 10))
	}
	if b.Detail != "" {
		sb.WriteString(": ")
		sb.WriteString(b.Detail)
	}
	return sb.String()
}

// VerifyOptions tune Verify and Decrypt.
type VerifyOptions struct {
	// Partial accepts a log whose oldest records were removed on purpose
	// (retention): the first record found may have any seq and prev.
	Partial bool
	// Anchor, when set, is a head recorded earlier outside the log (Log.Head,
	// or the router's "file closed" log lines): the log must contain that
	// record with that hash. This catches truncation of the newest file and a
	// log rewritten from some record on.
	Anchor *Head
}

// ParseAnchor parses SEQ:HASH as printed by Head.String.
func ParseAnchor(s string) (*Head, error) {
	a, b, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(a, 10, 64)
	if !ok || err != nil || seq == 0 || len(b) != 2*hashLen {
		return nil, fmt.Errorf("audit: anchor %q: want SEQ:SHA256HEX", s)
	}
	if _, err := hex.DecodeString(b); err != nil {
		return nil, fmt.Errorf("audit: anchor %q: want SEQ:SHA256HEX", s)
	}
	return &Head{Seq: seq, Hash: strings.ToLower(b)}, nil
}

// Summary describes a verified log.
type Summary struct {
	Files   int
	Records uint64
	First   uint64 // first seq (0 when empty)
	Head    Head   // last record
}

// rec is one record while walking a log.
type rec struct {
	file  string
	line  int
	first bool // first record of its file
	fr    frame
	hash  [hashLen]byte
}

// walker reads the records of every file of a log in order.
type walker struct {
	dir   string
	files []logFile
	fi    int
	r     *bufio.Reader
	f     *os.File
	line  int
	peek  *rec
}

func newWalker(dir string) (*walker, error) {
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	return &walker{dir: dir, files: files, fi: -1}, nil
}

func (w *walker) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// next returns the next record, io.EOF at the end, or a *Break.
func (w *walker) next() (*rec, error) {
	if r := w.peek; r != nil {
		w.peek = nil
		return r, nil
	}
	return w.read()
}

// lookahead returns the record after the current one without consuming it,
// or nil when there is none or it cannot be read.
func (w *walker) lookahead() *rec {
	if w.peek == nil {
		r, err := w.read()
		if err != nil {
			return nil
		}
		w.peek = r
	}
	return w.peek
}

func (w *walker) read() (*rec, error) {
	for {
		if w.r == nil {
			w.close()
			w.fi++
			if w.fi >= len(w.files) {
				return nil, io.EOF
			}
			f, err := os.Open(filepath.Join(w.dir, w.files[w.fi].name))
			if err != nil {
				return nil, fmt.Errorf("audit: %w", err)
			}
			w.f, w.r, w.line = f, bufio.NewReaderSize(f, 256<<10), 0
		}
		name := w.files[w.fi].name
		b, err := w.r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 {
				return nil, &Break{Kind: BreakTruncated, File: name, Line: w.line + 1,
					Detail: fmt.Sprintf("file ends inside a record (%d bytes without a newline): cut by a crash or by hand", len(b))}
			}
			if w.line == 0 && w.fi < len(w.files)-1 {
				// An empty newest file is a crash between create and first
				// write (Open removes it); anywhere else it is damage.
				return nil, &Break{Kind: BreakMalformed, File: name, Detail: "empty file"}
			}
			w.r = nil
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", name, err)
		}
		w.line++
		body := b[:len(b)-1]
		fr, perr := parseLine(body)
		if perr != nil {
			return nil, &Break{Kind: BreakMalformed, File: name, Line: w.line, Detail: perr.Error()}
		}
		return &rec{file: name, line: w.line, first: w.line == 1, fr: fr, hash: lineHash(body)}, nil
	}
}

// Verify checks the chain of the log in dir without any key: sequence
// numbers consecutive from 1 across files, each prev hash equal to the hash
// of the previous line, file names matching their first record, no torn
// lines, and the anchor if given. It returns the first problem as a *Break.
func Verify(dir string, opt VerifyOptions) (Summary, error) {
	return walk(dir, opt, nil)
}

// walk verifies the chain and calls fn for every record in order.
func walk(dir string, opt VerifyOptions, fn func(r *rec) error) (Summary, error) {
	var s Summary
	w, err := newWalker(dir)
	if err != nil {
		return s, err
	}
	defer w.close()
	s.Files = len(w.files)
	var (
		prevHash [hashLen]byte
		expect   uint64 = 1
		lastFile string
		started  bool
		anchored bool
	)
	for {
		r, err := w.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
		seq := r.fr.seq
		if !started && opt.Partial {
			expect = seq
		}
		if b := checkSeq(w, r, expect, lastFile); b != nil {
			return s, b
		}
		if started || !opt.Partial {
			if b := checkLink(r, prevHash, started); b != nil {
				return s, b
			}
		}
		if r.first {
			if lf, _ := parseFileName(r.file); lf.first != seq {
				return s, &Break{Kind: BreakMisnamed, File: r.file, Line: r.line, Seq: seq,
					Detail: fmt.Sprintf("file name says the first seq is %d", lf.first)}
			}
		}
		if _, err := decodeData(r.fr.data); err != nil {
			return s, &Break{Kind: BreakMalformed, File: r.file, Line: r.line, Seq: seq, Detail: err.Error()}
		}
		if opt.Anchor != nil && seq == opt.Anchor.Seq {
			if hex.EncodeToString(r.hash[:]) != opt.Anchor.Hash {
				return s, &Break{Kind: BreakAnchor, File: r.file, Line: r.line, Seq: seq,
					Detail: "record hash differs from the anchor: the log was rewritten from here or earlier"}
			}
			anchored = true
		}
		if fn != nil {
			if err := fn(r); err != nil {
				return s, err
			}
		}
		if !started {
			s.First = seq
		}
		started = true
		s.Records++
		s.Head = Head{Seq: seq, Hash: hex.EncodeToString(r.hash[:])}
		prevHash = r.hash
		expect = seq + 1
		lastFile = r.file
	}
	if opt.Anchor != nil && !anchored {
		return s, &Break{Kind: BreakTruncated, File: lastFile, Seq: s.Head.Seq,
			Detail: fmt.Sprintf("log ends at seq %d, before the anchor seq %d: newest records removed", s.Head.Seq, opt.Anchor.Seq)}
	}
	return s, nil
}

// checkSeq checks that record r has the sequence number expect: a smaller
// one is a record out of order, a larger one a gap (lastFile is the file of
// the record before, for the message).
func checkSeq(w *walker, r *rec, expect uint64, lastFile string) *Break {
	seq := r.fr.seq
	switch {
	case seq < expect:
		return &Break{Kind: BreakReorder, File: r.file, Line: r.line, Seq: seq,
			Detail: fmt.Sprintf("expected seq %d: record out of order or duplicated", expect)}
	case seq > expect:
		if nx := w.lookahead(); nx != nil && nx.fr.seq < seq {
			return &Break{Kind: BreakReorder, File: r.file, Line: r.line, Seq: seq,
				Detail: fmt.Sprintf("expected seq %d, and seq %d follows: records out of order", expect, nx.fr.seq)}
		}
		d := fmt.Sprintf("records %d..%d are missing", expect, seq-1)
		if seq-1 == expect {
			d = fmt.Sprintf("record %d is missing", expect)
		}
		if r.first && lastFile != "" {
			d += fmt.Sprintf(" between %s and this file (a file removed or truncated?)", lastFile)
		} else if r.first {
			d += " before the first file (older files removed? use --partial for a log pruned on purpose)"
		}
		return &Break{Kind: BreakGap, File: r.file, Line: r.line, Seq: seq, Detail: d}
	}
	return nil
}

// checkLink checks that r's prev hash is prevHash, the hash of the record
// before it, or zero for the first record of a log (started false).
func checkLink(r *rec, prevHash [hashLen]byte, started bool) *Break {
	seq := r.fr.seq
	want := prevHash
	if !started {
		want = [hashLen]byte{} // the first record of a log
	}
	if r.fr.prev != want {
		d := fmt.Sprintf("prev hash does not match record %d: that record (or this one) was edited or replaced", seq-1)
		if !started {
			d = "first record of the log must have a zero prev hash"
		}
		return &Break{Kind: BreakLink, File: r.file, Line: r.line, Seq: seq, Detail: d}
	}
	return nil
}

// Decrypt verifies the chain of the log in dir (as Verify) while decrypting
// every record with keys, and writes each record's JSON as one line to out:
// {"seq":…,"prev":…,"time":…,"kind":…,"fields":{…}}. It stops at the first
// problem; the records before it have been written.
func Decrypt(dir string, keys openpgp.KeyRing, out io.Writer, opt VerifyOptions) (Summary, error) {
	bw := bufio.NewWriter(out)
	var line bytes.Buffer
	s, err := walk(dir, opt, func(r *rec) error {
		ct, err := decodeData(r.fr.data)
		if err != nil {
			return &Break{Kind: BreakMalformed, File: r.file, Line: r.line, Seq: r.fr.seq, Detail: err.Error()}
		}
		pt, err := decrypt(ct, keys)
		if err != nil {
			return &Break{Kind: BreakMalformed, File: r.file, Line: r.line, Seq: r.fr.seq, Detail: err.Error()}
		}
		var hdr struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(pt, &hdr); err != nil {
			return &Break{Kind: BreakMalformed, File: r.file, Line: r.line, Seq: r.fr.seq, Detail: "plaintext is not a record"}
		}
		if hdr.Seq != r.fr.seq || hdr.Prev != hex.EncodeToString(r.fr.prev[:]) {
			return &Break{Kind: BreakMismatch, File: r.file, Line: r.line, Seq: r.fr.seq,
				Detail: "the encrypted seq/prev differ from the line's: record moved or forged"}
		}
		line.Reset()
		if err := json.Compact(&line, pt); err != nil {
			return &Break{Kind: BreakMalformed, File: r.file, Line: r.line, Seq: r.fr.seq, Detail: "plaintext is not JSON"}
		}
		line.WriteByte('\n')
		_, err = bw.Write(line.Bytes())
		return err
	})
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("audit: write output: %w", ferr)
	}
	return s, err
}

// IsBreak reports whether err is a chain problem (as opposed to an I/O error)
// and returns it.
func IsBreak(err error) (*Break, bool) {
	var b *Break
	ok := errors.As(err, &b)
	return b, ok
}
