package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result is the outcome of one record.
type Result struct {
	Rec Record
	// Out is the JSON object written to the output (with an "id" member)
	// when Err is nil.
	Out any
	Err error
}

// Task processes records.
type Task interface {
	// Check reports why a record cannot be processed (e.g. a missing text
	// column); the first record's error stops the run before any request.
	Check(r Record) error
	// Process handles a batch and returns one result per record, in any
	// order; results are matched to records by Result.Rec.ID.
	Process(ctx context.Context, batch []Record) []Result
}

// Options tune [Run].
type Options struct {
	// Output is the JSONL file results are appended to; records whose id
	// is already in it are skipped (resume).
	Output string
	// Failed is the side file for failed records (default
	// Output+".failed.jsonl"); it is rewritten by every run.
	Failed string
	// Workers bounds the batches in flight (default 1).
	Workers int
	// BatchSize is the number of records per batch (default 8).
	BatchSize int
	// Progress receives the progress display and the summary (nil: none).
	Progress io.Writer
	// TTY draws a progress bar instead of plain progress lines.
	TTY bool
	// Every is the interval of progress updates (default 200ms on a TTY,
	// 5s otherwise).
	Every time.Duration
	// Total is the number of input records, for the ETA (0: unknown).
	Total int
	// Label names the run in progress lines.
	Label string
	// Verbose prints every failed record as it happens.
	Verbose bool
}

// Summary counts what a run did.
type Summary struct {
	Done, Skipped, Failed, Malformed int
	// Reasons counts failures by message.
	Reasons map[string]int
	// FailedFile is the side file with the failed records.
	FailedFile string
	Elapsed    time.Duration
}

// Err returns an error when some records failed or could not be read.
func (s Summary) Err() error {
	if s.Failed == 0 && s.Malformed == 0 {
		return nil
	}
	return fmt.Errorf("%d records failed and %d input lines could not be read; see %s", s.Failed, s.Malformed, s.FailedFile)
}

// Print writes the summary.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "done: %d, skipped (already in the output): %d, failed: %d, unreadable input lines: %d, in %s\n",
		s.Done, s.Skipped, s.Failed, s.Malformed, s.Elapsed.Round(time.Millisecond))
	type kv struct {
		k string
		n int
	}
	var rs []kv
	for k, n := range s.Reasons {
		rs = append(rs, kv{k, n})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n || rs[i].n == rs[j].n && rs[i].k < rs[j].k })
	for i, r := range rs {
		if i == 10 {
			fmt.Fprintf(w, "  … and %d more reasons\n", len(rs)-10)
			break
		}
		fmt.Fprintf(w, "  %6d × %s\n", r.n, r.k)
	}
	if s.Failed+s.Malformed > 0 {
		fmt.Fprintf(w, "failed records: %s (run again to retry them)\n", s.FailedFile)
	}
}

// ErrCheck wraps the first record's [Task.Check] error: nothing was sent.
var ErrCheck = errors.New("nothing was sent")

// Run streams records through task and appends one line per record to
// o.Output as results arrive.
func Run(ctx context.Context, records iter.Seq2[Record, error], task Task, o Options) (Summary, error) {
	start := time.Now()
	o = o.withDefaults()
	sum := Summary{Reasons: map[string]int{}, FailedFile: o.Failed}
	done, err := LoadDone(o.Output)
	if err != nil {
		return sum, err
	}
	out, err := os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return sum, fmt.Errorf("output: %w", err)
	}
	defer out.Close()
	failed, err := os.Create(o.Failed)
	if err != nil {
		return sum, fmt.Errorf("failed-records file: %w", err)
	}
	defer failed.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next, stop := iter.Pull2(records)
	defer stop()

	prog := newProgress(o)
	defer prog.close()

	rn := &runner{ctx: ctx, cancel: cancel, task: task, o: o, done: done, prog: prog,
		out: out, failed: failed, sum: &sum,
		results: make(chan []Result, o.Workers), jobs: make(chan []Record, o.Workers),
		first: make(chan error, 1)}
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() {
			for b := range rn.jobs {
				rn.results <- task.Process(ctx, b)
			}
		})
	}
	var readWG sync.WaitGroup
	readWG.Go(func() { rn.read(next) })
	// Unreadable lines before the first good record are handled while
	// waiting for its check.
	for waiting := true; waiting; {
		select {
		case err := <-rn.first:
			if err != nil {
				cancel()
				readWG.Wait()
				wg.Wait()
				return sum, err
			}
			waiting = false
		case rs := <-rn.results:
			rn.handle(rs)
		}
	}
	go func() {
		readWG.Wait()
		wg.Wait()
		close(rn.results)
	}()
	for rs := range rn.results {
		rn.handle(rs)
	}
	sum.Skipped = prog.skipped()
	sum.Elapsed = time.Since(start)
	prog.close()
	if rn.fatal != nil {
		return sum, rn.fatal
	}
	if rn.readErr != nil {
		return sum, rn.readErr
	}
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	return sum, nil
}

// withDefaults fills in the defaults of the options left zero.
func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 8
	}
	if o.Failed == "" {
		o.Failed = strings.TrimSuffix(o.Output, ".jsonl") + ".failed.jsonl"
	}
	return o
}

// runner is the state of one Run: a reader goroutine (read) checks records
// and sends batches on jobs to the workers; the workers' results, and the
// reader's rejects, come back on results to the writer (handle, in Run's
// goroutine).
type runner struct {
	ctx    context.Context
	cancel context.CancelFunc
	task   Task
	o      Options
	done   map[string]bool // ids already in the output
	prog   *progress

	results chan []Result
	jobs    chan []Record
	// first carries the check of the first record, before any request.
	first chan error
	// readErr (set by read) is the error that stopped reading the input.
	readErr error

	// Written by handle only.
	out, failed *os.File
	sum         *Summary
	fatal       error
}

// read pulls the records, checks them and sends them in batches to the
// workers; records already done are skipped, rejected ones are sent as
// results. It closes jobs when it returns.
func (rn *runner) read(next func() (Record, error, bool)) {
	defer close(rn.jobs)
	seen := map[string]int{}
	var batch []Record
	checked := false
	for {
		r, err, ok := next()
		if !ok {
			break
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			if !rn.send([]Result{{Rec: r, Err: le}}) {
				return
			}
			continue
		case err != nil:
			rn.readErr = err
			if !checked {
				rn.first <- err
				checked = true
			}
			return
		}
		cerr := rn.task.Check(r)
		if !checked {
			checked = true
			if cerr != nil {
				rn.first <- fmt.Errorf("%s:%d: %w (%w)", r.File, r.Line, cerr, ErrCheck)
				return
			}
			rn.first <- nil
		}
		if at, dup := seen[r.ID]; dup {
			cerr = fmt.Errorf("duplicate id %q (first at line %d)", r.ID, at)
		} else {
			seen[r.ID] = r.Line
			if rn.done[r.ID] {
				rn.prog.skip()
				continue
			}
		}
		if cerr != nil {
			if !rn.send([]Result{{Rec: r, Err: cerr}}) {
				return
			}
			continue
		}
		batch = append(batch, r)
		if len(batch) == rn.o.BatchSize {
			if !rn.queue(batch) {
				return
			}
			batch = nil
		}
	}
	if !checked {
		rn.first <- nil
	}
	if len(batch) > 0 {
		rn.queue(batch)
	}
}

// send passes results from the reader to the writer; false: the run is
// cancelled.
func (rn *runner) send(rs []Result) bool {
	select {
	case rn.results <- rs:
		return true
	case <-rn.ctx.Done():
		return false
	}
}

// queue passes a batch to the workers; false: the run is cancelled.
func (rn *runner) queue(batch []Record) bool {
	select {
	case rn.jobs <- batch:
		return true
	case <-rn.ctx.Done():
		return false
	}
}

// handle writes results to the output or the failed-records file and
// counts them; a write error cancels the run.
func (rn *runner) handle(rs []Result) {
	for _, r := range rs {
		if err := write(rn.out, rn.failed, r); err != nil && rn.fatal == nil {
			rn.fatal = err
			rn.cancel()
		}
		var le *LineError
		switch {
		case errors.As(r.Err, &le):
			rn.sum.Malformed++
			rn.prog.fail()
			rn.prog.println("unreadable input: " + le.Error())
		case r.Err != nil:
			rn.sum.Failed++
			rn.sum.Reasons[reason(r.Err)]++
			rn.prog.fail()
			if rn.o.Verbose {
				rn.prog.println(fmt.Sprintf("failed: %s (%s:%d): %v", r.Rec.ID, r.Rec.File, r.Rec.Line, r.Err))
			}
		default:
			rn.sum.Done++
			rn.prog.done()
		}
	}
}

// reason is the failure message used to group failures in the summary.
func reason(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// write appends one result to the output or the failed-records file, as a
// single write so that a crash never leaves half a line.
func write(out, failed *os.File, r Result) error {
	if r.Err == nil {
		b, err := marshalLine(r.Out)
		if err != nil {
			return fmt.Errorf("encoding the result of %s: %w", r.Rec.ID, err)
		}
		if _, err := out.Write(b); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		return nil
	}
	line := map[string]any{"file": r.Rec.File, "line": r.Rec.Line, "error": r.Err.Error()}
	if r.Rec.ID != "" && r.Rec.Fields != nil {
		line["id"] = r.Rec.ID
		line["record"] = r.Rec.Fields
	}
	b, err := marshalLine(line)
	if err != nil {
		return fmt.Errorf("encoding failed record: %w", err)
	}
	if _, err := failed.Write(b); err != nil {
		return fmt.Errorf("failed-records file: %w", err)
	}
	return nil
}

// LoadDone reads the ids of an earlier run's output (the "id" member of
// each line). A torn last line (a crash mid-write) is cut off, so the file
// again ends with a complete line.
func LoadDone(path string) (map[string]bool, error) {
	done := map[string]bool{}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var good int64
	for {
		line, tooLong, err := readLine(br, MaxLineBytes)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("output %s: %w", path, err)
		}
		complete := err == nil
		if !complete && len(line) == 0 && !tooLong {
			break
		}
		var rec struct {
			ID *string `json:"id"`
		}
		if tooLong || json.Unmarshal(line, &rec) != nil || rec.ID == nil {
			if complete {
				return nil, fmt.Errorf("output %s: line after byte %d is not a result line; is this the right file?", path, good)
			}
			break // torn last line
		}
		if !complete {
			// A complete JSON line missing only its newline: keep it.
			if _, err := f.WriteAt([]byte("\n"), good+int64(len(line))); err != nil {
				return nil, fmt.Errorf("output: %w", err)
			}
		}
		done[*rec.ID] = true
		good += int64(len(line)) + 1
		if !complete {
			return done, nil
		}
	}
	if err := f.Truncate(good); err != nil {
		return nil, fmt.Errorf("output: cutting a torn last line: %w", err)
	}
	return done, nil
}

// marshalLine is json.Marshal without HTML escaping.
func marshalLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
