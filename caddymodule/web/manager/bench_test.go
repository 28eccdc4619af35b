package manager

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkPassThrough is what the app adds to every API request of a
// site that holds the directive (the embedded default does): enabled or
// not, a request outside /manager goes straight to the next handler.
func BenchmarkPassThrough(b *testing.B) {
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	w := httptest.NewRecorder()
	for _, on := range []bool{false, true} {
		h := &Handler{Enabled: on}
		name := "disabled"
		if on {
			name = "enabled"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.ServeHTTP(w, r, next)
			}
		})
	}
}
