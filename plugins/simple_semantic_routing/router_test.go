package simplerouting

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// testJSON is a small config whose pool has three models, so that every
// index rule is visible: simple → 0, medium → 1, complex → 2.
const testJSON = `{
  "settings": {
    "len_thresholds_max": {"simple": 5, "medium": 20},
    "default_models": {"simple": "small", "medium": "mid", "complex": "big"},
    "intent_adjustment": {"code": "medium", "math": "complex", "chat": "simple", "none": ""}
  },
  "intents": {
    "code": {
      "keywords": ["code", "python", "kod", "ts", "debug", "e-mail"],
      "phrases": ["fix this:4", "napraw to"],
      "patterns": ["def \\w+\\(", "SELECT \\*"],
      "weights": {"python": 3}
    },
    "math": ["calculate", "oblicz", "oblicz"],
    "chat": {"keywords": ["hello", "cześć"]}
  },
  "none": []
}`

func testRouter(t *testing.T, environ ...string) *Router {
	t.Helper()
	c, err := ParseConfig([]byte(testJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyEnv(environ); err != nil {
		t.Fatal(err)
	}
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func words(n int) string {
	return strings.TrimSpace(strings.Repeat("lorem ", n))
}

func TestDecide(t *testing.T) {
	r := testRouter(t)
	tests := []struct {
		name, text                string
		model, intent, complexity string
	}{
		{"empty text → default model", "   ", "small", "", ""},
		{"simple chat", "hello there", "small", "chat", Simple},
		{"no intent, simple: demoted, clamped", "nice weather today", "small", NoIntent, Simple},
		{"no intent, medium: demoted one model", words(10), "small", NoIntent, Medium},
		{"no intent, complex: demoted one model", words(30), "mid", NoIntent, Complex},
		{"code lifts a simple text to medium", "fix this python code", "mid", "code", Simple},
		{"code keeps a complex text complex", "python " + words(30), "big", "code", Complex},
		{"math asks for complex", "calculate this", "big", "math", Simple},
		{"chat does not lower a complex text", "hello " + words(30), "big", "chat", Complex},
		{"whole words: its is not ts", "its fine", "small", NoIntent, Simple},
		{"short keyword matches whole word only", "kodak camera", "small", NoIntent, Simple},
		{"long keyword matches as prefix", "debugging now", "mid", "code", Simple},
		{"multi-word keyword", "send an e-mail", "mid", "code", Simple},
		{"pattern is case-insensitive", "DEF foo(x)", "mid", "code", Simple},
		{"pattern with capitals matches lower-case text", "select * from t", "mid", "code", Simple},
		{"tie goes to the earlier category", "code calculate", "mid", "code", Simple},
		{"keyword counts once per text", "oblicz oblicz oblicz code", "mid", "code", Simple},
		{"keyword weight", "python hello calculate", "mid", "code", Simple},
		{"phrase weight beats keywords", "fix this: calculate oblicz hello", "mid", "code", Medium},
		{"phrase without weight counts 2", "napraw to oblicz", "mid", "code", Simple},
		{"Polish letters", "Cześć!", "small", "chat", Simple},
		{"tokens = words × 1.25: 4 words = 5 tokens, simple", words(4), "small", NoIntent, Simple},
		{"5 words = 6 tokens, medium", "hello " + words(4), "mid", "chat", Medium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := r.Decide(tt.text)
			if d.Model != tt.model || d.Intent != tt.intent || d.Complexity != tt.complexity {
				t.Errorf("Decide(%q) = %+v, want model %s intent %s complexity %s",
					tt.text, d, tt.model, tt.intent, tt.complexity)
			}
		})
	}
}

func TestLongText(t *testing.T) {
	r := testRouter(t)
	filler := words(MaxIntentBytes / 6 * 2) // "lorem " × n: twice the window
	tests := []struct {
		text, intent string
	}{
		{"python " + filler, "code"},            // head is read
		{filler + " calculate", "math"},         // tail is read
		{filler + " hello " + filler, NoIntent}, // the middle is not
		{"cześć " + filler + " zażółć", "chat"}, // multi-byte runes at the cuts
	}
	for _, tt := range tests {
		d := r.Decide(tt.text)
		if d.Intent != tt.intent || d.Complexity != Complex {
			t.Errorf("Decide(%d bytes) = intent %s complexity %s, want %s complex", len(tt.text), d.Intent, d.Complexity, tt.intent)
		}
	}
	for _, s := range []string{"a" + strings.Repeat("ż", MaxIntentBytes), strings.Repeat("ż", MaxIntentBytes) + "a"} {
		if w := window(s); !utf8.ValidString(w) || len(w) > MaxIntentBytes+1 {
			t.Errorf("window cut a rune or is too long (%d bytes)", len(w))
		}
	}
}

func TestChooseAndRoute(t *testing.T) {
	r := testRouter(t)
	tests := []struct {
		texts []string
		model string
	}{
		{nil, "small"},
		{[]string{"python code", "hello"}, "small"}, // newest text decides
		{[]string{"python code", "  "}, "mid"},      // blank newest text is skipped
	}
	for _, tt := range tests {
		if m, reason := r.Choose(tt.texts); m != tt.model || reason == "" {
			t.Errorf("Choose(%q) = %q, %q; want %q", tt.texts, m, reason, tt.model)
		}
	}
	if _, reason := r.Choose([]string{"python code"}); reason != "intent=code complexity=simple tokens=2" {
		t.Errorf("reason = %q", reason)
	}
	ctx := t.Context()
	if m, err := r.Route(ctx, "gpt-4", []string{"python code"}); m != "gpt-4" || err != nil {
		t.Errorf("Route(non-auto) = %q, %v; want unchanged", m, err)
	}
	if m, err := r.Route(ctx, Auto, []string{"python code"}); m != "mid" || err != nil {
		t.Errorf("Route(auto) = %q, %v; want mid", m, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Route(canceled, Auto, []string{"x"}); err == nil {
		t.Error("Route with canceled context: want error")
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		text    string
		model   string
	}{
		{"pool from env, levels not in pool fall back by position",
			[]string{EnvModels + "=a | b|c|d|e"}, "python code", "c"},
		{"pool from env keeps a level model found in it (last occurrence)",
			[]string{EnvModels + "=mid|x|mid|y"}, "python code", "mid"},
		{"thresholds from env", []string{EnvThresholds + "=1|2"}, "hello a b", "big"},
		{"default model from env", []string{EnvDefaultModel + "=fallback"}, "", "fallback"},
		{"intent replaced: old keywords gone", []string{EnvIntentPrefix + "CHAT=yo|good morning:5"}, "hello " + words(4), "small"},
		{"intent replaced: new keyword", []string{EnvIntentPrefix + "CHAT=yo|good morning:5"}, "yo " + words(4), "mid"},
		{"intent replaced: weighted phrase", []string{EnvIntentPrefix + "CHAT=yo|good morning:5"}, "good morning python", "small"},
		{"new category only demotes", []string{EnvIntentPrefix + "WEATHER=rain"}, "rain " + words(5), "small"},
		{"empty and unrelated variables are ignored",
			[]string{EnvModels + "=", "PATH=/bin", "LLM_ROUTER_ROUTING_UNKNOWN=1"}, "python code", "mid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRouter(t, tt.environ...)
			if d := r.Decide(tt.text); d.Model != tt.model {
				t.Errorf("Decide(%q) = %+v, want model %s", tt.text, d, tt.model)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	envs := [][]string{
		{EnvThresholds + "=abc"},
		{EnvThresholds + "=5"},
		{EnvThresholds + "=9|3"},
		{EnvThresholds + "=-1|3"},
		{EnvIntentPrefix + "X=a:b"},
	}
	for _, env := range envs {
		c, err := ParseConfig([]byte(testJSON))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ApplyEnv(env); err == nil {
			t.Errorf("ApplyEnv(%q): want error", env)
		} else if !strings.Contains(err.Error(), strings.SplitN(env[0], "=", 2)[0]) {
			t.Errorf("ApplyEnv(%q): error %q does not name the variable", env, err)
		}
	}
	files := []string{
		`{`,
		`{"settings": {"len_thresholds_max": {"simple": 5}, "default_models": {"simple": "a"}}}`,
		`{"settings": {"len_thresholds_max": {"simple": 5, "medium": 9}}}`,
		`{"settings": {"len_thresholds_max": {"simple": 5, "medium": 9}, "default_models": {"simple": 3}}}`,
		`{"settings": {"len_thresholds_max": {"simple": 5, "medium": 9}, "default_models": {"simple": "a"}},
		  "intents": {"x": {"patterns": ["("]}}}`,
		`{"settings": {"len_thresholds_max": {"simple": 5, "medium": 9}, "default_models": {"simple": "a"}},
		  "intents": {"x": {"keyword": ["typo"]}}}`,
		`{"settings": {"len_thresholds_max": {"simple": 5, "medium": 9}, "default_models": {"simple": "a"}},
		  "intents": {"x": {"phrases": ["p:q"]}}}`,
	}
	for _, f := range files {
		if _, err := ParseConfig([]byte(f)); err == nil {
			t.Errorf("ParseConfig(%s): want error", f)
		}
	}
}

func TestBundledConfig(t *testing.T) {
	c, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Pool(), ","); got != "gpt-oss:120b,qwen3.6:35b" {
		t.Errorf("pool = %s", got)
	}
	if c.Thresholds != [2]int{25, 150} {
		t.Errorf("thresholds = %v", c.Thresholds)
	}
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ text, intent, model string }{
		{"Napisz funkcję w Pythonie, która sortuje listę liczb.", "code", "qwen3.6:35b"},
		{"Why does my Go program panic with a nil map? Here is the traceback.", "code", "qwen3.6:35b"},
		{"Oblicz całkę z x^2 od 0 do 1.", "math", "qwen3.6:35b"},
		{"What is the probability of two sixes?", "math", "qwen3.6:35b"},
		{"Napisz wiersz o jesieni.", "creative", "gpt-oss:120b"},
		{"Jaka jest stolica Francji?", "general", "gpt-oss:120b"},
		{"Dzień dobry", NoIntent, "gpt-oss:120b"},
	}
	for _, tt := range tests {
		if d := r.Decide(tt.text); d.Intent != tt.intent || d.Model != tt.model {
			t.Errorf("Decide(%q) = %+v, want intent %s model %s", tt.text, d, tt.intent, tt.model)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	c, err := DefaultConfig()
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("Napisz funkcję w Pythonie, która policzy średnią z listy liczb i wypisze wynik. ", 10)
	b.ReportAllocs()
	for b.Loop() {
		r.Decide(text)
	}
}
