// Package audit is the tamper-evident, encrypted audit log of the router.
//
// Each record (masking, guardrail decision, auth event) is JSON encrypted to an
// OpenPGP public key and appended to a file in a directory; records form a
// hash chain over their stored ciphertext frames, so deleting, reordering or
// editing a record is detected by Verify without the private key. Writes run
// on one background goroutine, batched and fsync'd per batch; Record only
// enqueues. See README.md for the file format and the crash guarantees.
package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"go.uber.org/zap"
)

// Record kinds written by the router.
const (
	KindMasking   = "masking"
	KindGuardrail = "guardrail"
	KindAuth      = "auth"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxFileBytes   = 64 << 20
	DefaultQueueSize      = 4096
	DefaultEnqueueTimeout = 100 * time.Millisecond
	DefaultMaxBatch       = 512
)

var (
	// ErrClosed is returned by Record after Close has begun.
	ErrClosed = errors.New("audit: log is closed")
	// ErrQueueFull is returned by Record when the queue stayed full for
	// Config.EnqueueTimeout: the record was NOT accepted.
	ErrQueueFull = errors.New("audit: queue full")
)

// Config configures a Log.
type Config struct {
	// Dir is the log directory (LLM_ROUTER_AUDIT_DIR); created 0700 if missing.
	Dir string
	// PublicKeyFile is the armored OpenPGP public key file records are
	// encrypted to (LLM_ROUTER_AUDIT_PUBLIC_KEY). Ignored when PublicKey is set.
	PublicKeyFile string
	// PublicKey is the parsed key (see ParsePublicKey), e.g. for tests.
	PublicKey *openpgp.Entity
	// MaxFileBytes rotates to a new file before a file would grow past it
	// (a single larger record gets a file of its own).
	// Zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// NoDailyRotation disables starting a new file when the UTC day changes.
	NoDailyRotation bool
	// QueueSize bounds the records accepted but not yet written.
	// Zero means DefaultQueueSize.
	QueueSize int
	// EnqueueTimeout is how long Record waits for room in a full queue
	// before it returns ErrQueueFull. Zero means DefaultEnqueueTimeout.
	EnqueueTimeout time.Duration
	// MaxBatch bounds the records written per fsync. Zero means DefaultMaxBatch.
	MaxBatch int
	// Logger receives operational messages (never record content).
	// Nil means no logging.
	Logger *zap.Logger
	// Now is the clock (tests). Nil means time.Now.
	Now func() time.Time
}

// Head identifies the newest record that is durably on disk. Recording heads
// outside the machine (the router logs one at every rotation and at Close)
// lets Verify detect a truncated or rewritten log: see VerifyOptions.Anchor.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"` // hex SHA-256 of the record's line
}

// String formats h as SEQ:HASH, the form --anchor accepts.
func (h Head) String() string { return fmt.Sprintf("%d:%s", h.Seq, h.Hash) }

// Stats are counters of a Log.
type Stats struct {
	Accepted uint64 // records Record accepted
	Written  uint64 // records durably written (fsync'd)
	Rejected uint64 // Record calls refused (queue full, closed, canceled)
	Failures uint64 // failed write/fsync attempts (retried)
	Lost     uint64 // accepted records given up on (Close deadline, encryption error)
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	cfg  Config
	pgp  *packet.Config
	log  *zap.Logger
	now  func() time.Time
	lock *os.File

	mu     sync.RWMutex // write-held by Close; read-held by senders
	closed bool
	ch     chan entry

	done      chan struct{} // closed when the writer exits
	abort     chan struct{} // closed when Close gives up waiting
	abortOnce sync.Once

	head                                        atomic.Pointer[Head]
	encErr                                      atomic.Pointer[error] // set when encryption fails (e.g. key expired)
	accepted, written, rejected, failures, lost atomic.Uint64

	// Writer-goroutine state.
	f    *os.File
	name string
	day  string
	size int64
	seq  uint64
	prev [hashLen]byte
	pt   []byte
	ct   bytes.Buffer
	line []byte
	buf  []byte
}

// entry is an accepted record waiting to be written.
type entry struct {
	kind string
	at   time.Time
	body json.RawMessage
}

// appendPlain appends the JSON encrypted for a record:
//
//	{"seq":N,"prev":"<hex>","time":"<RFC 3339 UTC>","kind":"<kind>","fields":<fields JSON>}
//
// seq and prev repeat the line's so Decrypt can cross-check the chain with
// the private key. kind is checked by Record (no characters to escape) and
// fields was produced by json.Marshal.
func appendPlain(dst []byte, seq uint64, prev [hashLen]byte, at time.Time, kind string, fields []byte) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, `","time":"`...)
	dst = at.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","kind":"`...)
	dst = append(dst, kind...)
	dst = append(dst, `","fields":`...)
	dst = append(dst, fields...)
	return append(dst, '}')
}

// validKind reports whether kind is 1-64 characters of [a-z0-9_.-].
func validKind(kind string) bool {
	if kind == "" || len(kind) > 64 {
		return false
	}
	for i := 0; i < len(kind); i++ {
		c := kind[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Open opens (or creates) the log in cfg.Dir, resumes the chain from the
// newest file and starts the writer. It fails without a valid public key, when
// the directory is not writable, or when another Log holds the directory.
func Open(cfg Config) (*Log, error) {
	l, err := open(cfg)
	if err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// open is Open without starting the writer (tests start it themselves).
func open(cfg Config) (*Log, error) {
	if cfg.PublicKey == nil && cfg.PublicKeyFile != "" {
		k, err := LoadPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.PublicKey = k
	}
	if cfg.PublicKey == nil {
		return nil, errors.New("audit: no public key configured (LLM_ROUTER_AUDIT_PUBLIC_KEY)")
	}
	if cfg.PublicKey.PrivateKey != nil {
		return nil, errors.New("audit: configured key holds private key material; give the router only the public key")
	}
	if _, ok := cfg.PublicKey.EncryptionKey(time.Now()); !ok {
		return nil, errors.New("audit: public key has no valid encryption key")
	}
	if cfg.Dir == "" {
		return nil, errors.New("audit: no directory configured (LLM_ROUTER_AUDIT_DIR)")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.EnqueueTimeout <= 0 {
		cfg.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	l := &Log{
		cfg:   cfg,
		pgp:   pgpConfig(),
		log:   cfg.Logger,
		now:   cfg.Now,
		ch:    make(chan entry, cfg.QueueSize),
		done:  make(chan struct{}),
		abort: make(chan struct{}),
	}
	if l.log == nil {
		l.log = zap.NewNop()
	}
	if l.now == nil {
		l.now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l.lock = lock
	if err := l.resume(); err != nil {
		l.release()
		return nil, err
	}
	l.storeHead()
	return l, nil
}

// resume positions the writer after the last complete record on disk.
func (l *Log) resume() error {
	files, err := listFiles(l.cfg.Dir)
	if err != nil {
		return err
	}
	for i := len(files) - 1; i >= 0; i-- {
		lf := files[i]
		path := filepath.Join(l.cfg.Dir, lf.name)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("audit: resume: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("audit: resume: %w", err)
		}
		t, err := readTail(f, st.Size())
		if err != nil {
			f.Close()
			return err
		}
		if t.good < t.size {
			// A torn final line: a crash cut a write short. Nothing after the
			// last LF was ever reported durable; drop it so the chain resumes.
			l.log.Warn("audit: discarding torn final line left by a crash",
				zap.String("file", lf.name), zap.Int64("bytes", t.size-t.good))
			if err := f.Truncate(t.good); err != nil {
				f.Close()
				return fmt.Errorf("audit: resume: %w", err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return fmt.Errorf("audit: resume: %w", err)
			}
		}
		if !t.found() {
			// No complete record: a file created just before a crash.
			f.Close()
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("audit: resume: %w", err)
			}
			l.log.Warn("audit: removed a log file with no complete record", zap.String("file", lf.name))
			continue
		}
		fr, err := parseLine(t.line)
		if err != nil {
			f.Close()
			return fmt.Errorf("audit: cannot resume chain: last line of %s is malformed (%v); run `llm-router audit verify`", lf.name, err)
		}
		l.f, l.name, l.day, l.size = f, lf.name, lf.day, t.good
		l.seq, l.prev = fr.seq, lineHash(t.line)
		return nil
	}
	return nil
}

// Record encodes fields as JSON now (so the caller may reuse them) and
// enqueues the record. It never waits for disk: when the queue is full it
// waits at most Config.EnqueueTimeout (or until ctx is done) and then returns
// an error wrapping ErrQueueFull; a record is either accepted (nil error) and
// will be written, or refused with an error — never dropped silently.
func (l *Log) Record(ctx context.Context, kind string, fields any) error {
	if !validKind(kind) {
		l.rejected.Add(1)
		return fmt.Errorf("audit: invalid record kind %q: want 1-64 of [a-z0-9_.-]", kind)
	}
	body, err := json.Marshal(fields)
	if err != nil {
		l.rejected.Add(1)
		return fmt.Errorf("audit: encode %q record: %w", kind, err)
	}
	if p := l.encErr.Load(); p != nil {
		l.rejected.Add(1)
		return fmt.Errorf("audit: record not accepted: %w", *p)
	}
	e := entry{kind: kind, at: l.now(), body: body}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.rejected.Add(1)
		return ErrClosed
	}
	select {
	case l.ch <- e:
		l.accepted.Add(1)
		return nil
	default:
	}
	t := time.NewTimer(l.cfg.EnqueueTimeout)
	defer t.Stop()
	select {
	case l.ch <- e:
		l.accepted.Add(1)
		return nil
	case <-t.C:
		l.rejected.Add(1)
		return fmt.Errorf("%w: %d records pending for %v", ErrQueueFull, cap(l.ch), l.cfg.EnqueueTimeout)
	case <-ctx.Done():
		l.rejected.Add(1)
		return fmt.Errorf("audit: record not accepted: %w", ctx.Err())
	}
}

// Close stops accepting records, writes and fsyncs every accepted one, and
// closes the files. If ctx ends first, the writer is told to give up (the
// records still queued are counted in Stats.Lost and logged) and Close
// returns an error wrapping ctx.Err(). Close is idempotent.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		l.abortOnce.Do(func() { close(l.abort) })
		return fmt.Errorf("audit: close: records may be lost: %w", ctx.Err())
	}
}

// Destruct closes the log without a deadline; it makes *Log usable as a
// caddy.Destructor in a caddy.UsagePool, so a config reload keeps one Log.
func (l *Log) Destruct() error { return l.Close(context.Background()) }

// Head returns the newest durable record (Seq 0 for an empty log).
func (l *Log) Head() Head { return *l.head.Load() }

// Stats returns the counters.
func (l *Log) Stats() Stats {
	return Stats{
		Accepted: l.accepted.Load(),
		Written:  l.written.Load(),
		Rejected: l.rejected.Load(),
		Failures: l.failures.Load(),
		Lost:     l.lost.Load(),
	}
}

// storeHead publishes the writer's durable chain head.
func (l *Log) storeHead() {
	l.head.Store(&Head{Seq: l.seq, Hash: hex.EncodeToString(l.prev[:])})
}

// run is the writer goroutine: it takes a batch, encrypts and appends it, and
// fsyncs once per batch, until the queue is closed and drained.
func (l *Log) run() {
	defer close(l.done)
	defer l.release()
	batch := make([]entry, 0, l.cfg.MaxBatch)
	for {
		e, ok := <-l.ch
		if !ok {
			return
		}
		batch = append(batch[:0], e)
		open := true
	fill:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case e, ok := <-l.ch:
				if !ok {
					open = false
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		l.writeBatch(batch)
		clear(batch) // drop references to record bodies
		if !open {
			return
		}
	}
}

// writeBatch encrypts, chains and durably appends the batch, rotating files
// as needed.
func (l *Log) writeBatch(batch []entry) {
	l.buf = l.buf[:0]
	pending := 0
	for i, e := range batch {
		day := e.at.UTC().Format("20060102")
		seq := l.seq + 1
		l.pt = appendPlain(l.pt[:0], seq, l.prev, e.at, e.kind, e.body)
		l.ct.Reset()
		err := encrypt(&l.ct, l.cfg.PublicKey, l.pgp, l.pt)
		clear(l.pt) // plaintext may hold masking mappings
		if err != nil {
			// Only a key that expired or was revoked while running gets here:
			// count and log the loss, and make Record refuse from now on.
			l.lost.Add(1)
			l.encErr.Store(&err)
			l.log.Error("audit: record lost: cannot encrypt", zap.String("kind", e.kind), zap.Error(err))
			continue
		}
		l.line = appendLine(l.line[:0], seq, l.prev, l.ct.Bytes())
		if l.needRotate(day, int64(len(l.buf)), int64(len(l.line))) {
			if !l.flush(l.buf, pending) {
				l.discard(pending + len(batch) - i)
				return
			}
			l.buf, pending = l.buf[:0], 0
			l.closeFile("rotate")
			l.name, l.day, l.size = fileName(seq, day), day, 0
		}
		l.buf = append(l.buf, l.line...)
		l.seq, l.prev = seq, lineHash(l.line[:len(l.line)-1])
		pending++
	}
	if !l.flush(l.buf, pending) {
		l.discard(pending)
	}
}

// needRotate reports whether a line of n bytes, written after buffered bytes
// not yet flushed, must start a new file (size limit or new UTC day).
func (l *Log) needRotate(day string, buffered, n int64) bool {
	if l.name == "" {
		return true
	}
	cur := l.size + buffered
	if cur == 0 {
		return false // a fresh file takes at least one record
	}
	if !l.cfg.NoDailyRotation && day > l.day {
		// Only forward: records enqueued a moment out of time order around
		// midnight must not flip back to the previous day's file.
		return true
	}
	return cur+n > l.cfg.MaxFileBytes
}

// flush appends b (n records) to the current file and fsyncs, retrying with
// backoff until it succeeds or Close gives up. It reports success.
func (l *Log) flush(b []byte, n int) bool {
	if len(b) == 0 {
		return true
	}
	backoff := 50 * time.Millisecond
	for {
		err := l.appendSync(b)
		if err == nil {
			l.written.Add(uint64(n))
			l.storeHead()
			return true
		}
		l.failures.Add(1)
		l.log.Error("audit: write failed; retrying", zap.String("file", l.name), zap.Int("records", n), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-l.abort:
			t.Stop()
			return false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// appendSync writes b at the end of the current file and fsyncs it. On
// failure the file is cut back to its last durable size, so a retry never
// leaves a torn or duplicated line.
func (l *Log) appendSync(b []byte) error {
	if l.f == nil {
		f, err := os.OpenFile(filepath.Join(l.cfg.Dir, l.name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		if err := syncDir(l.cfg.Dir); err != nil {
			f.Close()
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		l.f, l.size = f, st.Size()
	}
	_, err := l.f.Write(b)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			// The file may now hold a torn line; reopen before retrying.
			l.f.Close()
			l.f = nil
			return errors.Join(err, terr)
		}
		return err
	}
	l.size += int64(len(b))
	return nil
}

// discard counts and logs the records given up on after Close's deadline:
// the unwritten tail of this batch and everything still queued.
func (l *Log) discard(unwritten int) {
	n := uint64(unwritten)
	for range l.ch {
		n++
	}
	l.lost.Add(n)
	l.log.Error("audit: close deadline passed: records not written", zap.Uint64("records", n))
}

// closeFile syncs and closes the current file, logging the chain head so
// it is anchored outside the log directory.
func (l *Log) closeFile(why string) {
	if l.f == nil {
		return
	}
	if err := l.f.Close(); err != nil {
		l.log.Error("audit: close file", zap.String("file", l.name), zap.Error(err))
	}
	l.f = nil
	h := l.Head()
	l.log.Info("audit: file closed", zap.String("file", l.name), zap.String("reason", why),
		zap.Uint64("head_seq", h.Seq), zap.String("head_hash", h.Hash))
}

// release closes the current file and the directory lock.
func (l *Log) release() {
	l.closeFile("close")
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
}

// syncDir fsyncs a directory so a new file's entry is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
