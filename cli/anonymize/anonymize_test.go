package anonymize

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	piimasker "github.com/llmrouter/llm-router/plugins/pii_masker"
)

func TestMask(t *testing.T) {
	in := "Write to jan.kowalski@example.com or call +48 600 700 800.\nAgain: jan.kowalski@example.com\n"
	tests := []struct {
		name       string
		o          Options
		want       string
		wantMapped int
	}{
		{"all tags, one session across lines", Options{},
			"Write to {EMAIL_1} or call {PHONE_INTERNATIONAL_2}.\nAgain: {EMAIL_1}\n", 2},
		{"only e-mail", Options{Only: []string{"email"}},
			"Write to {EMAIL_1} or call +48 600 700 800.\nAgain: {EMAIL_1}\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			m, err := Mask(context.Background(), strings.NewReader(in), &out, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want || len(m) != tt.wantMapped || m["EMAIL_1"] != "jan.kowalski@example.com" {
				t.Errorf("got %q %v", out.String(), m)
			}
		})
	}
	if _, err := Mask(context.Background(), strings.NewReader(in), &strings.Builder{}, Options{Only: []string{"NOPE"}}); err == nil {
		t.Error("unknown tag accepted")
	}
}

// With a PII service the fast-masked text goes to it, and both mappings
// are returned.
func TestMaskWithPIIService(t *testing.T) {
	var got []string
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/maskers/pii" {
			http.NotFound(w, r)
			return
		}
		var req struct{ Text string }
		json.NewDecoder(r.Body).Decode(&req)
		got = append(got, req.Text)
		json.NewEncoder(w).Encode(map[string]any{
			"anonymized": map[string]string{"text": strings.ReplaceAll(req.Text, "Jan Kowalski", "{PERSON_1}")},
			"mappings":   map[string]string{"{PERSON_1}": "Jan Kowalski"},
		})
	}))
	defer svc.Close()
	pm, err := piimasker.New(piimasker.Config{Host: svc.URL, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	var out strings.Builder
	m, err := Mask(context.Background(), strings.NewReader("Jan Kowalski, jan@example.com\n"), &out, Options{PII: pm})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "{PERSON_1}, {EMAIL_1}\n" || m["EMAIL_1"] != "jan@example.com" || m["{PERSON_1}"] != "Jan Kowalski" {
		t.Errorf("got %q %v", out.String(), m)
	}
	if len(got) != 1 || strings.Contains(got[0], "jan@example.com") {
		t.Errorf("the service received %q: fast_masker should run first", got)
	}
}
