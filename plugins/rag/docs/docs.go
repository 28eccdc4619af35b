// Package docs finds the documents of a RAG collection and reads their text:
// Markdown and plain text as they are, HTML with its tags stripped (script and
// style dropped, entities decoded). Binary files are recognised and skipped.
//
// PDF is not read: no well-kept pure-Go library extracts PDF text reliably
// (ledongthuc/pdf and its forks are unmaintained and fail on common fonts and
// encodings; pdfcpu manipulates PDFs but does not extract running text). The
// one well-kept cgo-free option, klippa-app/go-pdfium's WebAssembly build
// (Google's PDFium compiled to wasm, run by wazero), would add about 10 MB
// and two large dependencies to the router binary for one input format, so
// a .pdf is skipped with a message saying to convert it (pdftotext) first.
//
// Every reader streams: nothing holds a whole file in memory.
package docs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Format is how a document's bytes become text.
type Format uint8

const (
	// Text is plain text, read as is.
	Text Format = iota
	// Markdown is read as is (it is readable text).
	Markdown
	// HTML has its tags stripped.
	HTML
)

// String names the format.
func (f Format) String() string {
	switch f {
	case Markdown:
		return "markdown"
	case HTML:
		return "html"
	}
	return "text"
}

// DefaultExts returns the extensions indexed when none are given.
func DefaultExts() []string { return []string{".md", ".markdown", ".txt", ".html", ".htm"} }

// FormatOf returns the format of a file name by its extension. An extension
// with no reader of its own (an --ext the user added, like .rst) is Text;
// PDF and common binary document formats are an error that says why.
func FormatOf(name string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".md", ".markdown", ".mdown", ".mkd":
		return Markdown, nil
	case ".html", ".htm", ".xhtml":
		return HTML, nil
	case ".pdf":
		return 0, errors.New("PDF is not supported (no well-kept pure-Go PDF text extractor); convert it to text first, e.g. pdftotext")
	case ".doc", ".docx", ".odt", ".rtf", ".epub", ".xls", ".xlsx", ".ppt", ".pptx":
		return 0, fmt.Errorf("%s is not supported; convert it to text, Markdown or HTML first", ext)
	}
	return Text, nil
}

// Doc is a document found by Walk.
type Doc struct {
	// Path names the document in the collection: the path as reached from
	// the argument, cleaned, with forward slashes.
	Path string
	// File is the path to open.
	File string
	// Size is the file size in bytes.
	Size int64
	// Format is how the file is read.
	Format Format
}

// Skip is a file Walk or Open left out, and why.
type Skip struct {
	Path   string
	Reason string
}

func (s Skip) String() string { return s.Path + ": " + s.Reason }

// NormExts returns exts with a leading dot, lower-cased, without
// duplicates; DefaultExts when exts is empty.
func NormExts(exts []string) []string {
	if len(exts) == 0 {
		return DefaultExts()
	}
	var out []string
	for _, e := range exts {
		for _, e := range strings.Split(e, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if e == "" {
				continue
			}
			if !strings.HasPrefix(e, ".") {
				e = "." + e
			}
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

// Walk lists the documents under paths: a directory is walked recursively
// (following symbolic links, each directory once, so a link loop ends;
// hidden files and directories skipped), keeping files whose extension is in
// exts (NormExts); a file named directly is kept whatever its extension. A
// file reached twice (through a link) is listed once. Files that cannot be
// read as documents (PDF, special files) are returned as skipped. A path
// that does not exist is an error. Docs come sorted by Path.
func Walk(paths []string, exts []string) ([]Doc, []Skip, error) {
	exts = NormExts(exts)
	w := &walker{exts: exts, dirs: map[string]bool{}, files: map[string]bool{}}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("document path: %w", err)
		}
		name := filepath.ToSlash(filepath.Clean(p))
		if fi.IsDir() {
			w.dir(p, name)
			continue
		}
		w.file(p, name, fi)
	}
	slices.SortFunc(w.docs, func(a, b Doc) int { return strings.Compare(a.Path, b.Path) })
	return w.docs, w.skips, nil
}

type walker struct {
	exts  []string
	dirs  map[string]bool // real paths of directories walked
	files map[string]bool // real paths of files listed
	docs  []Doc
	skips []Skip
}

// dir walks the directory p; what cannot be read is recorded as skipped.
func (w *walker) dir(p, name string) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		w.skips = append(w.skips, Skip{name, err.Error()})
		return
	}
	if abs, err := filepath.Abs(real); err == nil {
		real = abs
	}
	if w.dirs[real] {
		return // seen: a link loop, or two links to one directory
	}
	w.dirs[real] = true
	ents, err := os.ReadDir(p)
	if err != nil {
		w.skips = append(w.skips, Skip{name, err.Error()})
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		cp, cn := filepath.Join(p, e.Name()), name+"/"+e.Name()
		fi, err := os.Stat(cp) // follows links
		if err != nil {
			w.skips = append(w.skips, Skip{cn, err.Error()})
			continue
		}
		if fi.IsDir() {
			w.dir(cp, cn)
			continue
		}
		if !slices.Contains(w.exts, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		w.file(cp, cn, fi)
	}
}

func (w *walker) file(p, name string, fi os.FileInfo) {
	if !fi.Mode().IsRegular() {
		w.skips = append(w.skips, Skip{name, "not a regular file"})
		return
	}
	real, err := filepath.EvalSymlinks(p)
	if err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			real = abs
		}
		if w.files[real] {
			return
		}
		w.files[real] = true
	}
	f, err := FormatOf(name)
	if err != nil {
		w.skips = append(w.skips, Skip{name, err.Error()})
		return
	}
	w.docs = append(w.docs, Doc{Path: name, File: p, Size: fi.Size(), Format: f})
}

// ErrBinary is a file that looks binary (NUL bytes, or mostly invalid
// UTF-8) rather than text.
var ErrBinary = errors.New("binary file, not text")

// sniffBytes is how much of a file the binary check looks at.
const sniffBytes = 8 << 10

// Open opens a document and returns its text as a stream. A binary file is
// an error wrapping ErrBinary.
func Open(d Doc) (io.ReadCloser, error) { return OpenCounted(d, nil) }

// OpenCounted is Open that also calls read with the number of bytes of the
// file read so far, as they are read (for progress).
func OpenCounted(d Doc, read func(n int)) (io.ReadCloser, error) {
	f, err := os.Open(d.File)
	if err != nil {
		return nil, err
	}
	var src io.Reader = f
	if read != nil {
		src = counting{f, read}
	}
	br := bufio.NewReaderSize(src, 64<<10)
	if err := checkText(br); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", d.Path, err)
	}
	var r io.Reader = br
	if d.Format == HTML {
		r = newHTMLText(br)
	}
	return readCloser{r, f}, nil
}

type counting struct {
	r    io.Reader
	read func(int)
}

func (c counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.read(n)
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// checkText looks at the start of br for signs of a binary file: a NUL
// byte, or more than 10% of bytes that are not UTF-8.
func checkText(br *bufio.Reader) error {
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return err
	}
	if len(head) == 0 {
		return nil
	}
	if slices.Contains(head, 0) {
		return ErrBinary
	}
	bad := 0
	for i := 0; i < len(head); {
		r, n := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && n == 1 {
			if len(head)-i < utf8.UTFMax && !utf8.FullRune(head[i:]) {
				break // a rune cut at the end of the sample
			}
			bad++
		}
		i += n
	}
	if bad*10 > len(head) {
		return ErrBinary
	}
	return nil
}
