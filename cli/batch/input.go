// Package batch runs the router's dataset tools (`llm-router util translate
// | genai-classifier | genai-data-augmentation`): it streams records from
// JSON, JSONL or CSV files, sends them through the router with a bounded
// pool of workers, writes one JSONL line per record as results arrive,
// resumes where an earlier run's output stops, and puts failed records in a
// side file instead of stopping.
package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MaxLineBytes bounds one input line (JSONL) or record (JSON, CSV).
const MaxLineBytes = 16 << 20

// Record is one input record.
type Record struct {
	// ID identifies the record: its id field, else "<file>:<line>" (for a
	// JSON array, "<file>#<index>"). Results are matched to records by ID.
	ID string
	// File and Line locate the record (Line is the 1-based line, or the
	// 0-based index in a JSON array).
	File string
	Line int
	// Fields are the record's fields.
	Fields map[string]any
}

// String returns the field name as text ("" when missing or not a scalar).
func (r Record) String(name string) (string, bool) {
	switch v := r.Fields[name].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// Names returns the record's field names, sorted.
func (r Record) Names() []string {
	out := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// LineError is an input record that could not be read; the run reports it
// and goes on.
type LineError struct {
	File string
	Line int
	Err  error
}

// Error implements error.
func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// Format is an input format.
type Format string

// Input formats.
const (
	JSONL Format = "jsonl"
	JSON  Format = "json"
	CSV   Format = "csv"
)

// FormatOf returns the format named by typ ("" = from the file extension).
func FormatOf(path, typ string) (Format, error) {
	if typ == "" {
		typ = strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
		if typ == "ndjson" {
			typ = "jsonl"
		}
	}
	switch f := Format(strings.ToLower(typ)); f {
	case JSONL, JSON, CSV:
		return f, nil
	}
	return "", fmt.Errorf("%s: unknown dataset type %q (want json, jsonl or csv; use --dataset-type)", path, typ)
}

// Source is a dataset file.
type Source struct {
	Path    string
	Format  Format
	IDField string // field holding the record id; "" = none
}

// Records streams the records of s. A record that cannot be read is yielded
// as a *[LineError] and the stream goes on; any other error ends it.
func (s Source) Records() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		f, err := os.Open(s.Path)
		if err != nil {
			yield(Record{}, fmt.Errorf("dataset: %w", err))
			return
		}
		defer f.Close()
		name := filepath.Base(s.Path)
		withID := func(r Record) Record {
			if s.IDField != "" {
				if v, ok := r.String(s.IDField); ok && v != "" {
					r.ID = v
				}
			}
			return r
		}
		switch s.Format {
		case JSON:
			s.json(f, name, func(r Record, err error) bool { return yield(withID(r), err) })
		case CSV:
			s.csv(f, name, func(r Record, err error) bool { return yield(withID(r), err) })
		default:
			s.jsonl(f, name, func(r Record, err error) bool { return yield(withID(r), err) })
		}
	}
}

func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if d.More() {
		return nil, errors.New("invalid JSON: more than one value on the line")
	}
	return m, nil
}

func (s Source) jsonl(r io.Reader, name string, yield func(Record, error) bool) {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, tooLong, err := readLine(br, MaxLineBytes)
		if err == io.EOF && len(b) == 0 && !tooLong {
			return
		}
		if err != nil && err != io.EOF {
			yield(Record{}, fmt.Errorf("%s:%d: %w", name, line, err))
			return
		}
		switch {
		case tooLong:
			if !yield(Record{File: name, Line: line}, &LineError{name, line, fmt.Errorf("line longer than %d bytes", MaxLineBytes)}) {
				return
			}
		case len(bytes.TrimSpace(b)) == 0:
		default:
			m, derr := decodeObject(b)
			if derr != nil {
				if !yield(Record{File: name, Line: line}, &LineError{name, line, derr}) {
					return
				}
			} else if !yield(Record{ID: fmt.Sprintf("%s:%d", name, line), File: name, Line: line, Fields: m}, nil) {
				return
			}
		}
		if err == io.EOF {
			return
		}
	}
}

// readLine reads one line without its newline, at most limit bytes; a
// longer line is consumed and reported with tooLong.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > limit+1 {
			tooLong = true
		} else {
			buf = append(buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		buf = bytes.TrimRight(buf, "\r\n")
		if tooLong {
			buf = nil
		}
		return buf, tooLong, err
	}
}

func (s Source) json(r io.Reader, name string, yield func(Record, error) bool) {
	var d *json.Decoder
	d = json.NewDecoder(&recordLimit{r: r, at: func() int64 { return d.InputOffset() }})
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		yield(Record{}, fmt.Errorf("%s: invalid JSON: %w", name, err))
		return
	}
	if tok != json.Delim('[') {
		yield(Record{}, fmt.Errorf("%s: want a JSON array of objects", name))
		return
	}
	for i := 0; d.More(); i++ {
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			if !errors.Is(err, errRecordTooLong) {
				err = fmt.Errorf("invalid JSON: %w", err)
			}
			yield(Record{}, fmt.Errorf("%s: record %d: %w", name, i, err))
			return
		}
		m, err := decodeObject(raw)
		if err != nil {
			if !yield(Record{File: name, Line: i}, &LineError{name, i, err}) {
				return
			}
			continue
		}
		if !yield(Record{ID: fmt.Sprintf("%s#%d", name, i), File: name, Line: i, Fields: m}, nil) {
			return
		}
	}
}

func (s Source) csv(r io.Reader, name string, yield func(Record, error) bool) {
	var start int64 // offset of the record being read: one may span lines
	cr := csv.NewReader(bufio.NewReaderSize(&recordLimit{r: r, at: func() int64 { return start }}, 64<<10))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	header, err := cr.Read()
	if err != nil {
		yield(Record{}, fmt.Errorf("%s: reading the CSV header: %w", name, err))
		return
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	for {
		start = cr.InputOffset()
		row, err := cr.Read()
		line, _ := cr.FieldPos(0)
		if err == io.EOF {
			return
		}
		if errors.Is(err, errRecordTooLong) {
			yield(Record{}, fmt.Errorf("%s:%d: %w", name, line, err))
			return
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if !yield(Record{File: name, Line: pe.StartLine}, &LineError{name, pe.StartLine, pe.Err}) {
				return
			}
			continue
		}
		if err != nil {
			yield(Record{}, fmt.Errorf("%s: %w", name, err))
			return
		}
		if len(row) != len(header) {
			if !yield(Record{File: name, Line: line}, &LineError{name, line, fmt.Errorf("%d fields, the header has %d", len(row), len(header))}) {
				return
			}
			continue
		}
		m := make(map[string]any, len(header))
		for i, h := range header {
			m[h] = row[i]
		}
		if !yield(Record{ID: fmt.Sprintf("%s:%d", name, line), File: name, Line: line, Fields: m}, nil) {
			return
		}
	}
}

// errRecordTooLong ends a JSON or CSV stream whose record outgrows
// MaxLineBytes: the decoders buffer a whole record, so it is not skippable.
var errRecordTooLong = fmt.Errorf("record longer than %d bytes", MaxLineBytes)

// recordLimit bounds what a decoder buffers past the start of the record
// it is reading (at): a JSON element or CSV record can span the whole file
// otherwise.
type recordLimit struct {
	r  io.Reader
	n  int64        // bytes read so far
	at func() int64 // offset where the current record starts
}

func (l *recordLimit) Read(p []byte) (int, error) {
	room := MaxLineBytes + 1 - (l.n - l.at())
	if room <= 0 {
		return 0, errRecordTooLong
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// Count returns the number of records of s (malformed ones included), for
// progress; it streams the file.
func (s Source) Count() int {
	n := 0
	for _, err := range s.Records() {
		var le *LineError
		if err != nil && !errors.As(err, &le) {
			break
		}
		n++
	}
	return n
}
