package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MaxLine is the longest line LineReader accepts (32 MiB, as the official SDKs).
const MaxLine = 32 << 20

// ErrLineTooLong is returned for a line longer than MaxLine.
var ErrLineTooLong = errors.New("protocol: line too long")

// LineReader reads lines ending in LF, CRLF or (with CR set) a lone CR, without
// buffering more than one line plus one read. The returned slice is valid until
// the next call.
type LineReader struct {
	r      io.Reader
	buf    []byte
	start  int
	end    int
	err    error
	pooled *[]byte // the buffer from lineBufs (buf may have outgrown it)
	cr     bool    // accept a lone CR as a line end (SSE)
	skipLF bool    // the previous line ended in CR: drop a leading LF
}

// NewLineReader returns a LineReader over r. With cr, a lone CR ends a line too.
func NewLineReader(r io.Reader, cr bool) *LineReader {
	bp := lineBufs.Get().(*[]byte)
	return &LineReader{r: r, buf: *bp, pooled: bp, cr: cr}
}

// lineBufs holds the 4 KiB buffers of released line readers: a translated
// stream would otherwise allocate (and zero) one per request.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// errReleased is what a released LineReader returns.
var errReleased = errors.New("line reader released")

// Release hands the reader's buffer back for reuse. Neither the reader nor
// any line it returned may be used afterwards (reads return an error).
func (l *LineReader) Release() {
	if l.pooled != nil {
		lineBufs.Put(l.pooled)
	}
	*l = LineReader{err: errReleased}
}

// ReadLine returns the next line without its terminator. A last line without
// a terminator is returned at EOF; then io.EOF.
func (l *LineReader) ReadLine() ([]byte, error) {
	scanned, empty := 0, 0
	for {
		if l.skipLF && l.start < l.end {
			if l.buf[l.start] == '\n' {
				l.start++
			}
			l.skipLF = false
		}
		data := l.buf[l.start:l.end]
		i := -1
		for k := scanned; k < len(data); k++ {
			if c := data[k]; c == '\n' || (c == '\r' && l.cr) {
				i = k
				break
			}
		}
		if i >= 0 {
			line := data[:i]
			if data[i] == '\r' {
				l.skipLF = true
			} else if i > 0 && data[i-1] == '\r' {
				line = data[:i-1]
			}
			l.start += i + 1
			return line, nil
		}
		scanned = len(data)
		if l.err != nil {
			if len(data) > 0 {
				l.start = l.end
				if len(data) > 0 && data[len(data)-1] == '\r' {
					data = data[:len(data)-1]
				}
				return data, nil
			}
			return nil, l.err
		}
		// make room
		if l.start > 0 && l.end == len(l.buf) {
			copy(l.buf, l.buf[l.start:l.end])
			l.end -= l.start
			l.start = 0
		}
		if l.end == len(l.buf) {
			if len(l.buf) >= MaxLine {
				return nil, ErrLineTooLong
			}
			nb := make([]byte, min(2*len(l.buf), MaxLine))
			copy(nb, l.buf[l.start:l.end])
			l.end -= l.start
			l.start = 0
			l.buf = nb
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if err != nil {
			l.err = err
		} else if n == 0 {
			empty++
			if empty > 100 {
				l.err = io.ErrNoProgress
			}
		}
	}
}

// SSEReader parses a server-sent event stream (WHATWG rules: BOM, CR/LF/CRLF,
// comments, multi-line data, event names).
type SSEReader struct {
	lr    *LineReader
	event []byte
	data  []byte
	first bool
}

// NewSSEReader returns an SSEReader over r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{lr: NewLineReader(r, true), first: true}
}

// Next returns the next event's name (empty = "message") and data. The
// slices are valid until the next call. At the end of the stream it returns
// io.EOF; an event not terminated by a blank line is discarded.
func (s *SSEReader) Next() (event, data []byte, err error) {
	s.event = s.event[:0]
	s.data = s.data[:0]
	hasData := false
	for {
		line, err := s.lr.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, io.EOF
			}
			return nil, nil, fmt.Errorf("%w: reading event stream: %w", ErrUpstream, err)
		}
		if s.first {
			s.first = false
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if len(line) == 0 {
			if !hasData {
				s.event = s.event[:0]
				continue
			}
			return s.event, s.data, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			s.event = append(s.event[:0], value...)
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
		}
		if len(s.data) > MaxLine {
			return nil, nil, fmt.Errorf("%w: %w", ErrUpstream, ErrLineTooLong)
		}
	}
}

// Release hands the reader's buffer back for reuse; see LineReader.Release.
func (s *SSEReader) Release() { s.lr.Release() }

// NDJSONReader reads newline-delimited JSON records, skipping blank lines.
type NDJSONReader struct {
	lr *LineReader
}

// NewNDJSONReader returns an NDJSONReader over r.
func NewNDJSONReader(r io.Reader) *NDJSONReader {
	return &NDJSONReader{lr: NewLineReader(r, false)}
}

// Release hands the reader's buffer back for reuse; see LineReader.Release.
func (n *NDJSONReader) Release() { n.lr.Release() }

// Next returns the next non-blank line (valid until the next call), or io.EOF.
func (n *NDJSONReader) Next() ([]byte, error) {
	for {
		line, err := n.lr.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: reading NDJSON stream: %w", ErrUpstream, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			return line, nil
		}
	}
}
