package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// cliResult is a finished llm-router subcommand.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runTool runs the binary with args (deadline-bounded) in dir.
func runTool(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliResult{out.String(), errb.String(), code}
}

// readJSONL reads every line of a JSONL file as an object.
func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s:%d: %v: %q", path, n, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// translateRouter starts a router whose model "bielik" is served by llmtest
// fakes answering "PL: <text>" (n of them, n ≥ 1).
func translateRouter(t *testing.T, n int) (*router, []*llmtest.OpenAI) {
	var fakes []*llmtest.OpenAI
	var provs []string
	for i := range n {
		fake := llmtest.NewOpenAI(fmt.Sprintf("vllm-%d", i))
		t.Cleanup(fake.Close)
		fake.SetEcho("PL: ")
		fakes = append(fakes, fake)
		provs = append(provs, prov(fake.Name, fake.URL, "vllm", ""))
	}
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"bielik": provs})})
	return r, fakes
}

// writeDataset writes n JSONL records {"id": "r<i>", "text": …, "label": …}
// whose texts repeat every 7 records.
func writeDataset(t *testing.T, path string, n int, extra map[int]string) map[string]string {
	t.Helper()
	var b strings.Builder
	want := map[string]string{}
	for i := 1; i <= n; i++ {
		if line, ok := extra[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		text := fmt.Sprintf("Sentence number %d.", i%7)
		id := fmt.Sprintf("r%d", i)
		want[id] = text
		fmt.Fprintf(&b, `{"id":%q,"text":%q,"label":"l%d"}`+"\n", id, text, i%3)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkTranslations asserts one output line per wanted id, each carrying
// the translation of that record's own text.
func checkTranslations(t *testing.T, lines []map[string]any, want map[string]string) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range lines {
		id, _ := l["id"].(string)
		seen[id]++
		text, ok := want[id]
		if !ok {
			t.Errorf("output line for unknown id %q", id)
			continue
		}
		if got := l["text"]; got != "PL: "+text {
			t.Errorf("record %s: text = %q, want the translation of %q", id, got, text)
		}
		if orig, _ := l["original"].(map[string]any); orig["text"] != text {
			t.Errorf("record %s: original = %v", id, l["original"])
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("record %s has %d output lines, want 1", id, seen[id])
		}
	}
}

// Translate a dataset with duplicate texts and a malformed line through two
// providers, one failing 10% of its calls: every record gets its own
// translation exactly once, the bad line is reported with its number.
func TestUtilTranslate(t *testing.T) {
	r, fakes := translateRouter(t, 2)
	fakes[0].SetFailEvery(10)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	want := writeDataset(t, data, 300, map[int]string{57: `{"id":"bad","text": oops}`})
	res := runTool(t, dir, "util", "translate", "--llm-router-url", r.Base(), "--model", "bielik",
		"--dataset-path", data, "--accept-field", "text", "--num-workers", "4", "--batch-size", "4",
		"--progress-interval", "50ms")
	if res.code == 0 {
		t.Errorf("exit code 0 with an unreadable line")
	}
	if !strings.Contains(res.stderr, "data.jsonl:57") {
		t.Errorf("stderr does not name line 57:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, "done: 299,") || !strings.Contains(res.stderr, "unreadable input lines: 1") {
		t.Errorf("summary:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, "ETA") {
		t.Errorf("no progress lines:\n%s", res.stderr)
	}
	checkTranslations(t, readJSONL(t, filepath.Join(dir, "data.translated.jsonl")), want)
	failed := readJSONL(t, filepath.Join(dir, "data.translated.failed.jsonl"))
	if len(failed) != 1 || failed[0]["line"] != float64(57) {
		t.Errorf("failed records = %v", failed)
	}
	// The failing provider did fail (every 10th call); the router and the
	// tool's retries still finished every record.
	if n := fakes[0].Count("/v1/chat/completions"); n < 10 {
		t.Errorf("the failing provider got only %d calls, so it never failed", n)
	}
}

// A run interrupted (SIGINT) and then killed (SIGKILL) mid-way resumes
// where its output stops: in the end every record has exactly one line.
func TestUtilTranslateResume(t *testing.T) {
	r, fakes := translateRouter(t, 1)
	fakes[0].SetDelay(30 * time.Millisecond)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	want := writeDataset(t, data, 400, nil)
	out := filepath.Join(dir, "out.jsonl")
	args := []string{"util", "translate", "--llm-router-url", r.Base(), "--model", "bielik",
		"--dataset-path", data, "-o", out, "--num-workers", "3", "--batch-size", "2"}
	lines := func() int {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n"))
	}
	// stopAt starts a run and sends sig once the output has n lines.
	stopAt := func(n int, sig syscall.Signal) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		var errb syncBuffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, fmt.Sprintf("%d output lines", n), func() bool { return lines() >= n })
		_ = cmd.Process.Signal(sig)
		err := cmd.Wait()
		return errb.String(), err
	}

	stderr, err := stopAt(60, syscall.SIGINT)
	if err == nil || !strings.Contains(stderr, "interrupted; what is in "+out+" stays") || !strings.Contains(stderr, "done: ") {
		t.Errorf("after SIGINT: %v\n%s", err, stderr)
	}
	first := lines()
	if _, err := stopAt(first+60, syscall.SIGKILL); err == nil {
		t.Fatal("the killed run exited cleanly")
	}
	second := len(readJSONL(t, out))
	if second >= 400 {
		t.Fatalf("the run finished before the kill (%d lines)", second)
	}
	// Tear the last line as a crash mid-write would.
	f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"r39`)
	f.Close()
	res := runTool(t, dir, args...)
	if res.code != 0 {
		t.Fatalf("resume exit %d:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, fmt.Sprintf("skipped (already in the output): %d", second)) {
		t.Errorf("summary does not count %d skipped records:\n%s", second, res.stderr)
	}
	checkTranslations(t, readJSONL(t, out), want)
}

// Bad input and bad surroundings fail clearly, before any request.
func TestUtilTranslateErrors(t *testing.T) {
	r, fakes := translateRouter(t, 1)
	fake := fakes[0]
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	writeDataset(t, data, 5, nil)

	t.Run("missing text column", func(t *testing.T) {
		res := runTool(t, dir, "util", "translate", "--llm-router-url", r.Base(), "--model", "bielik",
			"--dataset-path", data, "--accept-field", "Tekst")
		if res.code == 0 || !strings.Contains(res.stderr, `field "Tekst" not in the record`) || !strings.Contains(res.stderr, "data.jsonl:1") {
			t.Errorf("exit %d:\n%s", res.code, res.stderr)
		}
		if n := fake.Count("/v1/chat/completions"); n != 0 {
			t.Errorf("%d requests were sent", n)
		}
	})
	t.Run("unreachable router", func(t *testing.T) {
		res := runTool(t, dir, "util", "translate", "--llm-router-url", llmtest.RefusedURL(), "--model", "bielik",
			"--dataset-path", data)
		if res.code == 0 || !strings.Contains(res.stderr, "cannot reach the router") {
			t.Errorf("exit %d:\n%s", res.code, res.stderr)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		res := runTool(t, dir, "util", "translate", "--llm-router-url", r.Base(), "--model", "nope",
			"--dataset-path", data, "-o", filepath.Join(dir, "nope.jsonl"), "--verbose")
		if res.code == 0 || !strings.Contains(res.stderr, "failed: 5") || !strings.Contains(res.stderr, "failed: r3 (data.jsonl:3): ") {
			t.Errorf("exit %d:\n%s", res.code, res.stderr)
		}
	})
	t.Run("csv", func(t *testing.T) {
		csvPath := filepath.Join(dir, "data.csv")
		os.WriteFile(csvPath, []byte("id,Tekst\na,\"Hello, world\"\nb,Second\n"), 0o644)
		res := runTool(t, dir, "util", "translate", "--llm-router-url", r.Base(), "--model", "bielik",
			"--dataset-path", csvPath, "--accept-field", "Tekst")
		if res.code != 0 {
			t.Fatalf("exit %d:\n%s", res.code, res.stderr)
		}
		lines := readJSONL(t, filepath.Join(dir, "data.translated.jsonl"))
		got := map[string]any{}
		for _, l := range lines {
			got[l["id"].(string)] = l["Tekst"]
		}
		if len(lines) != 2 || got["a"] != "PL: Hello, world" || got["b"] != "PL: Second" {
			t.Errorf("output = %v", lines)
		}
	})
}

// genai-classifier: a sample per field, one answer per feature, clean
// labels and an XLSX export; a second run resumes with nothing to do.
func TestUtilClassifier(t *testing.T) {
	fake := llmtest.NewOpenAI("cls")
	defer fake.Close()
	fake.SetReply("Here you go:\n```json\n{\"class\": \"sport\", \"exists\": true}\n```", 1)
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"gpt-oss:120b": {prov("cls", fake.URL, "vllm", "")}})})
	dir := t.TempDir()
	data, prompts, out := filepath.Join(dir, "data"), filepath.Join(dir, "prompts"), filepath.Join(dir, "out")
	os.MkdirAll(data, 0o755)
	os.MkdirAll(prompts, 0o755)
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, `{"id":"n%d","Tekst":"Mecz numer %d","kategoria":"k%d"}`+"\n", i, i%4, i%2)
	}
	os.WriteFile(filepath.Join(data, "news.jsonl"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(prompts, "topic.prompt"), []byte("Classify the topic. Answer JSON {\"class\": …}.\n"), 0o644)
	os.WriteFile(filepath.Join(prompts, "toxic.prompt"), []byte("Is it toxic? Answer JSON {\"exists\": bool}.\n"), 0o644)
	args := []string{"util", "genai-classifier", "--llm-router-url", r.Base(), "--dataset-dir", data,
		"--prompts-dir", prompts, "--output-dir", out, "--n-sample", "4", "--field-column-name", "kategoria", "--num-workers", "3"}

	dry := runTool(t, dir, append(args, "--dry-run")...)
	if dry.code != 0 || !strings.Contains(dry.stdout, "8 records to classify × 2 features = 16 requests") {
		t.Fatalf("dry run: %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	if n := fake.Count("/v1/chat/completions"); n != 0 {
		t.Fatalf("the dry run sent %d requests", n)
	}

	res := runTool(t, dir, args...)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	lines := readJSONL(t, filepath.Join(out, "news.jsonl"))
	perField := map[string]int{}
	for _, l := range lines {
		perField[l["field"].(string)]++
		feats, _ := l["features"].([]any)
		if len(feats) != 2 || !strings.HasPrefix(l["text"].(string), "Mecz numer") {
			t.Errorf("line %v", l)
		}
	}
	if len(lines) != 8 || perField["k0"] != 4 || perField["k1"] != 4 {
		t.Errorf("%d lines, per field %v", len(lines), perField)
	}
	clean := readJSONL(t, filepath.Join(out, "news_clean_labels.jsonl"))
	if len(clean) != 8 || fmt.Sprint(clean[0]["labels"]) != "[sport sport]" || clean[0]["original_field"] == "" {
		t.Errorf("clean labels: %v", clean)
	}
	// The feature prompt is the system prompt; the text is the user turn.
	req := lastPost(t, fake.Requests()).JSON()
	msgs := req["messages"].([]any)
	sys, user := msgs[0].(map[string]any), msgs[len(msgs)-1].(map[string]any)
	if sys["role"] != "system" || !strings.HasPrefix(sys["content"].(string), "Is it toxic?") && !strings.HasPrefix(sys["content"].(string), "Classify") ||
		!strings.HasPrefix(user["content"].(string), "Mecz numer") {
		t.Errorf("upstream messages: %v", msgs)
	}
	x, err := excelize.OpenFile(filepath.Join(out, "news.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows("Sheet1")
	x.Close()
	if err != nil || len(rows) != 9 || strings.Join(rows[0], ",") != "id,text,field,labels,topic,toxic" || rows[1][3] != "sport, sport" {
		t.Errorf("xlsx rows: %v %v", rows, err)
	}

	calls := fake.Count("/v1/chat/completions")
	again := runTool(t, dir, args...)
	if again.code != 0 || !strings.Contains(again.stderr, "skipped (already in the output): 8") {
		t.Errorf("second run: %d\n%s", again.code, again.stderr)
	}
	if n := fake.Count("/v1/chat/completions"); n != calls {
		t.Errorf("the second run sent %d requests", n-calls)
	}
}

// genai-data-augmentation: n samples per label, each from examples of its
// own label.
func TestUtilAugmentation(t *testing.T) {
	fake := llmtest.NewOpenAI("aug")
	defer fake.Close()
	fake.SetEcho("GEN ")
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"gen": {prov("aug", fake.URL, "vllm", "")}})})
	dir := t.TempDir()
	data := filepath.Join(dir, "d.jsonl")
	var b strings.Builder
	for i := range 20 {
		label := []string{"pos", "neg"}[i%2]
		fmt.Fprintf(&b, `{"id":"s%d","Tekst":"%s text %d","label":%q}`+"\n", i, label, i, label)
	}
	os.WriteFile(data, []byte(b.String()), 0o644)
	prompt := filepath.Join(dir, "aug.prompt")
	os.WriteFile(prompt, []byte("Write texts labelled {label}. Examples:\n{examples}\n"), 0o644)
	res := runTool(t, dir, "util", "genai-data-augmentation", "--llm-router-url", r.Base(), "--model-name", "gen",
		"--dataset-path", data, "--prompt-file", prompt, "--labels", "pos,neg", "--n-samples", "3", "--n-examples", "2")
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	lines := readJSONL(t, filepath.Join(dir, "d.augmented.jsonl"))
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		id, label := l["id"].(string), l["label"].(string)
		if !strings.HasPrefix(id, label+"#") || !strings.HasPrefix(l["Tekst"].(string), "GEN Label: "+label) {
			t.Errorf("line %v", l)
		}
		ex, _ := l["examples"].([]any)
		if len(ex) != 2 {
			t.Errorf("examples %v", ex)
		}
	}
	// The examples shown are texts of the same label.
	for _, p := range posts(fake.Requests()) {
		sys := p.JSON()["messages"].([]any)[0].(map[string]any)["content"].(string)
		label := strings.TrimSuffix(strings.Fields(sys)[3], ".")
		if strings.Count(sys, label+" text") != 2 || strings.Contains(sys, map[string]string{"pos": "neg", "neg": "pos"}[label]+" text") {
			t.Errorf("system prompt: %q", sys)
		}
	}

	bad := runTool(t, dir, "util", "genai-data-augmentation", "--llm-router-url", r.Base(), "--model-name", "gen",
		"--dataset-path", data, "--prompt-file", prompt, "--labels", "pos", "--label-column-name", "klasa")
	if bad.code == 0 || !strings.Contains(bad.stderr, `column "klasa" not in the record`) {
		t.Errorf("missing label column: %d\n%s", bad.code, bad.stderr)
	}
}

// config discover finds fake runtimes on loopback ports and writes a
// config that validate accepts and the router serves; merge reports
// conflicts; validate prints the validator's message for a bad file.
func TestConfigCommands(t *testing.T) {
	oll := llmtest.NewOllama("o")
	defer oll.Close()
	oll.SetModels("llama3:8b")
	vllm := llmtest.NewOpenAI("vllm")
	defer vllm.Close()
	vllm.SetModels("bielik")
	dir := t.TempDir()
	out := filepath.Join(dir, "discovered.json")
	res := runTool(t, dir, "config", "discover", oll.URL, strings.TrimPrefix(vllm.URL, "http://"), "-o", out, "--timeout", "2s")
	if res.code != 0 {
		t.Fatalf("discover exit %d:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "ollama with 1 model") || !strings.Contains(res.stderr, "vllm with 1 model") {
		t.Errorf("discover log:\n%s", res.stderr)
	}
	val := runTool(t, dir, "config", "validate", out)
	if val.code != 0 || !strings.Contains(val.stdout, "valid: 2 active models, 2 providers") {
		t.Errorf("validate: %d\n%s%s", val.code, val.stdout, val.stderr)
	}
	inactive := filepath.Join(dir, "inactive.json")
	if res := runTool(t, dir, "config", "discover", oll.URL, "--no-active", "-o", inactive); res.code != 0 {
		t.Errorf("discover --no-active: %d %s", res.code, res.stderr)
	}
	if v := runTool(t, dir, "config", "validate", inactive); !strings.Contains(v.stdout, "valid: 0 active models") {
		t.Errorf("--no-active config: %s%s", v.stdout, v.stderr)
	}
	models, _ := os.ReadFile(out)
	r := startRouter(t, routerOpts{models: string(models)})
	resp, err := http.Post(r.Base()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"llama3:8b","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Hello from o") {
		t.Errorf("chat through the discovered config: %d %s", resp.StatusCode, body)
	}

	none := runTool(t, dir, "config", "discover", llmtest.RefusedURL())
	if none.code == 0 || !strings.Contains(none.stderr, "no runtime with a model was found") {
		t.Errorf("discover on nothing: %d\n%s", none.code, none.stderr)
	}

	a := filepath.Join(dir, "a.json")
	b := filepath.Join(dir, "b.json")
	os.WriteFile(a, []byte(`{"g": {"m": {"providers": [{"id": "p1", "api_host": "http://h1:8000", "api_type": "vllm"}]}},
		"active_models": {"g": ["m"]}}`), 0o644)
	os.WriteFile(b, []byte(`{"g": {"m": {"providers": [{"id": "p2", "api_host": "http://h1:8000", "api_type": "openai"},
		{"id": "p3", "api_host": "http://h2:8000", "api_type": "vllm"}]}}, "active_models": {"g": ["m"]}}`), 0o644)
	merged := filepath.Join(dir, "merged.json")
	mres := runTool(t, dir, "config", "merge", a, b, "-o", merged)
	if mres.code != 0 || !strings.Contains(mres.stderr, `conflict: `+b+`: model "m": provider "p2" has api_host http://h1:8000, already served by provider "p1"`) {
		t.Errorf("merge: %d\n%s", mres.code, mres.stderr)
	}
	if v := runTool(t, dir, "config", "validate", merged); v.code != 0 || !strings.Contains(v.stdout, "1 active models, 2 providers") {
		t.Errorf("validate merged: %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	if s := runTool(t, dir, "config", "merge", a, b, "--strict", "-o", filepath.Join(dir, "strict.json")); s.code == 0 {
		t.Errorf("--strict with a conflict exited 0")
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"g": {"m": {"providers": [{"id": "p1", "api_host": "http://h", "api_type": "llamacpp"}]}}, "active_models": {"g": ["m"]}}`), 0o644)
	v := runTool(t, dir, "config", "validate", bad)
	if v.code == 0 || !strings.Contains(v.stderr, "api_type") || !strings.Contains(v.stderr, "bad.json") {
		t.Errorf("validate bad: %d\n%s", v.code, v.stderr)
	}
}

// anonymize masks a file or stdin locally; the mapping goes only to the
// --mappings file, created private.
func TestAnonymize(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "letter.txt")
	os.WriteFile(in, []byte("Dear Jan,\nwrite to jan.kowalski@example.com, PESEL 44051401458.\n"), 0o644)
	maps := filepath.Join(dir, "letter.map.json")
	res := runTool(t, dir, "anonymize", in, "--mappings", maps)
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res.stderr)
	}
	if res.stdout != "Dear Jan,\nwrite to {EMAIL_1}, PESEL {PESEL_TAGGED_2}.\n" {
		t.Errorf("stdout %q", res.stdout)
	}
	if strings.Contains(res.stderr, "jan.kowalski") {
		t.Errorf("the mapping leaked to stderr: %s", res.stderr)
	}
	var m map[string]string
	b, _ := os.ReadFile(maps)
	if err := json.Unmarshal(b, &m); err != nil || m["EMAIL_1"] != "jan.kowalski@example.com" || m["PESEL_TAGGED_2"] != "44051401458" {
		t.Errorf("mappings %s %v", b, err)
	}
	if st, err := os.Stat(maps); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mappings file mode %v %v", st.Mode(), err)
	}

	cmd := exec.Command(binary, "anonymize")
	cmd.Stdin = strings.NewReader("call +48 600 700 800")
	out, err := cmd.Output()
	if err != nil || string(out) != "call {PHONE_INTERNATIONAL_1}" {
		t.Errorf("stdin: %q %v", out, err)
	}
	if r := runTool(t, dir, "anonymize", filepath.Join(dir, "missing.txt")); r.code == 0 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: %d %s", r.code, r.stderr)
	}
}

// A built-in endpoint that finds every provider resting answers 503 with
// Retry-After, like the proxy endpoints, so clients (the batch tools) wait
// instead of failing their records at once.
func TestBuiltinRetryAfter(t *testing.T) {
	r, fakes := translateRouter(t, 1)
	fakes[0].SetFault(llmtest.Fail500)
	post := func() *http.Response {
		resp, err := http.Post(r.Base()+"/api/translate", "application/json",
			strings.NewReader(`{"model_name":"bielik","texts":["a"]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for range 3 { // cooldown_failures (default 3) failures in a row: the provider rests
		post()
	}
	resp := post()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
