package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/shape"
)

func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("x", 1000)
	big := strings.Repeat("y", 3<<20) // several chunks when its length is unknown
	cut := errors.New("cut")
	tests := []struct {
		name    string
		r       func() io.Reader
		n       int64
		limit   int64
		want    string
		wantErr error
	}{
		{"exact", func() io.Reader { return strings.NewReader(body) }, 1000, 1 << 20, body, nil},
		{"unknown length", func() io.Reader { return strings.NewReader(body) }, -1, 1 << 20, body, nil},
		{"unknown length, several chunks", func() io.Reader { return strings.NewReader(big) }, -1, 4 << 20, big, nil},
		{"empty, unknown length", func() io.Reader { return strings.NewReader("") }, -1, 1 << 20, "", nil},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }, 1000, 1 << 20, body, nil},
		{"one byte at a time, unknown length", func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }, -1, 1 << 20, body, nil},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) }, 1000, 1 << 20, body, nil},
		{"longer than announced", func() io.Reader { return strings.NewReader(body + "tail") }, 1000, 1 << 20, body + "tail", nil},
		{"shorter than announced", func() io.Reader { return strings.NewReader(body[:10]) }, 1000, 1 << 20, "", io.ErrUnexpectedEOF},
		{"empty with length", func() io.Reader { return strings.NewReader("") }, 5, 1 << 20, "", io.ErrUnexpectedEOF},
		{"read error", func() io.Reader { return iotest.TimeoutReader(strings.NewReader(body)) }, 2000, 1 << 20, "", iotest.ErrTimeout},
		{"cut, unknown length", func() io.Reader { return io.MultiReader(strings.NewReader(body), iotest.ErrReader(cut)) }, -1, 1 << 20, "", cut},
		{"cut chunked body", func() io.Reader {
			return io.MultiReader(strings.NewReader(body), iotest.ErrReader(io.ErrUnexpectedEOF))
		}, -1, 1 << 20, "", io.ErrUnexpectedEOF},
		{"exactly the limit", func() io.Reader { return strings.NewReader(body) }, 1000, 1000, body, nil},
		{"exactly the limit, unknown length", func() io.Reader { return strings.NewReader(body) }, -1, 1000, body, nil},
		{"announced over the limit", func() io.Reader { return strings.NewReader(body) }, 1000, 999, "", errTooLarge},
		{"over the limit, unknown length", func() io.Reader { return strings.NewReader(body) }, -1, 999, "", errTooLarge},
		{"longer than announced, over the limit", func() io.Reader { return strings.NewReader(body + "tail") }, 1000, 1002, "", errTooLarge},
		{"endless, unknown length", func() io.Reader { return endless{} }, -1, 3 << 20, "", errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllSized(tt.r(), tt.n, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Past the limit the reading stops: at most limit+1 bytes are read from an
// endless body, and none from one announced too long.
func TestReadAllSizedStopsAtLimit(t *testing.T) {
	for _, n := range []int64{-1, 100 << 20} {
		cr := &countingReader{r: endless{}}
		if _, err := readAllSized(cr, n, 5<<20); !errors.Is(err, errTooLarge) {
			t.Fatalf("n=%d: err %v, want errTooLarge", n, err)
		}
		if want := map[int64]int64{-1: 5<<20 + 1, 100 << 20: 0}[n]; cr.n != want {
			t.Fatalf("n=%d: read %d bytes, want %d", n, cr.n, want)
		}
	}
}

// The size limit still holds when the body is read by its announced length.
func TestReadAllSizedLimit(t *testing.T) {
	w := httptest.NewRecorder()
	r := io.NopCloser(bytes.NewReader(make([]byte, 100)))
	_, err := readAllSized(http.MaxBytesReader(w, r, 50), 100, 1<<20)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Fatalf("err %v, want a MaxBytesError", err)
	}
}

func BenchmarkReadAllSized(b *testing.B) {
	body := []byte(strings.Repeat("x", 1500))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readAllSized(bytes.NewReader(body), int64(len(body)), 64<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// A chunked answer (no Content-Length) of a typical size.
func BenchmarkReadAllSizedUnknown(b *testing.B) {
	body := []byte(strings.Repeat("x", 1500))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readAllSized(bytes.NewReader(body), -1, 64<<20); err != nil {
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

// eventReader yields one event per Read (an event longer than the buffer
// over several), the way a provider's body does. It leaves events as is.
type eventReader struct {
	events []string
	i, off int
}

func (e *eventReader) Read(p []byte) (int, error) {
	if e.i == len(e.events) {
		return 0, io.EOF
	}
	n := copy(p, e.events[e.i][e.off:])
	if e.off += n; e.off == len(e.events[e.i]) {
		e.i, e.off = e.i+1, 0
	}
	return n, nil
}

// source returns the events one per read, or all as one burst.
func source(events []string, burst bool) []string {
	if burst {
		return []string{strings.Join(events, "")}
	}
	return events
}

func sseEvents(n int) []string {
	ev := make([]string, 0, n+2)
	for i := range n {
		ev = append(ev, fmt.Sprintf("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token %d \"}}]}\n\n", i))
	}
	return append(ev, `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":8}}`+"\n\n", "data: [DONE]\n\n")
}

// The relay delivers every byte in order, flushes after every read, keeps
// the usage tail, and stops at once when the client goes away.
func TestRelay(t *testing.T) {
	for _, tt := range []struct {
		name    string
		burst   bool
		flushes int
	}{
		{"trickle", false, 202},
		{"burst", true, 0}, // one flush per 4 KiB read, then per leftover read
	} {
		t.Run(tt.name, func(t *testing.T) {
			events := sseEvents(200)
			var out bytes.Buffer
			flushes := 0
			tail := tailBuffer{max: 1 << 10}
			gone, err := relay(&out, func() error { flushes++; return nil }, &eventReader{events: source(events, tt.burst)}, &tail)
			if gone || !errors.Is(err, io.EOF) {
				t.Fatalf("relay: gone %v, err %v", gone, err)
			}
			if out.String() != strings.Join(events, "") {
				t.Fatal("relayed bytes differ from the provider's")
			}
			if tt.flushes > 0 && flushes != tt.flushes {
				t.Fatalf("%d flushes, want one per event (%d)", flushes, tt.flushes)
			}
			if u := usageFromStreamTail(tail.buf); u.Input != 3 || u.Output != 8 {
				t.Fatalf("tail usage %+v", u)
			}
		})
	}
	t.Run("client gone", func(t *testing.T) {
		src := &eventReader{events: sseEvents(10)}
		gone, err := relay(writerFunc(func([]byte) (int, error) { return 0, io.ErrClosedPipe }), func() error { return nil }, src, &tailBuffer{max: 64})
		if !gone || !errors.Is(err, io.ErrClosedPipe) || src.i != 1 {
			t.Fatalf("gone %v, err %v, %d events read", gone, err, src.i)
		}
	})
}

// BenchmarkRelay measures the passthrough relay per streamed response of
// 64 token events (op = one response), events arriving one per read or all
// at once.
func BenchmarkRelay(b *testing.B) {
	events := sseEvents(64)
	for _, burst := range []bool{false, true} {
		name := "trickle"
		if burst {
			name = "burst"
		}
		b.Run(name, func(b *testing.B) {
			evs := source(events, burst)
			b.ReportAllocs()
			for b.Loop() {
				src := eventReader{events: evs}
				tail := tailBuffer{max: 1 << 10}
				if _, err := relay(io.Discard, func() error { return nil }, &src, &tail); !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBatchWriter is one translated stream's output: a burst of 18
// events of about 200 bytes, written out together.
func BenchmarkBatchWriter(b *testing.B) {
	ev := []byte("data: " + strings.Repeat("x", 190) + "\n\n")
	b.ReportAllocs()
	b.SetBytes(int64(18 * len(ev)))
	for b.Loop() {
		bw := &batchWriter{w: io.Discard}
		for range 18 {
			_, _ = bw.Write(ev)
		}
		_ = bw.writeOut()
	}
}

// benchChatBodies are passthrough chat requests the size of the bench/
// load harness's (ASCII) and of a Polish prompt (non-ASCII text).
var benchChatBodies = []struct{ name, body string }{
	{"ascii", `{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` +
		strings.Repeat("Tell me about load balancing. ", 40) + `"}],"max_tokens":64,"temperature":0.2,"stream":false}`},
	{"polish", `{"model":"m","messages":[{"role":"system","content":"Jesteś pomocnym asystentem."},{"role":"user","content":"` +
		strings.Repeat("Opowiedz mi o równoważeniu obciążenia, proszę. ", 25) + `"}],"max_tokens":64,"temperature":0.2,"stream":false}`},
}

// BenchmarkPassthroughRequest is the request side of the passthrough path:
// the validating scan of a chat body, the checks before a provider is
// chosen and the rewrite of the model name (op = one request).
func BenchmarkPassthroughRequest(b *testing.B) {
	for _, bb := range benchChatBodies {
		b.Run(bb.name, func(b *testing.B) {
			body := []byte(bb.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				pr, err := parseChat(body, false)
				if err != nil {
					b.Fatal(err)
				}
				if err := shape.Check(protocol.OpenAIChat, pr.obj); err != nil {
					b.Fatal(err)
				}
				_ = pr.obj.Set("model", []byte(`"upstream-model"`))
			}
		})
	}
}
