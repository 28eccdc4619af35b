package chunk

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// Head is the text when it fits, else Split's first chunk of that size.
func TestHead(t *testing.T) {
	long := strings.Repeat("One sentence of seven tokens here. ", 100)
	var first string
	_ = Split(strings.NewReader(long), Options{Size: 30}, func(c Chunk) error {
		if c.N == 0 {
			first = c.Text
		}
		return nil
	})
	for _, tc := range []struct {
		text string
		size int
		want string
	}{
		{"", 30, ""},
		{"  short  text\n", 30, "  short  text\n"},
		{long, 30, first},
		{strings.Repeat("w ", DefaultSize), 0, strings.Repeat("w ", DefaultSize)},
	} {
		got := Head(tc.text, tc.size)
		if got != tc.want {
			t.Errorf("Head(%.20q…, %d) = %.40q…, want %.40q…", tc.text, tc.size, got, tc.want)
		}
		if tc.size > 0 && Count(got) > tc.size {
			t.Errorf("Head(%.20q…, %d) has %d tokens", tc.text, tc.size, Count(got))
		}
	}
	if got := Head(strings.Repeat("w ", DefaultSize+1), 0); Count(got) > DefaultSize {
		t.Errorf("size 0: %d tokens, want at most %d", Count(got), DefaultSize)
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"   \n\t ", 0},
		{"hello", 1},
		{"Hello, world!", 4},           // Hello , world !
		{"one two  three\n\nfour", 4},  // whitespace counts nothing
		{"zażółć gęślą jaźń", 3},       // Polish letters are letters
		{"naïve café", 2},              // combining marks stay in the word
		{"abcdefghijklmnop", 2},        // 16 runes: one token per 8
		{"abcdefghi", 2},               // 9 runes
		{"...", 1},                     // a punctuation run: one per 4
		{"-----", 2},                   // 5 runes
		{"東京都", 3},                     // CJK: one per rune
		{"東京 is big.", 5},              // 東 京 is big .
		{"x_1 = 42;", 4},               // x_1 = 42 ;
		{"a\x00b", 3},                  // NUL is punctuation here
		{"bad \xff\xfe bytes", 2},      // undecodable bytes count nothing
		{"https://example.com/a/b", 9}, // https :// example . com / a / b
	} {
		if got := Count(tc.text); got != tc.want {
			t.Errorf("Count(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
}

// words makes n distinct words "w0 w1 …" with sentences of per words.
func words(n, per int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "w%d", i)
		if per > 0 && (i+1)%per == 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

func split(t *testing.T, text string, o Options) []Chunk {
	t.Helper()
	var out []Chunk
	if err := Split(strings.NewReader(text), o, func(c Chunk) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatalf("Split: %v", err)
	}
	return out
}

func TestSplitSizesAndOverlap(t *testing.T) {
	for _, tc := range []struct {
		name          string
		text          string
		o             Options
		chunks        int
		firstText     string
		secondPrefix  string
		maxTokensSeen int
	}{
		{name: "empty", text: "", o: Options{Size: 10, Overlap: 2}, chunks: 0},
		{name: "blank", text: " \n\n\t", o: Options{Size: 10, Overlap: 2}, chunks: 0},
		{name: "fits in one", text: "a b c", o: Options{Size: 10, Overlap: 2}, chunks: 1, firstText: "a b c"},
		{name: "exactly one", text: words(10, 0), o: Options{Size: 10, Overlap: 2}, chunks: 1, firstText: words(10, 0)},
		{name: "no overlap", text: words(20, 0), o: Options{Size: 10}, chunks: 2, firstText: words(10, 0), secondPrefix: "w10 "},
		{name: "overlap 2 words", text: words(20, 0), o: Options{Size: 10, Overlap: 2}, chunks: 3,
			firstText: words(10, 0), secondPrefix: "w8 w9 w10"},
		{name: "sentence cut", text: words(12, 6), o: Options{Size: 10, Overlap: 0}, chunks: 2,
			firstText: "w0 w1 w2 w3 w4 w5.", secondPrefix: "w6 "},
		{name: "overlap starts on a sentence", text: words(24, 4), o: Options{Size: 10, Overlap: 6}, chunks: 5,
			firstText: "w0 w1 w2 w3. w4 w5 w6 w7.", secondPrefix: "w4 w5 w6 w7. w8"},
		{name: "paragraph before sentence", text: "a b c d e.\n\nf g. h i j k l", o: Options{Size: 10}, chunks: 2,
			firstText: "a b c d e.", secondPrefix: "f g. h"},
		{name: "paragraphs kept", text: "a b\n\n\n  c d\ne", o: Options{Size: 10}, chunks: 1, firstText: "a b\n\nc d\ne"},
		{name: "defaults: no overlap", text: words(1000, 0), o: Options{}, chunks: 3, firstText: words(400, 0), secondPrefix: "w400 "},
		{name: "the original's sizes", text: words(1000, 0), o: Options{Size: DefaultSize, Overlap: DefaultOverlap}, chunks: 3,
			firstText: words(400, 0), secondPrefix: "w300 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := split(t, tc.text, tc.o)
			if len(cs) != tc.chunks {
				t.Fatalf("%d chunks, want %d: %+v", len(cs), tc.chunks, cs)
			}
			size := tc.o.Size
			if size == 0 {
				size = DefaultSize
			}
			for i, c := range cs {
				if c.N != i {
					t.Errorf("chunk %d has N %d", i, c.N)
				}
				if c.Tokens > size || c.Tokens != Count(c.Text) || c.Tokens == 0 {
					t.Errorf("chunk %d: %d tokens (Count %d), size %d: %q", i, c.Tokens, Count(c.Text), size, c.Text)
				}
			}
			if tc.firstText != "" && cs[0].Text != tc.firstText {
				t.Errorf("first chunk %q, want %q", cs[0].Text, tc.firstText)
			}
			if tc.secondPrefix != "" && !strings.HasPrefix(cs[1].Text, tc.secondPrefix) {
				t.Errorf("second chunk %q, want it to start with %q", cs[1].Text, tc.secondPrefix)
			}
		})
	}
}

// Every word of the input is in some chunk, in order, and consecutive chunks
// share at most Overlap tokens.
func TestSplitCoversEverything(t *testing.T) {
	for _, o := range []Options{{Size: 7, Overlap: 3}, {Size: 50, Overlap: 10}, {Size: 5, Overlap: 4}, {Size: 1}, {Size: 3, Overlap: 2}} {
		t.Run(fmt.Sprint(o), func(t *testing.T) {
			text := words(300, 7)
			cs := split(t, text, o)
			next := 0 // the next word index not yet seen
			for i, c := range cs {
				fs := strings.Fields(strings.ReplaceAll(c.Text, ".", ""))
				if len(fs) == 0 {
					continue // a chunk of one "." (size 1)
				}
				var first int
				fmt.Sscanf(fs[0], "w%d", &first)
				if first > next {
					t.Fatalf("chunk %d starts at w%d, w%d is missing", i, first, next)
				}
				if i > 0 && next-first > o.Overlap {
					t.Errorf("chunk %d repeats %d words, overlap %d", i, next-first, o.Overlap)
				}
				var last int
				fmt.Sscanf(fs[len(fs)-1], "w%d", &last)
				if last < next-1 || (last < next && !strings.HasSuffix(c.Text, ".")) {
					t.Fatalf("chunk %d brings nothing new: %q", i, c.Text)
				}
				next = last + 1
			}
			if next != 300 {
				t.Fatalf("words up to w%d covered, want all 300", next-1)
			}
		})
	}
}

func TestSplitBadOptions(t *testing.T) {
	for _, o := range []Options{{Size: -1}, {Size: 10, Overlap: 10}, {Size: 10, Overlap: -1}, {Overlap: 400}} {
		if err := Split(strings.NewReader("x"), o, func(Chunk) error { return nil }); err == nil {
			t.Errorf("Split with %+v: no error", o)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := Split(strings.NewReader(words(100, 0)), Options{Size: 10}, func(Chunk) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("emit error: got %v after %d chunks, want stop after 1", err, n)
	}
	readErr := errors.New("disk on fire")
	err = Split(io.MultiReader(strings.NewReader("a b c "), &failing{readErr}), Options{Size: 10}, func(Chunk) error { return nil })
	if !errors.Is(err, readErr) {
		t.Errorf("read error: got %v", err)
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// A word with no spaces longer than a chunk is cut, not kept whole.
func TestSplitLongWord(t *testing.T) {
	text := strings.Repeat("a", 10000)
	cs := split(t, text, Options{Size: 10, Overlap: 2})
	total := 0
	for _, c := range cs {
		if c.Tokens > 10 || len(c.Text) > 10*maxPieceRunes {
			t.Fatalf("chunk of %d tokens, %d bytes", c.Tokens, len(c.Text))
		}
		total += len(c.Text)
	}
	if total < 10000 {
		t.Errorf("chunks hold %d bytes of 10000", total)
	}
}

// gen streams n bytes of prose without holding them.
type gen struct {
	left int
	i    int
}

func (g *gen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	const line = "The quick brown fox jumps over the lazy dog. Zażółć gęślą jaźń!\n\n"
	n := 0
	for n < len(p) && g.left > 0 {
		p[n] = line[g.i%len(line)]
		g.i++
		n++
		g.left--
	}
	return n, nil
}

// Splitting 50 MB keeps memory bounded: the heap never holds the input.
func TestSplitStreamsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB")
	}
	const size = 50 << 20
	var peak uint64
	var ms runtime.MemStats
	chunks := 0
	err := Split(&gen{left: size}, Options{}, func(c Chunk) error {
		chunks++
		if chunks%2000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if chunks < 1000 {
		t.Fatalf("%d chunks", chunks)
	}
	if peak > 32<<20 {
		t.Errorf("heap in use reached %d MB while splitting %d MB", peak>>20, size>>20)
	}
}

func BenchmarkSplit(b *testing.B) {
	const size = 8 << 20
	b.SetBytes(size)
	for b.Loop() {
		if err := Split(&gen{left: size}, Options{Size: DefaultSize, Overlap: DefaultOverlap}, func(Chunk) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
