package llmtest

import (
	"io"
	"net/http"
	"sync/atomic"
)

// Faults of a broken or hostile provider (OpenAI server).
const (
	// HugeAnswer answers 200 with a chat completion whose content never
	// ends: HugeSize bytes in all, with no Content-Length, generated as they
	// are sent (the server holds none of it).
	HugeAnswer Fault = iota + 200
	// HugeError answers 500 with an error body of HugeSize bytes, generated
	// as it is sent.
	HugeError
	// NotJSON answers 200 with a body that is not JSON: an HTML error page
	// by default, or what SetRawAnswer set.
	NotJSON
	// HugeLine answers a streamed request with an event stream whose first
	// data line never ends (HugeSize bytes without a newline).
	HugeLine
)

// DefaultHugeSize is the size of a HugeAnswer or HugeError body (10 GB).
const DefaultHugeSize int64 = 10 << 30

// hostile is the state of the hostile faults.
type hostile struct {
	size    atomic.Int64 // 0: DefaultHugeSize
	sent    atomic.Int64
	active  atomic.Int64
	rawType atomic.Pointer[string]
	raw     atomic.Pointer[[]byte]
}

// SetHugeSize sets the size of the bodies HugeAnswer and HugeError send.
func (s *OpenAI) SetHugeSize(n int64) { s.hostile.size.Store(n) }

// HugeSent returns how many bytes of huge bodies the server has sent.
func (s *OpenAI) HugeSent() int64 { return s.hostile.sent.Load() }

// HugeActive returns how many huge bodies the server is sending right now:
// a body ends when all of it is sent or the client closed the connection.
func (s *OpenAI) HugeActive() int64 { return s.hostile.active.Load() }

// SetRawAnswer sets the Content-Type and body NotJSON answers with.
func (s *OpenAI) SetRawAnswer(contentType string, body []byte) {
	s.hostile.rawType.Store(&contentType)
	s.hostile.raw.Store(&body)
}

// serveHostile answers with a hostile fault; false when f is not one.
func (s *OpenAI) serveHostile(w http.ResponseWriter, f Fault) bool {
	if f == HugeLine {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		s.sendHuge(w, `data: {"id":"chatcmpl-huge","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"`, s.hugeSize())
		return true
	}
	size := s.hugeSize()
	switch f {
	case HugeAnswer:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		s.sendHuge(w, `{"id":"chatcmpl-huge","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"`, size)
	case HugeError:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		s.sendHuge(w, `{"error":{"type":"server_error","param":null,"code":null,"message":"`, size)
	case NotJSON:
		ct, body := "text/html; charset=utf-8", []byte("<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>\n")
		if p := s.hostile.rawType.Load(); p != nil {
			ct = *p
		}
		if p := s.hostile.raw.Load(); p != nil {
			body = *p
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	default:
		return false
	}
	return true
}

func (s *OpenAI) hugeSize() int64 {
	if n := s.hostile.size.Load(); n > 0 {
		return n
	}
	return DefaultHugeSize
}

// sendHuge writes prefix and then 'a's up to size bytes in all, until the
// client stops reading.
func (s *OpenAI) sendHuge(w http.ResponseWriter, prefix string, size int64) {
	s.hostile.active.Add(1)
	defer s.hostile.active.Add(-1)
	n, _ := io.WriteString(w, prefix)
	s.hostile.sent.Add(int64(n))
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = 'a'
	}
	for left := size - int64(n); left > 0; {
		m, err := w.Write(buf[:min(int64(len(buf)), left)])
		s.hostile.sent.Add(int64(m))
		left -= int64(m)
		if err != nil {
			return
		}
	}
}
