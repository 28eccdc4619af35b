package docs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readDoc(t *testing.T, d Doc) (string, error) {
	t.Helper()
	rc, err := Open(d)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestHTML(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, html string
		want       []string // substrings, in order
		not        []string
	}{
		{name: "tags and entities", html: `<html><head><title>T&amp;C</title><style>p{color:red}</style></head>
<body><h1>Caf&eacute; &lt;menu&gt;</h1><p>Fish &amp; chips&nbsp;today.</p><script>alert("x")</script></body></html>`,
			want: []string{"T&C", "Café <menu>", "Fish & chips\u00a0today."}, not: []string{"color", "alert", "<h1>", "<p>"}},
		{name: "blocks are paragraphs", html: `<p>one</p><p>two<br>three</p><ul><li>a</li><li>b</li></ul>`,
			want: []string{"one\n\n", "two\nthree", "a\n\n", "b"}},
		{name: "inline stays inline", html: `<p>a <b>bold</b> and <a href="x">link</a>.</p>`, want: []string{"a bold and link."}},
		{name: "nested dropped", html: `<noscript><style>x</style>hidden</noscript>shown<template>t</template>`,
			want: []string{"shown"}, not: []string{"hidden", "x", "t"}},
		{name: "comments dropped", html: `a<!-- secret -->b`, want: []string{"ab"}, not: []string{"secret"}},
		{name: "broken html", html: `<div><p>unclosed <i>text`, want: []string{"unclosed text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".html")
			write(t, p, tc.html)
			got, err := readDoc(t, Doc{Path: p, File: p, Format: HTML})
			if err != nil {
				t.Fatal(err)
			}
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("text %q lacks %q (in order)", got, w)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("text %q contains %q", got, n)
				}
			}
		})
	}
}

func TestBinaryDetection(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content string
		binary  bool
	}{
		{"empty.txt", "", false},
		{"plain.txt", "hello world\n", false},
		{"polish.txt", strings.Repeat("zażółć gęślą jaźń ", 1000), false},
		{"nul.txt", "hello\x00world", true},
		{"elf.txt", "\x7fELF\x02\x01\x01\x00\x00\x00", true},
		{"latin2.txt", strings.Repeat("\xb1\xe6\xea\xb3\xf1 ", 100), true}, // ISO-8859-2, not UTF-8
		{"a few bad bytes.txt", strings.Repeat("good text ", 100) + "\xff\xfe", false},
		{"utf16.txt", "\xff\xfeh\x00i\x00", true},
		// A rune cut at the end of the 8 KB sample is not a bad byte.
		{"cut rune.txt", strings.Repeat("a", sniffBytes-1) + "ż", false},
	} {
		p := filepath.Join(dir, tc.name)
		write(t, p, tc.content)
		got, err := readDoc(t, Doc{Path: tc.name, File: p, Format: Text})
		if tc.binary {
			if !errors.Is(err, ErrBinary) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("%s: error %v, want ErrBinary naming the file", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.content {
			t.Errorf("%s: read %d bytes, err %v; want the content back", tc.name, len(got), err)
		}
	}
}

func TestWalk(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.md"), "# A")
	write(t, filepath.Join(dir, "sub", "b.TXT"), "b")
	write(t, filepath.Join(dir, "sub", "c.html"), "<p>c</p>")
	write(t, filepath.Join(dir, "sub", "d.go"), "package d")
	write(t, filepath.Join(dir, "sub", "e.pdf"), "%PDF-1.4")
	write(t, filepath.Join(dir, ".git", "x.md"), "hidden")
	write(t, filepath.Join(dir, ".hidden.md"), "hidden")
	write(t, filepath.Join(dir, "other", "f.rst"), "f")
	// A link loop and a second link to a file.
	if err := os.Symlink(dir, filepath.Join(dir, "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.md"), filepath.Join(dir, "sub", "again.md")); err != nil {
		t.Fatal(err)
	}
	rel := func(docs []Doc) []string {
		var out []string
		for _, d := range docs {
			r, _ := filepath.Rel(filepath.ToSlash(dir), d.Path)
			out = append(out, filepath.ToSlash(r)+":"+d.Format.String())
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		paths []string
		exts  []string
		want  []string
		skips int
	}{
		{name: "defaults", paths: []string{dir}, want: []string{"a.md:markdown", "sub/b.TXT:text", "sub/c.html:html"}},
		{name: "ext filter", paths: []string{dir}, exts: []string{"md"}, want: []string{"a.md:markdown"}},
		{name: "extra ext is text", paths: []string{dir}, exts: []string{".rst,.md"}, want: []string{"a.md:markdown", "other/f.rst:text"}},
		{name: "pdf skipped", paths: []string{dir}, exts: []string{".pdf"}, skips: 1},
		{name: "file named directly", paths: []string{filepath.Join(dir, "sub", "d.go")}, want: []string{"sub/d.go:text"}},
		{name: "empty dir", paths: []string{filepath.Join(dir, "other")}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, skips, err := Walk(tc.paths, tc.exts)
			if err != nil {
				t.Fatal(err)
			}
			if got := rel(docs); !slices.Equal(got, tc.want) {
				t.Errorf("docs %q, want %q", got, tc.want)
			}
			if len(skips) != tc.skips {
				t.Errorf("skips %v, want %d", skips, tc.skips)
			}
		})
	}
	if _, _, err := Walk([]string{filepath.Join(dir, "missing")}, nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: error %v", err)
	}
}

func TestNormExts(t *testing.T) {
	if got := NormExts([]string{"MD", ".txt", "md", "html,.htm"}); !slices.Equal(got, []string{".md", ".txt", ".html", ".htm"}) {
		t.Errorf("NormExts = %q", got)
	}
	if got := NormExts(nil); !slices.Equal(got, DefaultExts()) {
		t.Errorf("NormExts(nil) = %q", got)
	}
}

// A large HTML file is read as a stream: the heap never holds it.
func TestHTMLStreamsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MB")
	}
	p := filepath.Join(t.TempDir(), "big.html")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	page := "<div><h2>Title &amp; more</h2><p>Some <b>bold</b> text.</p><script>var x = 1;</script></div>\n"
	buf := []byte(strings.Repeat(page, (1<<20)/len(page)))
	f.WriteString("<html><body>")
	for n := 0; n < size; n += len(buf) {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	rc, err := Open(Doc{Path: "big.html", File: p, Format: HTML})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	runtime.GC()
	var ms runtime.MemStats
	var peak uint64
	chunk := make([]byte, 32<<10)
	total, reads := 0, 0
	for {
		n, err := rc.Read(chunk)
		total += n
		if reads++; reads%256 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total < size/4 {
		t.Fatalf("read %d bytes of text", total)
	}
	t.Logf("%d MB of HTML, %d MB of text, peak heap in use %d MB (sampled)", size>>20, total>>20, peak>>20)
	if peak > 32<<20 {
		t.Errorf("heap in use reached %d MB reading %d MB of HTML", peak>>20, size>>20)
	}
}
