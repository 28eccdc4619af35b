package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func collect(t *testing.T, s Source) (ids []string, lineErrs []string, fatal error) {
	t.Helper()
	for r, err := range s.Records() {
		var le *LineError
		switch {
		case errors.As(err, &le):
			lineErrs = append(lineErrs, fmt.Sprintf("%s:%d", le.File, le.Line))
		case err != nil:
			fatal = err
		default:
			ids = append(ids, r.ID)
		}
	}
	return
}

func TestRecords(t *testing.T) {
	tests := []struct {
		name, file, data string
		ids, errs        []string
		fatal            bool
	}{
		{"jsonl with ids, a bad line, a blank line and no final newline", "d.jsonl",
			"{\"id\":\"a\",\"text\":\"x\"}\n{bad\n\n{\"id\":7,\"text\":\"y\"}\n[1]\n{\"text\":\"z\"}",
			[]string{"a", "7", "d.jsonl:6"}, []string{"d.jsonl:2", "d.jsonl:5"}, false},
		{"jsonl CRLF", "d.jsonl", "{\"text\":\"x\"}\r\n{\"text\":\"y\"}\r\n", []string{"d.jsonl:1", "d.jsonl:2"}, nil, false},
		{"json array", "d.json", `[{"id":"a"},{"x":1},3]`, []string{"a", "d.json#1"}, []string{"d.json:2"}, false},
		{"json not an array", "d.json", `{"id":"a"}`, nil, nil, true},
		{"csv with quotes, BOM and a short row", "d.csv", "\ufeffid,Tekst\na,\"x, y\"\nb\nc,\"multi\nline\"\n",
			[]string{"a", "c"}, []string{"d.csv:3"}, false},
		{"json record longer than MaxLineBytes", "d.json", `[{"text":"` + strings.Repeat("x", MaxLineBytes+64<<10) + `"}]`, nil, nil, true},
		{"csv record longer than MaxLineBytes", "d.csv", "id,text\na,\"" + strings.Repeat("x\n", (MaxLineBytes+64<<10)/2) + "\"\n", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.data)
			f, err := FormatOf(p, "")
			if err != nil {
				t.Fatal(err)
			}
			ids, errs, fatal := collect(t, Source{Path: p, Format: f, IDField: "id"})
			if !slices.Equal(ids, tt.ids) || !slices.Equal(errs, tt.errs) || (fatal != nil) != tt.fatal {
				t.Errorf("ids %v errs %v fatal %v; want %v %v fatal=%v", ids, errs, fatal, tt.ids, tt.errs, tt.fatal)
			}
		})
	}
}

func TestCSVFieldValues(t *testing.T) {
	p := writeFile(t, "d.csv", "id,Tekst\na,\"x, y\"\n")
	for r, err := range (Source{Path: p, Format: CSV, IDField: "id"}).Records() {
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := r.String("Tekst"); s != "x, y" {
			t.Errorf("Tekst = %q", s)
		}
	}
}

func TestLoadDone(t *testing.T) {
	tests := []struct {
		name, data, after string
		ids               []string
		fails             bool
	}{
		{"torn last line is cut", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n", []string{"a", "b"}, false},
		{"complete last line without newline is kept", "{\"id\":\"a\"}\n{\"id\":\"b\"}", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n", []string{"a", "b"}, false},
		{"empty", "", "", nil, false},
		{"not an output file", "hello\n{\"id\":\"a\"}\n", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "out.jsonl", tt.data)
			done, err := LoadDone(p)
			if (err != nil) != tt.fails {
				t.Fatalf("err = %v", err)
			}
			if tt.fails {
				return
			}
			var ids []string
			for id := range done {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			b, _ := os.ReadFile(p)
			if !slices.Equal(ids, tt.ids) || string(b) != tt.after {
				t.Errorf("ids %v file %q", ids, b)
			}
		})
	}
	if done, err := LoadDone(filepath.Join(t.TempDir(), "none.jsonl")); err != nil || len(done) != 0 {
		t.Errorf("missing file: %v %v", done, err)
	}
}

// upper is a task that answers a batch in reverse order and fails records
// whose text is "fail".
type upper struct {
	mu      sync.Mutex
	batches int
}

func (u *upper) Check(r Record) error {
	if _, ok := r.Fields["text"]; !ok {
		return errors.New(`field "text" missing`)
	}
	return nil
}

func (u *upper) Process(_ context.Context, b []Record) []Result {
	u.mu.Lock()
	u.batches++
	u.mu.Unlock()
	var out []Result
	for i := len(b) - 1; i >= 0; i-- {
		s, _ := b[i].String("text")
		if s == "fail" {
			out = append(out, Result{Rec: b[i], Err: errors.New("refused")})
			continue
		}
		out = append(out, Result{Rec: b[i], Out: map[string]any{"id": b[i].ID, "text": strings.ToUpper(s)}})
	}
	return out
}

func TestRun(t *testing.T) {
	var in strings.Builder
	for i := range 50 {
		text := fmt.Sprintf("t%d", i%5)
		if i == 13 {
			text = "fail"
		}
		fmt.Fprintf(&in, `{"id":"r%d","text":%q}`+"\n", i, text)
	}
	in.WriteString(`{"id":"r7","text":"dup"}` + "\n")
	data := writeFile(t, "d.jsonl", in.String())
	out := filepath.Join(filepath.Dir(data), "out.jsonl")
	src := Source{Path: data, Format: JSONL, IDField: "id"}
	var progress strings.Builder
	task := &upper{}
	sum, err := Run(context.Background(), src.Records(), task, Options{Output: out, Workers: 3, BatchSize: 4, Progress: &syncWriter{w: &progress}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 49 || sum.Failed != 2 || sum.Skipped != 0 {
		t.Errorf("summary %+v", sum)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 49 {
		t.Fatalf("%d output lines", len(lines))
	}
	for _, l := range lines {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		var i int
		fmt.Sscanf(m["id"], "r%d", &i)
		if want := fmt.Sprintf("T%d", i%5); m["text"] != want {
			t.Errorf("%s: text %q, want %q", m["id"], m["text"], want)
		}
	}
	fb, _ := os.ReadFile(sum.FailedFile)
	if !strings.Contains(string(fb), `"id":"r13"`) || !strings.Contains(string(fb), `duplicate id \"r7\" (first at line 8)`) {
		t.Errorf("failed file:\n%s", fb)
	}
	if !strings.Contains(progress.String(), "progress: 51/? records, done 49, failed 2") {
		t.Errorf("summary not printed? %q", progress.String())
	}

	// A second run skips everything already written and retries the failed.
	sum, err = Run(context.Background(), src.Records(), task, Options{Output: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 0 || sum.Skipped != 49 || sum.Failed != 2 {
		t.Errorf("second run: %+v", sum)
	}
}

func TestRunCheckFirstRecord(t *testing.T) {
	data := writeFile(t, "d.jsonl", "{bad\n{\"id\":\"a\",\"Tekst\":\"x\"}\n")
	task := &upper{}
	_, err := Run(context.Background(), Source{Path: data, Format: JSONL, IDField: "id"}.Records(), task,
		Options{Output: filepath.Join(t.TempDir(), "o.jsonl")})
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "d.jsonl:2") {
		t.Fatalf("err = %v", err)
	}
	if task.batches != 0 {
		t.Errorf("%d batches processed", task.batches)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func TestJSONObject(t *testing.T) {
	for in, want := range map[string]string{
		`{"class":"a"}`: `map[class:a]`,
		"Sure!\n```json\n{\"exists\": true}\n```": `map[exists:true]`,
		`The answer is {"class": "b"}. Bye.`:      `map[class:b]`,
		`no json here`:                            `map[]`,
		`[1, 2]`:                                  `map[]`,
	} {
		got, _ := JSONObject(in)
		if fmt.Sprint(got) != want {
			t.Errorf("JSONObject(%q) = %v, want %s", in, got, want)
		}
	}
}

func TestLabels(t *testing.T) {
	got := Labels([]FeatureResult{
		{"topic", map[string]any{"class": "sport"}},
		{"toxic", map[string]any{"exists": true}},
		{"spam", map[string]any{"exists": false}},
		{"empty", map[string]any{"class": ""}},
	})
	if !slices.Equal(got, []string{"sport", "toxic"}) {
		t.Errorf("labels %v", got)
	}
}

// On a terminal the progress is one line redrawn in place with a bar, the
// rate and the ETA.
func TestProgressBar(t *testing.T) {
	var w syncWriter
	w.w = &strings.Builder{}
	p := newProgress(Options{Progress: &w, TTY: true, Total: 10, Label: "translate", Every: time.Hour})
	for range 4 {
		p.done()
	}
	p.fail()
	p.close()
	out := w.String()
	if !strings.HasPrefix(out, "\rtranslate ") || !strings.Contains(out, " 50.0% 5/10 done 4 failed 1") ||
		!strings.Contains(out, "ETA ") || !strings.Contains(out, "█") || !strings.HasSuffix(out, "\n") {
		t.Errorf("bar: %q", out)
	}
}
