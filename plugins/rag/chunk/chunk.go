// Package chunk splits text into overlapping chunks measured in tokens, for
// retrieval-augmented generation.
//
// There is no model tokenizer here, so tokens are an approximation (see
// Count): the original LLM Router measured its 400-token windows with the
// embedding model's own subword tokenizer, which gives about 1.3 tokens per
// English word and 1.5–2 per Polish word; this package counts a word as one
// token (a long word as one per 8 runes), so a chunk of the same size holds
// somewhat more text than the original's (roughly 1.3× in English). CJK text
// counts one token per rune in both.
//
// Split reads from an io.Reader and keeps at most one chunk of text in memory,
// so a file of any size can be split. It cuts on a paragraph bound when one
// falls in the second half of the chunk, else on a sentence bound, else on a
// word bound, and starts the next chunk about Overlap tokens before the cut
// (on a sentence bound when one falls in the overlap).
package chunk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults of the original (LLM_ROUTER_LANGCHAIN_RAG_CHUNK_SIZE and
// _CHUNK_OVERLAP).
const (
	DefaultSize    = 400
	DefaultOverlap = 100
)

// maxPieceRunes bounds one piece (a word or a punctuation run); longer runs
// are cut, so that no input makes a piece, or a chunk, grow without bound.
const maxPieceRunes = 64

// Options set the chunk size and overlap, in tokens.
type Options struct {
	// Size is the most tokens in a chunk (DefaultSize when 0).
	Size int
	// Overlap is how many tokens a chunk repeats from the end of the one
	// before it (0 means none; DefaultOverlap is the original's). It must be
	// less than Size.
	Overlap int
}

// Validate reports sizes that cannot be used.
func (o Options) Validate() error {
	if o.Size < 0 {
		return fmt.Errorf("chunk size %d: must be positive", o.Size)
	}
	s := o.size()
	if o.Overlap < 0 || o.Overlap >= s {
		return fmt.Errorf("chunk overlap %d: must be at least 0 and less than the chunk size %d", o.Overlap, s)
	}
	return nil
}

func (o Options) size() int {
	if o.Size == 0 {
		return DefaultSize
	}
	return o.Size
}

// Chunk is one piece of a document.
type Chunk struct {
	// N numbers the chunks of a document from 0.
	N int
	// Text is the chunk's text: whitespace runs collapsed to one space, a
	// line break or a blank line (paragraphs kept).
	Text string
	// Tokens is the chunk's length as Count measures it.
	Tokens int
}

// bound is the strength of the place before a piece.
type bound uint8

const (
	boundNone      bound = iota // inside a word ("word" + ".")
	boundWord                   // between words
	boundSentence               // after a sentence end
	boundParagraph              // after a blank line
)

// piece is a word, one CJK rune or a punctuation run, with the whitespace
// before it.
type piece struct {
	sep    string // "", " ", "\n" or "\n\n"
	text   string
	tokens int
	bound  bound // of the place before this piece
	// carried marks a piece repeated from the chunk before (the overlap).
	carried bool
}

// kind classes runes.
type kind uint8

const (
	kSpace kind = iota
	kWord
	kCJK
	kPunct
)

func classify(r rune) kind {
	if r < utf8.RuneSelf { // ASCII, most of the text: no table search
		switch {
		case r == ' ' || r >= '\t' && r <= '\r':
			return kSpace
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_':
			return kWord
		}
		return kPunct
	}
	switch {
	case unicode.IsSpace(r):
		return kSpace
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
		return kCJK
	case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_':
		return kWord
	case r == utf8.RuneError:
		return kSpace // undecodable bytes separate words and count nothing
	}
	return kPunct
}

func isSentenceEnd(r rune) bool {
	switch r {
	case '.', '!', '?', '…', '。', '！', '？', '；':
		return true
	}
	return false
}

// tokensOf is the token count of a piece of n runes of kind k: a word is one
// token per 8 runes (at least one), a punctuation run one per 4, a CJK rune
// one.
func tokensOf(k kind, n int) int {
	switch k {
	case kWord:
		return (n + 7) / 8
	case kPunct:
		return (n + 3) / 4
	}
	return n
}

// scanner turns a rune stream into pieces.
type scanner struct {
	r   *bufio.Reader
	err error
	// pending rune read ahead, if havePending
	pending     rune
	havePending bool
	lastRune    rune // last rune of the previous piece
	first       bool
	scratch     []byte // the piece being read
}

func newScanner(r io.Reader) *scanner {
	return &scanner{r: bufio.NewReaderSize(r, 64<<10), first: true}
}

func (s *scanner) readRune() (rune, bool) {
	if s.havePending {
		s.havePending = false
		return s.pending, true
	}
	if s.err != nil {
		return 0, false
	}
	r, _, err := s.r.ReadRune()
	if err != nil {
		s.err = err
		return 0, false
	}
	return r, true
}

func (s *scanner) unread(r rune) { s.pending, s.havePending = r, true }

// next returns the next piece, or false at the end of the input (s.err says
// whether it was io.EOF).
func (s *scanner) next() (piece, bool) {
	newlines, spaces := 0, 0
	var r rune
	for {
		var ok bool
		r, ok = s.readRune()
		if !ok {
			return piece{}, false
		}
		k := classify(r)
		if k != kSpace {
			break
		}
		if r == '\n' {
			newlines++
		}
		spaces++
	}
	var p piece
	switch {
	case newlines >= 2:
		p.sep, p.bound = "\n\n", boundParagraph
	case newlines == 1:
		p.sep, p.bound = "\n", boundWord
	case spaces > 0:
		p.sep, p.bound = " ", boundWord
	}
	k := classify(r)
	if k == kCJK || classify(s.lastRune) == kCJK {
		// CJK has no spaces: every rune is a place to cut.
		p.bound = max(p.bound, boundWord)
	}
	if p.bound == boundWord && isSentenceEnd(s.lastRune) {
		p.bound = boundSentence
	}
	if s.first {
		p.sep, p.bound, s.first = "", boundParagraph, false
	}
	b := utf8.AppendRune(s.scratch[:0], r)
	n := 1
	last := r
	if k != kCJK {
		for n < maxPieceRunes {
			r2, ok := s.readRune()
			if !ok {
				break
			}
			if classify(r2) != k {
				s.unread(r2)
				break
			}
			b = utf8.AppendRune(b, r2)
			last = r2
			n++
		}
	}
	s.scratch = b
	p.text, p.tokens = string(b), tokensOf(k, n)
	s.lastRune = last
	return p, true
}

// Count returns the number of tokens in text, as Split measures chunks.
func Count(text string) int {
	s := newScanner(strings.NewReader(text))
	n := 0
	for {
		p, ok := s.next()
		if !ok {
			return n
		}
		n += p.tokens
	}
}

// Head returns text when it has at most size tokens, else the first chunk
// Split cuts from it with that size (and no overlap): a bound on a text to
// embed that a model which took the chunks also takes.
func Head(text string, size int) string {
	if size <= 0 {
		size = DefaultSize
	}
	s := newScanner(strings.NewReader(text))
	for n := 0; n <= size; {
		p, ok := s.next()
		if !ok {
			return text
		}
		n += p.tokens
	}
	var head string
	errStop := errors.New("first chunk cut")
	_ = Split(strings.NewReader(text), Options{Size: size}, func(c Chunk) error {
		head = c.Text
		return errStop
	})
	return head
}

// Split reads text from r and calls emit with each chunk in order. It stops
// at the first error of r or emit and returns it. Empty or blank input emits
// nothing.
func Split(r io.Reader, o Options, emit func(Chunk) error) error {
	if err := o.Validate(); err != nil {
		return err
	}
	size, overlap := o.size(), o.Overlap
	s := newScanner(r)
	var win []piece // the pieces of the chunk being built
	tokens := 0     // sum of win's tokens
	n := 0
	flush := func(cut int) error {
		var b strings.Builder
		t := 0
		for i, p := range win[:cut] {
			if i > 0 {
				b.WriteString(p.sep)
			}
			b.WriteString(p.text)
			t += p.tokens
		}
		if err := emit(Chunk{N: n, Text: b.String(), Tokens: t}); err != nil {
			return err
		}
		n++
		return nil
	}
	for {
		p, ok := s.next()
		if !ok {
			break
		}
		if tokens+p.tokens > size && len(win) > 0 {
			cut := cutPoint(win, p.bound, size)
			if err := flush(cut); err != nil {
				return err
			}
			start := overlapStart(win, cut, overlap)
			win = append(win[:0], win[start:]...)
			tokens = 0
			for _, q := range win {
				tokens += q.tokens
			}
			// The overlap plus p may still be too long when the cut was early
			// and the rest is long: cut again until p fits.
			for tokens+p.tokens > size && len(win) > 0 {
				cut = cutPoint(win, p.bound, size)
				if err := flush(cut); err != nil {
					return err
				}
				start = max(overlapStart(win, cut, overlap), 1)
				win = append(win[:0], win[start:]...)
				tokens = 0
				for _, q := range win {
					tokens += q.tokens
				}
			}
		}
		win = append(win, p)
		tokens += p.tokens
	}
	if s.err != nil && !errors.Is(s.err, io.EOF) {
		return s.err
	}
	if len(win) > 0 && !allCarried(win) {
		return flush(len(win))
	}
	return nil
}

// allCarried reports whether the window holds only the overlap carried over
// from the last chunk (nothing new), so it needs no chunk of its own.
func allCarried(win []piece) bool {
	for _, p := range win {
		if !p.carried {
			return false
		}
	}
	return true
}

// cutPoint picks where to end the chunk made of win: the number of pieces
// it keeps. It prefers the last paragraph bound, then the last sentence
// bound, in the second half of the chunk, else the last word bound, else
// everything. The chunk always keeps at least one piece that was not carried
// over from the chunk before.
func cutPoint(win []piece, next bound, size int) int {
	half := size / 2
	carried := 0
	for carried < len(win) && win[carried].carried {
		carried++
	}
	para, sent, word := 0, 0, 0
	t := 0
	for i := 0; i <= len(win); i++ {
		b := next // the bound at the end of win is the next piece's
		if i < len(win) {
			b = win[i].bound
		}
		if i > carried {
			if b >= boundWord {
				word = i
			}
			if t >= half && b >= boundSentence {
				sent = i
			}
			if t >= half && b == boundParagraph {
				para = i
			}
		}
		if i < len(win) {
			t += win[i].tokens
		}
	}
	for _, c := range []int{para, sent, word} {
		if c > 0 {
			return c
		}
	}
	return len(win)
}

// overlapStart picks where the next chunk starts so that it repeats at most
// overlap tokens before cut: the earliest piece that fits, moved forward to a
// sentence start if one is in the first half of the overlap. It marks the
// pieces from there to cut as carried over.
func overlapStart(win []piece, cut, overlap int) int {
	start, t := cut, 0
	for start > 0 && t+win[start-1].tokens <= overlap {
		start--
		t += win[start].tokens
	}
	if start == 0 {
		start = 1 // always move forward
		t -= win[0].tokens
	}
	for i := start; i < cut && t >= (overlap+1)/2; i++ {
		if win[i].bound >= boundSentence {
			start = i
			break
		}
		t -= win[i].tokens
	}
	for i := range win {
		win[i].carried = i >= start && i < cut
	}
	return start
}
