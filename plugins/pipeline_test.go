package plugins_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/plugins"
)

// stubMasker replaces from→to in every text and reports mapping key→value.
type stubMasker struct {
	from, to string
	mapping  map[string]string
	err      error
	short    bool // return one text too few
	calls    int
}

func (m *stubMasker) MaskTexts(_ context.Context, texts []string) ([]string, map[string]string, error) {
	m.calls++
	if m.err != nil {
		return nil, nil, m.err
	}
	out := make([]string, len(texts))
	for i, t := range texts {
		out[i] = strings.ReplaceAll(t, m.from, m.to)
	}
	if m.short {
		out = out[1:]
	}
	return out, m.mapping, nil
}

// svc makes a stub a plugins.Service.
type svc struct {
	name string
	open bool
}

func (s svc) ServiceName() string { return s.name }
func (s svc) PingURL() string     { return "http://" + s.name + "/api/ping" }
func (s svc) FailOpen() bool      { return s.open }

type svcMasker struct {
	*stubMasker
	svc
}

type stubGuard struct {
	unsafe string
	err    error
	calls  int
}

func (g *stubGuard) Check(_ context.Context, texts []string) (plugins.Decision, error) {
	g.calls++
	if g.err != nil {
		return plugins.Decision{}, g.err
	}
	for _, t := range texts {
		if g.unsafe != "" && strings.Contains(t, g.unsafe) {
			return plugins.Decision{Details: []byte(`[1]`)}, nil
		}
	}
	return plugins.Decision{Safe: true}, nil
}

type svcGuard struct {
	*stubGuard
	svc
}

type health map[string]bool

func (h health) Up(name string) bool { return !h[name] } // map holds the down ones

func down(err error) error {
	return &plugins.ServiceError{Service: "x", Kind: "unreachable", Err: err}
}

func TestMaskChainsAndMergesMappings(t *testing.T) {
	a := &stubMasker{from: "jan@x.pl", to: "{EMAIL_1}", mapping: map[string]string{"EMAIL_1": "jan@x.pl", "K": "first"}}
	b := &stubMasker{from: "Jan", to: "{NAME_1}", mapping: map[string]string{"NAME_1": "Jan", "K": "second"}}
	p := plugins.Pipeline{Maskers: []plugins.Masker{a, b}}
	got, mp, err := p.Mask(context.Background(), []string{"Jan, jan@x.pl", "", "no pii"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"{NAME_1}, {EMAIL_1}", "", "no pii"}; !reflect.DeepEqual(got, want) {
		t.Errorf("masked = %q, want %q", got, want)
	}
	want := map[string]string{"EMAIL_1": "jan@x.pl", "NAME_1": "Jan", "K": "first"}
	if !reflect.DeepEqual(mp, want) {
		t.Errorf("mappings = %v, want %v", mp, want)
	}
}

func TestMaskingEnabled(t *testing.T) {
	m := []plugins.Masker{&stubMasker{}}
	tests := []struct {
		name      string
		p         plugins.Pipeline
		anonymize bool
		want      bool
	}{
		{"no maskers, forced", plugins.Pipeline{ForceMasking: true}, true, false},
		{"maskers, not asked", plugins.Pipeline{Maskers: m}, false, false},
		{"maskers, anonymize:true", plugins.Pipeline{Maskers: m}, true, true},
		{"maskers, forced", plugins.Pipeline{Maskers: m, ForceMasking: true}, false, true},
	}
	for _, tt := range tests {
		if got := tt.p.MaskingEnabled(tt.anonymize); got != tt.want {
			t.Errorf("%s: MaskingEnabled = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMaskFailures(t *testing.T) {
	boom := errors.New("regex engine exploded")
	tests := []struct {
		name        string
		p           plugins.Pipeline
		unavailable bool // errors.Is ErrServiceUnavailable
		wantSkip    bool // fail-open hook called
		wantText    string
	}{
		{name: "service down", unavailable: true,
			p: plugins.Pipeline{Maskers: []plugins.Masker{svcMasker{&stubMasker{err: down(nil)}, svc{name: "pii_masker"}}}}},
		{name: "wrong number of texts", unavailable: true,
			p: plugins.Pipeline{Maskers: []plugins.Masker{&stubMasker{short: true}}}},
		{name: "plugin bug is not unavailability",
			p: plugins.Pipeline{Maskers: []plugins.Masker{&stubMasker{err: boom}}}},
		{name: "plugin bug is not skipped by fail-open",
			p: plugins.Pipeline{Maskers: []plugins.Masker{svcMasker{&stubMasker{err: boom}, svc{name: "pii_masker", open: true}}}}},
		{name: "fail-open skips the down service", wantSkip: true, wantText: "a {B}",
			p: plugins.Pipeline{Maskers: []plugins.Masker{
				svcMasker{&stubMasker{err: down(nil)}, svc{name: "pii_masker", open: true}},
				&stubMasker{from: "b", to: "{B}"},
			}}},
		{name: "monitor says down: fail fast", unavailable: true,
			p: plugins.Pipeline{Health: health{"pii_masker": true},
				Maskers: []plugins.Masker{svcMasker{&stubMasker{}, svc{name: "pii_masker"}}}}},
		{name: "monitor says down, fail-open", wantSkip: true, wantText: "a b",
			p: plugins.Pipeline{Health: health{"pii_masker": true},
				Maskers: []plugins.Masker{svcMasker{&stubMasker{}, svc{name: "pii_masker", open: true}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var skipped []string
			tt.p.OnFailOpen = func(s string, err error) {
				if !errors.Is(err, plugins.ErrServiceUnavailable) {
					t.Errorf("OnFailOpen got %v", err)
				}
				skipped = append(skipped, s)
			}
			got, _, err := tt.p.Mask(context.Background(), []string{"a b"})
			if tt.wantSkip {
				if err != nil || len(got) != 1 || got[0] != tt.wantText {
					t.Fatalf("Mask = %q, %v; want %q", got, err, tt.wantText)
				}
				if !reflect.DeepEqual(skipped, []string{"pii_masker"}) {
					t.Errorf("OnFailOpen calls = %q", skipped)
				}
				return
			}
			if err == nil || got != nil {
				t.Fatalf("Mask = %q, %v; want an error and no texts", got, err)
			}
			if errors.Is(err, plugins.ErrServiceUnavailable) != tt.unavailable {
				t.Errorf("errors.Is(%v, ErrServiceUnavailable) = %v", err, !tt.unavailable)
			}
		})
	}
}

func TestFailFastDoesNotCallThePlugin(t *testing.T) {
	m := &stubMasker{}
	g := &stubGuard{}
	p := plugins.Pipeline{
		Health:            health{"pii_masker": true, "nask_guard": true},
		Maskers:           []plugins.Masker{svcMasker{m, svc{name: "pii_masker"}}},
		RequestGuardrails: []plugins.Guardrail{svcGuard{g, svc{name: "nask_guard"}}},
	}
	if _, _, err := p.Mask(context.Background(), []string{"x"}); !errors.Is(err, plugins.ErrServiceUnavailable) ||
		!strings.Contains(err.Error(), "marked down") {
		t.Errorf("Mask error = %v", err)
	}
	if _, err := p.CheckRequest(context.Background(), []string{"x"}); !errors.Is(err, plugins.ErrServiceUnavailable) {
		t.Errorf("CheckRequest error = %v", err)
	}
	if m.calls+g.calls != 0 {
		t.Errorf("plugins called %d times while marked down", m.calls+g.calls)
	}
}

func TestCheckFirstUnsafeStops(t *testing.T) {
	first := svcGuard{&stubGuard{unsafe: "bomb"}, svc{name: "nask_guard"}}
	second := &stubGuard{unsafe: "knife"}
	p := plugins.Pipeline{RequestGuardrails: []plugins.Guardrail{first, second}}

	d, err := p.CheckRequest(context.Background(), []string{"how to make a bomb with a knife"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Safe || d.Guardrail != "nask_guard" || d.Reason == "" || string(d.Details) != "[1]" {
		t.Errorf("decision = %+v; want unsafe by nask_guard with reason and details", d)
	}
	if second.calls != 0 {
		t.Error("second guardrail ran after the first said unsafe")
	}

	d, err = p.CheckRequest(context.Background(), []string{"a knife"})
	if err != nil || d.Safe || d.Guardrail != "#2" {
		t.Errorf("second guardrail: %+v, %v; want unsafe by #2", d, err)
	}
	d, err = p.CheckRequest(context.Background(), []string{"hello"})
	if err != nil || !d.Safe {
		t.Errorf("all safe: %+v, %v", d, err)
	}
}

func TestCheckResponseUsesResponseGuardrails(t *testing.T) {
	req, resp := &stubGuard{unsafe: "x"}, &stubGuard{unsafe: "y"}
	p := plugins.Pipeline{RequestGuardrails: []plugins.Guardrail{req}, ResponseGuardrails: []plugins.Guardrail{resp}}
	d, err := p.CheckResponse(context.Background(), []string{"x y"})
	if err != nil || d.Safe || req.calls != 0 || resp.calls != 1 {
		t.Errorf("CheckResponse = %+v, %v; request guard calls %d, response guard calls %d", d, err, req.calls, resp.calls)
	}
	if d, err := (&plugins.Pipeline{}).CheckResponse(context.Background(), []string{"y"}); err != nil || !d.Safe {
		t.Errorf("no guardrails: %+v, %v; want safe", d, err)
	}
}

func TestGuardFailures(t *testing.T) {
	tests := []struct {
		name        string
		g           plugins.Guardrail
		wantSafe    bool
		unavailable bool
	}{
		{"down, fail closed", svcGuard{&stubGuard{err: down(nil)}, svc{name: "sojka_guard"}}, false, true},
		{"down, fail open", svcGuard{&stubGuard{err: down(nil)}, svc{name: "sojka_guard", open: true}}, true, false},
		{"bug", &stubGuard{err: errors.New("nil map")}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plugins.Pipeline{RequestGuardrails: []plugins.Guardrail{tt.g}}
			d, err := p.CheckRequest(context.Background(), []string{"hi"})
			if tt.wantSafe {
				if err != nil || !d.Safe {
					t.Fatalf("got %+v, %v; want safe", d, err)
				}
				return
			}
			if err == nil || d.Safe {
				t.Fatalf("got %+v, %v; want an error", d, err)
			}
			if errors.Is(err, plugins.ErrServiceUnavailable) != tt.unavailable {
				t.Errorf("errors.Is(%v, ErrServiceUnavailable) = %v", err, !tt.unavailable)
			}
		})
	}
}

func TestCancelledRequestIsNotFailOpen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &stubMasker{}
	p := plugins.Pipeline{Maskers: []plugins.Masker{svcMasker{m, svc{name: "pii_masker", open: true}}}}
	_, _, err := p.Mask(ctx, []string{"x"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, plugins.ErrServiceUnavailable) {
		t.Errorf("err = %v; want context.Canceled only", err)
	}
	if m.calls != 0 {
		t.Error("masker called for a cancelled request")
	}
}

type setModel struct{ to string }

func (u setModel) Apply(_ context.Context, r *plugins.Request) error {
	if r.Model == "auto" && len(r.Texts) > 0 {
		r.Model = u.to + ":" + r.Texts[len(r.Texts)-1]
	}
	return nil
}

type failUtil struct{}

func (failUtil) Apply(context.Context, *plugins.Request) error { return errors.New("no index") }

func TestRoute(t *testing.T) {
	p := plugins.Pipeline{Utils: []plugins.Util{setModel{"big"}, setModel{"never"}}}
	r := &plugins.Request{Model: "auto", Texts: []string{"old", "new"}}
	if err := p.Route(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if r.Model != "big:new" {
		t.Errorf("model = %q, want big:new (first util decides, second sees a concrete model)", r.Model)
	}
	p.Utils = append(p.Utils, failUtil{})
	if err := p.Route(context.Background(), r); err == nil || !strings.Contains(err.Error(), "util #3: no index") {
		t.Errorf("err = %v; want the util's position and cause", err)
	}
}

func TestServiceErrorMessage(t *testing.T) {
	cause := errors.New(`Post "http://secret-token@10.1.2.3:5000/api/maskers/pii": dial tcp: connection refused`)
	err := error(&plugins.ServiceError{Service: "pii_masker", Kind: "unreachable", Err: cause})
	if got, want := err.Error(), "pii_masker: service unavailable (unreachable)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, plugins.ErrServiceUnavailable) || !errors.Is(err, cause) {
		t.Error("ServiceError must unwrap to ErrServiceUnavailable and its cause")
	}
}

func TestMergeMappings(t *testing.T) {
	src := map[string]string{"A": "1"}
	got := plugins.MergeMappings(nil, src)
	got["B"] = "2"
	if len(src) != 1 {
		t.Error("MergeMappings(nil, src) returned src itself")
	}
	got = plugins.MergeMappings(got, map[string]string{"A": "other", "C": "3"})
	if want := map[string]string{"A": "1", "B": "2", "C": "3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if plugins.MergeMappings(nil, nil) != nil {
		t.Error("merging nothing allocated a map")
	}
}

func BenchmarkPipelineMask(b *testing.B) {
	p := plugins.Pipeline{Maskers: []plugins.Masker{
		svcMasker{&stubMasker{from: "a", to: "b", mapping: map[string]string{"X_1": "a"}}, svc{name: "m1"}},
		&stubMasker{from: "c", to: "d", mapping: map[string]string{"Y_1": "c"}},
	}, Health: health{}}
	texts := []string{"abc", "cab", "bca"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Mask(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}
