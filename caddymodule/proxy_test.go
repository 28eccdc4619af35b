package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("x", 1000)
	tests := []struct {
		name    string
		r       func() io.Reader
		n       int64
		want    string
		wantErr error
	}{
		{"exact", func() io.Reader { return strings.NewReader(body) }, 1000, body, nil},
		{"unknown length", func() io.Reader { return strings.NewReader(body) }, -1, body, nil},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }, 1000, body, nil},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) }, 1000, body, nil},
		{"longer than announced", func() io.Reader { return strings.NewReader(body + "tail") }, 1000, body + "tail", nil},
		{"shorter than announced", func() io.Reader { return strings.NewReader(body[:10]) }, 1000, "", io.ErrUnexpectedEOF},
		{"empty with length", func() io.Reader { return strings.NewReader("") }, 5, "", io.ErrUnexpectedEOF},
		{"read error", func() io.Reader { return iotest.TimeoutReader(strings.NewReader(body)) }, 2000, "", iotest.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllSized(tt.r(), tt.n)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

// The size limit still holds when the body is read by its announced length.
func TestReadAllSizedLimit(t *testing.T) {
	w := httptest.NewRecorder()
	r := io.NopCloser(bytes.NewReader(make([]byte, 100)))
	_, err := readAllSized(http.MaxBytesReader(w, r, 50), 100)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Fatalf("err %v, want a MaxBytesError", err)
	}
}

func BenchmarkReadAllSized(b *testing.B) {
	body := []byte(strings.Repeat("x", 1500))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readAllSized(bytes.NewReader(body), int64(len(body))); err != nil {
			b.Fatal(err)
		}
	}
}

// The relay reads through 4 KiB while data comes in bursts and holds only
// 512 bytes while it waits on a trickling provider.
func TestRelayBuf(t *testing.T) {
	tests := []struct {
		name  string
		reads []int // bytes each read returns (capped at the buffer)
		sizes []int // buffer length offered for each read
	}{
		{"burst then trickle", []int{4096, 300, 200, 0}, []int{4096, 4096, 512, 512}},
		{"short first read", []int{100, 120, 512, 4096, 10}, []int{4096, 512, 512, 4096, 4096}},
		{"empty reads", []int{0, 0}, []int{4096, 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rb relayBuf
			defer rb.release()
			buf, n := rb.next(0), 0
			for i, want := range tt.sizes {
				if i > 0 {
					buf = rb.next(n)
				}
				if len(buf) != want {
					t.Fatalf("read %d got a %d-byte buffer, want %d", i, len(buf), want)
				}
				if (rb.big != nil) != (len(buf) == 4096) {
					t.Fatalf("read %d: large buffer held %v with a %d-byte buffer", i, rb.big != nil, len(buf))
				}
				n = min(tt.reads[i], len(buf))
			}
		})
	}
}

// The events of one provider read reach the client in one Write, in order,
// and a failed Write is reported.
func TestBatchWriter(t *testing.T) {
	var calls []string
	w := writerFunc(func(p []byte) (int, error) { calls = append(calls, string(p)); return len(p), nil })
	b := &batchWriter{w: w}
	for _, ev := range []string{"data: 1\n\n", "data: 2\n\n"} {
		if _, err := b.Write([]byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if len(calls) != 0 {
		t.Fatalf("written before the flush: %q", calls)
	}
	if err := b.writeOut(); err != nil || len(calls) != 1 || calls[0] != "data: 1\n\ndata: 2\n\n" {
		t.Fatalf("writeOut: %v, calls %q", err, calls)
	}
	if err := b.writeOut(); err != nil || len(calls) != 1 {
		t.Fatalf("an empty batch was written: %v %q", err, calls)
	}
	big := bytes.Repeat([]byte("x"), 10<<10)
	_, _ = b.Write(big)
	if err := b.writeOut(); err != nil || len(calls) != 2 || len(calls[1]) != len(big) || b.buf != nil {
		t.Fatalf("burst: %v, %d calls, buffer kept %d", err, len(calls), cap(b.buf))
	}
	gone := errors.New("broken pipe")
	b = &batchWriter{w: writerFunc(func([]byte) (int, error) { return 0, gone })}
	_, _ = b.Write([]byte("data: x\n\n"))
	if err := b.writeOut(); !errors.Is(err, gone) {
		t.Fatalf("writeOut error %v, want %v", err, gone)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
