package rag

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

// progress shows an index run: on a terminal a bar with rate and ETA
// redrawn in place; otherwise a plain line every few seconds. It is called
// from the indexing goroutine only.
type progress struct {
	w       io.Writer
	tty     bool
	start   time.Time
	every   time.Duration
	last    time.Time
	p       collection.Progress
	seen    bool
	drawn   bool // p is on the screen
	lastLen int
	now     func() time.Time
}

func newProgress(w io.Writer, tty bool, start time.Time) *progress {
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	return &progress{w: w, tty: tty, start: start, every: every, now: time.Now}
}

// update takes a new state and draws it if it is time.
func (pr *progress) update(p collection.Progress) {
	pr.p, pr.seen, pr.drawn = p, true, false
	if t := pr.now(); t.Sub(pr.last) >= pr.every {
		pr.last = t
		pr.draw()
	}
}

// warn prints a line above the bar.
func (pr *progress) warn(msg string) {
	pr.clear()
	fmt.Fprintln(pr.w, "llm-router rag: "+msg)
}

// finish draws the final state (if anything was embedded) and ends the bar's
// line.
func (pr *progress) finish() {
	if !pr.seen {
		return
	}
	if !pr.drawn || pr.tty {
		pr.draw()
	}
	if pr.tty {
		fmt.Fprintln(pr.w)
		pr.lastLen = 0
	}
}

func (pr *progress) clear() {
	if pr.tty && pr.lastLen > 0 {
		fmt.Fprintf(pr.w, "\r%s\r", strings.Repeat(" ", pr.lastLen))
		pr.lastLen = 0
	}
}

// line is the text of the current state.
func (pr *progress) line() string {
	p := pr.p
	el := pr.now().Sub(pr.start).Seconds()
	rate := float64(p.Chunks) / max(el, 1e-9)
	eta := "?"
	if p.Read > 0 && p.Bytes > 0 {
		left := float64(p.Bytes-p.Read) / (float64(p.Read) / max(el, 1e-9))
		eta = (time.Duration(max(left, 0)) * time.Second).Round(time.Second).String()
	}
	frac := 1.0
	if p.Bytes > 0 {
		frac = min(float64(p.Read)/float64(p.Bytes), 1)
	}
	stats := fmt.Sprintf("%d/%d documents, %s/%s, %d chunks, %.1f chunks/s, ETA %s",
		p.Done, p.Docs, mb(p.Read), mb(p.Bytes), p.Chunks, rate, eta)
	if !pr.tty {
		return "indexing: " + stats
	}
	const width = 24
	n := int(frac * width)
	return fmt.Sprintf("%s%s %5.1f%% %s", strings.Repeat("█", n), strings.Repeat("░", width-n), frac*100, stats)
}

func (pr *progress) draw() {
	pr.drawn = true
	l := pr.line()
	if !pr.tty {
		fmt.Fprintln(pr.w, l)
		return
	}
	pad := ""
	if n := pr.lastLen - len(l); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(pr.w, "\r%s%s", l, pad)
	pr.lastLen = len(l)
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
