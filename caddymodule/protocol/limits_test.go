package protocol

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// endlessLine is a stream that starts a line and never ends it.
type endlessLine struct {
	prefix string
	n      int64 // bytes handed out
}

func (e *endlessLine) Read(p []byte) (int, error) {
	k := 0
	if e.n < int64(len(e.prefix)) {
		k = copy(p, e.prefix[e.n:])
	}
	for i := k; i < len(p); i++ {
		p[i] = 'a'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// A line without an end (a provider sending 1 GB with no newline) stops
// the SSE and NDJSON readers at MaxLine with ErrLineTooLong, an upstream
// error, having read no more than MaxLine and one buffer.
func TestEndlessLine(t *testing.T) {
	tests := []struct {
		name string
		next func(r io.Reader) error
	}{
		{"sse", func(r io.Reader) error { _, _, err := NewSSEReader(r).Next(); return err }},
		{"ndjson", func(r io.Reader) error { _, err := NewNDJSONReader(r).Next(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &endlessLine{prefix: `data: {"choices":[{"delta":{"content":"`}
			err := tt.next(r)
			if !errors.Is(err, ErrLineTooLong) || !errors.Is(err, ErrUpstream) {
				t.Fatalf("err %v, want ErrLineTooLong and ErrUpstream", err)
			}
			if r.n > MaxLine+4096 {
				t.Fatalf("read %d bytes of one line, bound %d", r.n, MaxLine)
			}
		})
	}
}

// An SSE event whose data lines together pass MaxLine is refused too.
func TestSSEDataTooLong(t *testing.T) {
	line := "data: " + strings.Repeat("a", 1<<20) + "\n"
	r := io.MultiReader(strings.NewReader(strings.Repeat(line, MaxLine>>20+2)), strings.NewReader("\n"))
	if _, _, err := NewSSEReader(r).Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err %v, want ErrLineTooLong", err)
	}
}
