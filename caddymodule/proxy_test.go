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
