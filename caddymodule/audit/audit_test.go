package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// keys is a key pair written by Keygen.
type keys struct {
	pubFile, privFile string
	pub               *openpgp.Entity
	priv              openpgp.EntityList
}

// testKeyPair makes a key pair with Keygen in a temporary directory.
func testKeyPair(t testing.TB) keys {
	t.Helper()
	pub, priv, err := Keygen(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := keys{pubFile: pub, privFile: priv}
	if k.pub, err = LoadPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	if k.priv, err = LoadPrivateKey(priv, nil); err != nil {
		t.Fatal(err)
	}
	return k
}

func openLog(t testing.TB, k keys, cfg Config) *Log {
	t.Helper()
	if cfg.PublicKey == nil && cfg.PublicKeyFile == "" {
		cfg.PublicKey = k.pub
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// decoded is a record as printed by Decrypt.
type decoded struct {
	Seq    uint64          `json:"seq"`
	Prev   string          `json:"prev"`
	Time   time.Time       `json:"time"`
	Kind   string          `json:"kind"`
	Fields json.RawMessage `json:"fields"`
}

func decryptAll(t *testing.T, k keys, dir string) []decoded {
	t.Helper()
	var out bytes.Buffer
	if _, err := Decrypt(dir, k.priv, &out, VerifyOptions{}); err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	var recs []decoded
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var d decoded
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("decrypt output line %q: %v", sc.Text(), err)
		}
		recs = append(recs, d)
	}
	return recs
}

func TestRoundTrip(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	l := openLog(t, k, Config{Dir: dir})
	ctx := context.Background()
	in := []struct {
		kind   string
		fields any
	}{
		{KindMasking, map[string]any{"endpoint": "chat", "original": "call Jan at 600100200", "masked": "call {{PERSON}} at {{PHONE}}", "mappings": map[string]string{"{{PHONE}}": "600100200"}}},
		{KindGuardrail, map[string]any{"endpoint": "chat", "guardrail": "nask_guard", "safe": false}},
		{KindAuth, map[string]any{"user": "u1", "event": "login"}},
	}
	for _, r := range in {
		if err := l.Record(ctx, r.kind, r.fields); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)

	// Nothing of the plaintext is visible on disk.
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("600100200")) || bytes.Contains(b, []byte("nask_guard")) {
			t.Fatalf("%s holds plaintext", f)
		}
	}

	recs := decryptAll(t, k, dir)
	if len(recs) != len(in) {
		t.Fatalf("got %d records, want %d", len(recs), len(in))
	}
	for i, r := range recs {
		want, _ := json.Marshal(in[i].fields)
		if r.Seq != uint64(i+1) || r.Kind != in[i].kind || !bytes.Equal(r.Fields, want) {
			t.Errorf("record %d = seq %d kind %q fields %s; want seq %d kind %q fields %s", i, r.Seq, r.Kind, r.Fields, i+1, in[i].kind, want)
		}
	}
	if recs[0].Prev != strings.Repeat("0", 64) {
		t.Errorf("first prev = %s, want zeros", recs[0].Prev)
	}
	s, err := Verify(dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 3 || s.Head != l.Head() {
		t.Errorf("verify summary %+v, log head %v", s, l.Head())
	}
	if st := l.Stats(); st.Accepted != 3 || st.Written != 3 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestChainContinuesAcrossRestartsAndRotation(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	cfg := Config{Dir: dir, MaxFileBytes: 2000, Now: clock}
	ctx := context.Background()
	seq := 0
	write := func(n int) {
		l := openLog(t, k, cfg)
		for range n {
			seq++
			if err := l.Record(ctx, KindAuth, map[string]int{"n": seq}); err != nil {
				t.Fatal(err)
			}
		}
		closeLog(t, l)
	}
	write(5)
	write(4)
	now.Add(int64(2 * time.Hour)) // next UTC day
	write(3)

	files, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("want several files from size rotation, got %d", len(files))
	}
	if last := files[len(files)-1]; last.day != "20261126" {
		t.Errorf("newest file %s: want a file of the new day", last.name)
	}
	for _, f := range files {
		st, _ := os.Stat(filepath.Join(dir, f.name))
		if st.Size() > cfg.MaxFileBytes {
			t.Errorf("%s is %d bytes, over the %d limit", f.name, st.Size(), cfg.MaxFileBytes)
		}
	}
	s, err := Verify(dir, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 12 || s.Files != len(files) {
		t.Errorf("summary %+v, want 12 records in %d files", s, len(files))
	}
	for i, r := range decryptAll(t, k, dir) {
		var f struct{ N int }
		if err := json.Unmarshal(r.Fields, &f); err != nil || f.N != i+1 || r.Seq != uint64(i+1) {
			t.Errorf("record %d: seq %d fields %s", i, r.Seq, r.Fields)
		}
	}
}

func TestResumeAfterTornLine(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	l := openLog(t, k, Config{Dir: dir})
	for i := range 3 {
		if err := l.Record(context.Background(), KindAuth, i); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	files, _ := listFiles(dir)
	path := filepath.Join(dir, files[len(files)-1].name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("4\tdeadbeef") // a crash in the middle of a write
	f.Close()

	_, err = Verify(dir, VerifyOptions{})
	if b, ok := IsBreak(err); !ok || b.Kind != BreakTruncated {
		t.Fatalf("verify of a torn log = %v, want %s", err, BreakTruncated)
	}
	l = openLog(t, k, Config{Dir: dir})
	if err := l.Record(context.Background(), KindAuth, 3); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if s, err := Verify(dir, VerifyOptions{}); err != nil || s.Records != 4 {
		t.Fatalf("after resume: %+v, %v; want 4 records", s, err)
	}
}

// buildLog writes n records rotating every few records and returns the
// files in order.
func buildLog(t *testing.T, k keys, dir string, n int) ([]string, Head) {
	t.Helper()
	l := openLog(t, k, Config{Dir: dir, MaxFileBytes: 1500})
	for i := range n {
		if err := l.Record(context.Background(), KindMasking, map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	lfs, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, lf := range lfs {
		names = append(names, filepath.Join(dir, lf.name))
	}
	if len(names) < 4 {
		t.Fatalf("want at least 4 files, got %d", len(names))
	}
	return names, l.Head()
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// flip changes one base64 character of the ciphertext of line.
func flip(line string) string {
	i := strings.LastIndexByte(line, '\t') + 10
	c := byte('A')
	if line[i] == 'A' {
		c = 'B'
	}
	return line[:i] + string(c) + line[i+1:]
}

func TestVerifyCatchesTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, files []string)
		opt     func(h Head) VerifyOptions
		kind    string
		inFile  int // index of the file the break must name; -1: any
		wantSub string
	}{
		{
			name: "edit a record",
			tamper: func(t *testing.T, files []string) {
				ls := readLines(t, files[1])
				ls[0] = flip(ls[0])
				writeLines(t, files[1], ls)
			},
			kind: BreakLink, inFile: 1,
		},
		{
			name: "edit the last record, caught by the anchor",
			tamper: func(t *testing.T, files []string) {
				last := files[len(files)-1]
				ls := readLines(t, last)
				ls[len(ls)-1] = flip(ls[len(ls)-1])
				writeLines(t, last, ls)
			},
			opt:  func(h Head) VerifyOptions { return VerifyOptions{Anchor: &h} },
			kind: BreakAnchor, inFile: -1,
		},
		{
			name: "delete a record",
			tamper: func(t *testing.T, files []string) {
				ls := readLines(t, files[1])
				writeLines(t, files[1], append(ls[:1], ls[2:]...))
			},
			kind: BreakGap, inFile: 1, wantSub: "missing",
		},
		{
			name: "reorder two records",
			tamper: func(t *testing.T, files []string) {
				ls := readLines(t, files[1])
				ls[0], ls[1] = ls[1], ls[0]
				writeLines(t, files[1], ls)
			},
			kind: BreakReorder, inFile: 1,
		},
		{
			name: "truncate a file inside a record",
			tamper: func(t *testing.T, files []string) {
				last := files[len(files)-1]
				st, _ := os.Stat(last)
				if err := os.Truncate(last, st.Size()-7); err != nil {
					t.Fatal(err)
				}
			},
			kind: BreakTruncated, inFile: -1,
		},
		{
			name: "truncate the last records of a rotated file",
			tamper: func(t *testing.T, files []string) {
				ls := readLines(t, files[1])
				writeLines(t, files[1], ls[:len(ls)-1])
			},
			kind: BreakGap, inFile: 2, wantSub: "between",
		},
		{
			name: "truncate the newest file, caught by the anchor",
			tamper: func(t *testing.T, files []string) {
				last := files[len(files)-1]
				ls := readLines(t, last)
				writeLines(t, last, ls[:len(ls)-1])
			},
			opt:  func(h Head) VerifyOptions { return VerifyOptions{Anchor: &h} },
			kind: BreakTruncated, inFile: -1, wantSub: "before the anchor",
		},
		{
			name: "remove a file in the middle of the rotation sequence",
			tamper: func(t *testing.T, files []string) {
				if err := os.Remove(files[1]); err != nil {
					t.Fatal(err)
				}
			},
			kind: BreakGap, inFile: 2, wantSub: "file removed",
		},
		{
			name: "remove the oldest file",
			tamper: func(t *testing.T, files []string) {
				if err := os.Remove(files[0]); err != nil {
					t.Fatal(err)
				}
			},
			kind: BreakGap, inFile: 1, wantSub: "before the first file",
		},
		{
			name: "rename a file",
			tamper: func(t *testing.T, files []string) {
				lf, _ := parseFileName(filepath.Base(files[1]))
				to := filepath.Join(filepath.Dir(files[1]), fileName(lf.first+1, lf.day))
				if err := os.Rename(files[1], to); err != nil {
					t.Fatal(err)
				}
			},
			kind: BreakMisnamed, inFile: -1,
		},
		{
			name: "garbage line",
			tamper: func(t *testing.T, files []string) {
				ls := readLines(t, files[2])
				ls[1] = "hello\n"
				writeLines(t, files[2], ls)
			},
			kind: BreakMalformed, inFile: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := testKeyPair(t)
			dir := t.TempDir()
			files, head := buildLog(t, k, dir, 20)
			if _, err := Verify(dir, VerifyOptions{Anchor: &head}); err != nil {
				t.Fatalf("untouched log: %v", err)
			}
			tc.tamper(t, files)
			opt := VerifyOptions{}
			if tc.opt != nil {
				opt = tc.opt(head)
			}
			_, err := Verify(dir, opt)
			t.Log(err)
			b, ok := IsBreak(err)
			if !ok {
				t.Fatalf("verify = %v, want a %s break", err, tc.kind)
			}
			if b.Kind != tc.kind {
				t.Fatalf("verify = %v, want kind %q", err, tc.kind)
			}
			if tc.inFile >= 0 && b.File != filepath.Base(files[tc.inFile]) {
				t.Errorf("break names %s, want %s (%v)", b.File, filepath.Base(files[tc.inFile]), err)
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Errorf("error %q does not say %q", err, tc.wantSub)
			}
		})
	}
}

func TestVerifyPartialAcceptsPrunedLog(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	files, head := buildLog(t, k, dir, 20)
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	s, err := Verify(dir, VerifyOptions{Partial: true, Anchor: &head})
	if err != nil {
		t.Fatal(err)
	}
	if s.First == 1 || s.Head != head {
		t.Errorf("summary %+v", s)
	}
}

func TestDecryptCatchesEditedLastRecord(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	files, _ := buildLog(t, k, dir, 20)
	last := files[len(files)-1]
	ls := readLines(t, last)
	ls[len(ls)-1] = flip(ls[len(ls)-1])
	writeLines(t, last, ls)
	var out bytes.Buffer
	_, err := Decrypt(dir, k.priv, &out, VerifyOptions{})
	if b, ok := IsBreak(err); !ok || b.Kind != BreakMalformed {
		t.Fatalf("decrypt = %v, want a malformed break", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 19 {
		t.Errorf("decrypt printed %d records before the break, want 19", n)
	}
}

func TestCloseDuringConcurrentWritesLosesNothing(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	l := openLog(t, k, Config{Dir: dir, QueueSize: 16, MaxBatch: 8, MaxFileBytes: 64 << 10, EnqueueTimeout: time.Second})
	const workers = 8
	accepted := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				err := l.Record(context.Background(), KindAuth, map[string]int{"w": w, "i": i})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err == nil {
					accepted[w] = append(accepted[w], i)
				}
			}
		}()
	}
	for l.Stats().Written < 100 {
		time.Sleep(time.Millisecond) // poll a condition, not a duration
	}
	closeLog(t, l)
	wg.Wait()

	got := map[[2]int]int{}
	for _, r := range decryptAll(t, k, dir) {
		var f struct{ W, I int }
		if err := json.Unmarshal(r.Fields, &f); err != nil {
			t.Fatal(err)
		}
		got[[2]int{f.W, f.I}]++
	}
	n := 0
	for w, is := range accepted {
		for _, i := range is {
			n++
			if got[[2]int{w, i}] != 1 {
				t.Errorf("accepted record w=%d i=%d written %d times", w, i, got[[2]int{w, i}])
			}
		}
	}
	if len(got) != n {
		t.Errorf("log has %d records, %d were accepted", len(got), n)
	}
	if st := l.Stats(); st.Written != uint64(n) || st.Lost != 0 {
		t.Errorf("stats %+v, accepted %d", st, n)
	}
	if err := l.Record(context.Background(), KindAuth, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("record after close = %v, want ErrClosed", err)
	}
}

func TestRecordBackPressure(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	l, err := open(Config{Dir: dir, PublicKey: k.pub, QueueSize: 2, EnqueueTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The writer is not running yet: the queue fills up.
	for i := range 2 {
		if err := l.Record(ctx, KindAuth, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(ctx, KindAuth, 2); !errors.Is(err, ErrQueueFull) {
		t.Errorf("record into a full queue = %v, want ErrQueueFull", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Record(cctx, KindAuth, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("record with a canceled context = %v, want context.Canceled", err)
	}
	if err := l.Record(ctx, KindAuth, make(chan int)); err == nil {
		t.Error("record of an unencodable value succeeded")
	}
	go l.run()
	closeLog(t, l)
	if st := l.Stats(); st.Accepted != 2 || st.Written != 2 || st.Rejected != 3 {
		t.Errorf("stats %+v", st)
	}
	if s, err := Verify(dir, VerifyOptions{}); err != nil || s.Records != 2 {
		t.Errorf("verify %+v %v", s, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.asc")
	os.WriteFile(garbage, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnope\n-----END PGP PUBLIC KEY BLOCK-----\n"), 0o600)
	held := openLog(t, k, Config{Dir: filepath.Join(dir, "held")})
	defer closeLog(t, held)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{Dir: dir}, "no public key"},
		{"missing key file", Config{Dir: dir, PublicKeyFile: filepath.Join(dir, "nope.asc")}, "no such file"},
		{"garbage key", Config{Dir: dir, PublicKeyFile: garbage}, "public key"},
		{"private key", Config{Dir: dir, PublicKeyFile: k.privFile}, "private key"},
		{"no dir", Config{PublicKey: k.pub}, "no directory"},
		{"dir in use", Config{Dir: filepath.Join(dir, "held"), PublicKey: k.pub}, "in use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(tc.cfg)
			if err == nil {
				closeLog(t, l)
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestParseLine(t *testing.T) {
	zero := strings.Repeat("0", 64)
	tests := []struct {
		line string
		ok   bool
	}{
		{"1\t" + zero + "\tAAAA", true},
		{"01\t" + zero + "\tAAAA", false},
		{"0\t" + zero + "\tAAAA", false},
		{"1\t" + strings.Repeat("A", 64) + "\tAAAA", false},
		{"1\t" + zero[:63] + "\tAAAA", false},
		{"1\t" + zero + "\t", false},
		{"1\t" + zero + "\tAA\tAA", false},
		{"1 " + zero + " AAAA", false},
	}
	for _, tc := range tests {
		if _, err := parseLine([]byte(tc.line)); (err == nil) != tc.ok {
			t.Errorf("parseLine(%q) error = %v, want ok=%v", tc.line, err, tc.ok)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	k := testKeyPair(b)
	dir := b.TempDir()
	l := openLog(b, k, Config{Dir: dir, QueueSize: 8192, EnqueueTimeout: time.Minute})
	fields := map[string]any{
		"endpoint": "/v1/chat/completions",
		"original": strings.Repeat("Jan Kowalski, tel. 600 100 200, PESEL 44051401359. ", 10),
		"masked":   strings.Repeat("{{PERSON}}, tel. {{PHONE}}, PESEL {{PESEL}}. ", 10),
		"mappings": map[string]string{"{{PERSON}}": "Jan Kowalski", "{{PHONE}}": "600 100 200", "{{PESEL}}": "44051401359"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Record(ctx, KindMasking, fields); err != nil {
				b.Error(err)
				return
			}
		}
	})
	closeLog(b, l)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkEncrypt(b *testing.B) {
	k := testKeyPair(b).pub
	cfg := pgpConfig()
	pt := bytes.Repeat([]byte("x"), 1024)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := encrypt(&buf, k, cfg, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := testKeyPair(b)
	dir := b.TempDir()
	l := openLog(b, k, Config{Dir: dir})
	for i := range 2000 {
		if err := l.Record(context.Background(), KindAuth, map[string]string{"n": fmt.Sprint(i), "pad": strings.Repeat("p", 500)}); err != nil {
			b.Fatal(err)
		}
	}
	closeLog(b, l)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(dir, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecordEnqueue measures what a request pays per record: JSON
// encoding of the fields and the channel send (the queue is drained by a
// goroutine that discards, standing in for an infinitely fast writer).
func BenchmarkRecordEnqueue(b *testing.B) {
	l, err := open(Config{Dir: b.TempDir(), PublicKey: testKeyPair(b).pub})
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range l.ch {
		}
	}()
	fields := map[string]any{
		"endpoint": "/v1/chat/completions",
		"original": strings.Repeat("Jan Kowalski, tel. 600 100 200, PESEL 44051401359. ", 10),
		"masked":   strings.Repeat("{{PERSON}}, tel. {{PHONE}}, PESEL {{PESEL}}. ", 10),
		"mappings": map[string]string{"{{PERSON}}": "Jan Kowalski", "{{PHONE}}": "600 100 200", "{{PESEL}}": "44051401359"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Record(ctx, KindMasking, fields); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	l.mu.Lock()
	l.closed = true
	close(l.ch)
	l.mu.Unlock()
	<-drained
	l.release()
}

func TestWriteFailureIsRolledBackAndRetried(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	l := openLog(t, k, Config{Dir: dir})
	if err := l.Record(context.Background(), KindAuth, 0); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)

	l, err := open(Config{Dir: dir, PublicKey: k.pub})
	if err != nil {
		t.Fatal(err)
	}
	// Make the first write fail: swap the resumed file for a read-only handle.
	path := filepath.Join(dir, l.name)
	l.f.Close()
	if l.f, err = os.Open(path); err != nil {
		t.Fatal(err)
	}
	go l.run()
	for i := 1; i <= 3; i++ {
		if err := l.Record(context.Background(), KindAuth, i); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	if st := l.Stats(); st.Failures == 0 || st.Written != 3 || st.Lost != 0 {
		t.Errorf("stats %+v: want a failure, then 3 written", st)
	}
	if s, err := Verify(dir, VerifyOptions{}); err != nil || s.Records != 4 {
		t.Errorf("verify %+v %v; want 4 records", s, err)
	}
}

func TestCloseDeadlineCountsLostRecords(t *testing.T) {
	k := testKeyPair(t)
	dir := t.TempDir()
	l := openLog(t, k, Config{Dir: dir})
	if err := l.Record(context.Background(), KindAuth, 0); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)

	l, err := open(Config{Dir: dir, PublicKey: k.pub})
	if err != nil {
		t.Fatal(err)
	}
	// Every write fails: a read-only handle, and no directory to reopen in.
	path := filepath.Join(dir, l.name)
	l.f.Close()
	if l.f, err = os.Open(path); err != nil {
		t.Fatal(err)
	}
	l.cfg.Dir = filepath.Join(dir, "gone")
	go l.run()
	for i := 1; i <= 3; i++ {
		if err := l.Record(context.Background(), KindAuth, i); err != nil {
			t.Fatal(err)
		}
	}
	for l.Stats().Failures == 0 {
		time.Sleep(time.Millisecond) // poll a condition, not a duration
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("close = %v, want context.Canceled", err)
	}
	<-l.done
	if st := l.Stats(); st.Lost != 3 || st.Written != 0 {
		t.Errorf("stats %+v: want 3 lost", st)
	}
	if s, err := Verify(dir, VerifyOptions{}); err != nil || s.Records != 1 {
		t.Errorf("verify %+v %v; want the 1 durable record, intact", s, err)
	}
}

// readTail finds the last complete line whatever the chunking: lastLF is
// driven with a 3-byte buffer so every scan crosses chunks.
func TestReadTail(t *testing.T) {
	tests := []struct {
		content, line string
		good          int64
	}{
		{"", "", 0},
		{"no newline", "", 0},
		{"one\n", "one", 4},
		{"one\ntwo\n", "two", 8},
		{"one\ntwo\ntorn", "two", 8},
		{"\n", "", 1},
		{"a longer first line\nand a longer second one\npartial", "and a longer second one", 44},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := readTail(f, int64(len(tt.content)))
		if err != nil || string(tl.line) != tt.line || tl.good != tt.good || tl.found() != (tt.good > 0) {
			t.Errorf("readTail(%q) = line %q, good %d, err %v; want %q, %d", tt.content, tl.line, tl.good, err, tt.line, tt.good)
		}
		for before := int64(0); before <= int64(len(tt.content)); before++ {
			want := int64(strings.LastIndexByte(tt.content[:before], '\n'))
			if got, err := lastLF(f, make([]byte, 3), before); got != want || err != nil {
				t.Errorf("lastLF(%q, %d) = %d, %v; want %d", tt.content, before, got, err, want)
			}
		}
		f.Close()
	}
}
