package docs

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxHTMLToken bounds one HTML token (a tag, or a run of text between
// tags): the tokenizer holds a whole token in memory.
const maxHTMLToken = 4 << 20

// htmlText is the text of an HTML stream: tags stripped, script, style,
// noscript and template contents dropped, entities decoded, block elements
// separated by blank lines and <br> by a line break.
type htmlText struct {
	z    *html.Tokenizer
	buf  []byte
	skip int // depth inside elements whose text is dropped
	err  error
}

func newHTMLText(r io.Reader) *htmlText {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(maxHTMLToken)
	return &htmlText{z: z}
}

func dropped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Template:
		return true
	}
	return false
}

func block(a atom.Atom) string {
	switch a {
	case atom.Br:
		return "\n"
	case atom.P, atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Main, atom.Nav, atom.Aside,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Ul, atom.Ol, atom.Li, atom.Dl, atom.Dt, atom.Dd,
		atom.Table, atom.Tr, atom.Blockquote, atom.Pre, atom.Hr, atom.Title, atom.Figure, atom.Figcaption,
		atom.Form, atom.Fieldset, atom.Details, atom.Summary, atom.Body, atom.Html:
		return "\n\n"
	case atom.Td, atom.Th:
		return " "
	}
	return ""
}

func (h *htmlText) Read(p []byte) (int, error) {
	for len(h.buf) == 0 {
		if h.err != nil {
			return 0, h.err
		}
		h.buf = h.buf[:0]
		switch h.z.Next() {
		case html.ErrorToken:
			h.err = h.z.Err()
			if errors.Is(h.err, html.ErrBufferExceeded) {
				h.err = fmt.Errorf("HTML: a tag or a text run without tags is longer than %d bytes", maxHTMLToken)
			}
		case html.TextToken:
			if h.skip == 0 {
				h.buf = append(h.buf, h.z.Text()...)
			}
		case html.StartTagToken:
			name, _ := h.z.TagName()
			a := atom.Lookup(name)
			if dropped(a) {
				h.skip++
			}
			h.buf = append(h.buf, block(a)...)
		case html.SelfClosingTagToken:
			name, _ := h.z.TagName()
			h.buf = append(h.buf, block(atom.Lookup(name))...)
		case html.EndTagToken:
			name, _ := h.z.TagName()
			a := atom.Lookup(name)
			if dropped(a) && h.skip > 0 {
				h.skip--
			}
			h.buf = append(h.buf, block(a)...)
		}
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	return n, nil
}
