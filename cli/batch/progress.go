package batch

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress shows how a run goes: a bar with rate and ETA redrawn in place
// on a terminal, a plain line every few seconds otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	total int
	label string
	start time.Time

	mu                  sync.Mutex
	nDone, nFail, nSkip int
	lastLen             int
	stopOnce            sync.Once
	stopCh, stopped     chan struct{}
}

func newProgress(o Options) *progress {
	p := &progress{w: o.Progress, tty: o.TTY, total: o.Total, label: o.Label, start: time.Now(),
		stopCh: make(chan struct{}), stopped: make(chan struct{})}
	if p.label == "" {
		p.label = "progress"
	}
	every := o.Every
	if every <= 0 {
		every = 5 * time.Second
		if p.tty {
			every = 200 * time.Millisecond
		}
	}
	if p.w == nil {
		close(p.stopped)
		return p
	}
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stopCh:
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return p
}

func (p *progress) done() { p.mu.Lock(); p.nDone++; p.mu.Unlock() }
func (p *progress) fail() { p.mu.Lock(); p.nFail++; p.mu.Unlock() }
func (p *progress) skip() { p.mu.Lock(); p.nSkip++; p.mu.Unlock() }

func (p *progress) skipped() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nSkip
}

// println prints a message above the bar.
func (p *progress) println(msg string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.lastLen > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lastLen))
		p.lastLen = 0
	}
	fmt.Fprintln(p.w, msg)
}

// close stops the updates and draws the final state.
func (p *progress) close() {
	p.stopOnce.Do(func() {
		close(p.stopCh)
		<-p.stopped
		if p.w != nil {
			p.draw(true)
		}
	})
}

func (p *progress) draw(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	handled := p.nDone + p.nFail
	seen := handled + p.nSkip
	el := time.Since(p.start)
	rate := float64(handled) / max(el.Seconds(), 1e-9)
	eta := "?"
	if p.total > 0 && rate > 0 {
		left := max(p.total-seen, 0)
		eta = time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if p.tty {
		line := p.barLine(seen, rate, eta)
		pad := ""
		if n := p.lastLen - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.w, "\r%s%s", line, pad)
		p.lastLen = len(line)
		if final {
			fmt.Fprintln(p.w)
			p.lastLen = 0
		}
		return
	}
	total := "?"
	if p.total > 0 {
		total = fmt.Sprint(p.total)
	}
	fmt.Fprintf(p.w, "%s: %d/%s records, done %d, failed %d, skipped %d, %.1f/s, ETA %s\n",
		p.label, seen, total, p.nDone, p.nFail, p.nSkip, rate, eta)
}

func (p *progress) barLine(seen int, rate float64, eta string) string {
	const width = 30
	frac := 0.0
	if p.total > 0 {
		frac = min(float64(seen)/float64(p.total), 1)
	}
	n := int(frac * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	return fmt.Sprintf("%s %s %5.1f%% %d/%d done %d failed %d skipped %d %.1f/s ETA %s",
		p.label, bar, frac*100, seen, p.total, p.nDone, p.nFail, p.nSkip, rate, eta)
}

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
