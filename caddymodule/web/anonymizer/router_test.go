package anonymizer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDeltaWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	d := newDeltaWriter(rec)
	d.Header().Set("Content-Type", "text/event-stream")
	d.WriteHeader(http.StatusOK)
	stream := "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"Dzień \"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"dobry\"}}]}\r\n\r\n" +
		": comment\n\n" +
		"data: {\"error\":{\"message\":\"provider died\"}}\n\n" +
		"data: [DONE]\n\n"
	// Written in awkward pieces, as a stream arrives.
	for i := 0; i < len(stream); i += 7 {
		if _, err := d.Write([]byte(stream[i:min(i+7, len(stream))])); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := rec.Body.String(), "Dzień dobry\n[provider died]"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
}

func TestDeltaWriterKeepsErrorAnswer(t *testing.T) {
	rec := httptest.NewRecorder()
	d := newDeltaWriter(rec)
	d.WriteHeader(http.StatusNotFound)
	_, _ = d.Write([]byte(`{"error":{"message":"model 'x' not found"}}`))
	if d.wrote || rec.Body.Len() != 0 {
		t.Fatal("an error answer reached the client as text")
	}
	if m := routerError(d.errBuf.Bytes()); m != "model 'x' not found" {
		t.Fatalf("routerError = %q", m)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/anonymize/chat":        "/anonymize/chat",
		"/anonymize/chat?x=1":    "/anonymize/chat?x=1",
		"/anonymize":             "/anonymize",
		"":                       "/anonymize/",
		"/v1/models":             "/anonymize/",
		"//evil.example/":        "/anonymize/",
		"https://evil.example/":  "/anonymize/",
		"/anonymizeX":            "/anonymize/",
		"/\\evil.example":        "/anonymize/",
		"javascript:alert(1)":    "/anonymize/",
		"/anonymize/../v1/model": "/anonymize/",
		"/anonymize/./chat":      "/anonymize/chat",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecureCookieHosts(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:8080": true, "127.0.0.1:1": true, "[::1]:80": true, "router.example:8080": false, "10.0.0.5": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		if got := secure(r); got != want {
			t.Errorf("secure(%s) = %v", host, got)
		}
	}
}
