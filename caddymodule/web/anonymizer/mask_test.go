package anonymizer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/plugins"
	fastmasker "github.com/llmrouter/llm-router/plugins/fast_masker"
)

// stubPII masks the word "Kowalski" as a PII service would, or fails.
type stubPII struct{ err error }

func (s stubPII) MaskTexts(_ context.Context, texts []string) ([]string, map[string]string, error) {
	if s.err != nil {
		return nil, nil, s.err
	}
	out := make([]string, len(texts))
	mp := map[string]string{}
	for i, t := range texts {
		if strings.Contains(t, "Kowalski") {
			mp["PII_1"] = "Kowalski"
		}
		out[i] = strings.ReplaceAll(t, "Kowalski", "{PII_1}")
	}
	return out, mp, nil
}

const plText = "Jan Kowalski, PESEL 44051401359, IBAN PL61109010140000071219812874, jan.kowalski@example.com, tel. 600 123 456"

func TestMask(t *testing.T) {
	down := &plugins.ServiceError{Service: "pii_masker", Kind: "unreachable"}
	ms := Maskers{Fast: fastmasker.New(), PII: stubPII{}}
	for _, tc := range []struct {
		name, algo string
		maskers    Maskers
		wantErr    error
		want       []string // values that must be gone from the text and present in the mapping
		keep       string   // a value that stays
	}{
		{name: "fast", algo: "fast", maskers: ms, want: []string{"44051401359", "PL61109010140000071219812874", "jan.kowalski@example.com", "600 123 456"}, keep: "Kowalski,"},
		{name: "pii", algo: "pii_masking", maskers: ms, want: []string{"Kowalski"}, keep: "44051401359"},
		{name: "pii short name", algo: "pii", maskers: ms, want: []string{"Kowalski"}, keep: "44051401359"},
		{name: "both", algo: "fast+pii", maskers: ms, want: []string{"Kowalski", "44051401359", "PL61109010140000071219812874", "jan.kowalski@example.com"}},
		{name: "both, + decoded as space", algo: "fast pii", maskers: ms, want: []string{"Kowalski", "44051401359"}},
		{name: "unknown", algo: "rot13", maskers: ms, wantErr: ErrUnknownAlgorithm},
		{name: "no pii service", algo: "fast+pii", maskers: Maskers{Fast: fastmasker.New()}, wantErr: ErrNoPIIService},
		{name: "pii down", algo: "pii_masking", maskers: Maskers{Fast: fastmasker.New(), PII: stubPII{err: down}}, wantErr: plugins.ErrServiceUnavailable},
		{name: "pii down after nothing", algo: "fast+pii", maskers: Maskers{Fast: fastmasker.New(), PII: stubPII{err: down}}, wantErr: plugins.ErrServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.maskers.Mask(context.Background(), tc.algo, []string{plText})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if res.Texts != nil {
					t.Fatalf("a failed masking returned texts: %q", res.Texts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			values := map[string]bool{}
			for k, v := range res.Mappings {
				if !strings.HasPrefix(k, "{") || !strings.HasSuffix(k, "}") {
					t.Errorf("mapping key %q is not in {KEY} form", k)
				}
				if !strings.Contains(res.Texts[0], k) {
					t.Errorf("placeholder %s is not in the text %q", k, res.Texts[0])
				}
				values[v] = true
			}
			for _, w := range tc.want {
				if strings.Contains(res.Texts[0], w) {
					t.Errorf("%q still in the masked text %q", w, res.Texts[0])
				}
				if !values[w] {
					t.Errorf("%q not among the mapping's values %v", w, res.Mappings)
				}
			}
			if tc.keep != "" && !strings.Contains(res.Texts[0], tc.keep) {
				t.Errorf("%q should stay in %q", tc.keep, res.Texts[0])
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"tekst", nil},
		{"", ErrEmptyText},
		{" \n\t", ErrEmptyText},
		{"PNG\x00\x01", ErrNotText},
		{"\xff\xfe", ErrNotText},
	} {
		if err := CheckText(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("CheckText(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestSegments(t *testing.T) {
	mp := map[string]string{"{EMAIL_1}": "a@b.pl", "{PII_2}": "Jan"}
	got := Segments("{PII_2} pisze z {EMAIL_1} {nie} {EMAIL_1}{", mp)
	want := []Segment{
		{"{PII_2}", true}, {" pisze z ", false}, {"{EMAIL_1}", true}, {" {nie} ", false}, {"{EMAIL_1}", true}, {"{", false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if s := Segments("", mp); len(s) != 0 {
		t.Fatalf("empty text: %+v", s)
	}
}

func TestRowsOrder(t *testing.T) {
	r := Result{Texts: []string{"b {B_2} a {A_1}"}, Mappings: map[string]string{"{A_1}": "a", "{B_2}": "b", "{Z_9}": "z"}}
	var got []string
	for _, row := range r.Rows() {
		got = append(got, row.Placeholder)
	}
	if fmt.Sprint(got) != "[{B_2} {A_1} {Z_9}]" {
		t.Fatalf("rows in order %v", got)
	}
}
