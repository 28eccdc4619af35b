package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// target is one request the load generator repeats.
type target struct {
	url  string
	body []byte
}

// sample is the outcome of one load run.
type sample struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration // successful requests, when kept
	firstErr   string
	cpu        time.Duration // server CPU time spent during the run
	mem        runtimeMem    // server allocation during the run (TotalAlloc, Mallocs, NumGC deltas)
	dials      int64         // connections the upstream accepted during the run
}

// rps is the successful request rate.
func (s sample) rps() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.ok) / s.elapsed.Seconds()
}

// attack drives t with vegeta for d: at saturation with conns workers and
// connections when rate is 0, else at rate requests/s. srv, when set, has
// its CPU time measured over the run.
func attack(ctx context.Context, t target, conns, rate int, d time.Duration, keepLat bool, srv *server) sample {
	opts := []func(*vegeta.Attacker){vegeta.Workers(uint64(conns)), vegeta.Connections(conns),
		vegeta.KeepAlive(true), vegeta.MaxBody(0), vegeta.Timeout(30 * time.Second), vegeta.Redirects(vegeta.NoFollow)}
	if rate == 0 {
		opts = append(opts, vegeta.MaxWorkers(uint64(conns)), vegeta.MaxConnections(conns))
	} else {
		// Bounded connections (reused, no ephemeral-port churn); a server
		// that falls behind shows up as queueing latency.
		opts = append(opts, vegeta.MaxWorkers(uint64(20*conns)), vegeta.Connections(4*conns), vegeta.MaxConnections(4*conns))
	}
	a := vegeta.NewAttacker(opts...)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "POST", URL: t.url, Body: t.body,
		Header: http.Header{"Content-Type": {"application/json"}}})
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()
	var s sample
	var cpu0 time.Duration
	var mem0 runtimeMem
	if srv != nil {
		mem0, _ = memStats(ctx, srv)
		cpu0, _ = srv.cpuTime()
	}
	start := time.Now()
	if keepLat && rate > 0 {
		s.lat = make([]time.Duration, 0, int(float64(rate)*d.Seconds())+16)
	}
	for r := range a.Attack(tr, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "") {
		if r.Code == http.StatusOK && r.Error == "" {
			s.ok++
			if keepLat {
				s.lat = append(s.lat, r.Latency)
			}
			continue
		}
		s.failed++
		if s.firstErr == "" {
			s.firstErr = fmt.Sprintf("status %d %s", r.Code, r.Error)
		}
	}
	s.elapsed = time.Since(start)
	if srv != nil {
		cpu1, _ := srv.cpuTime()
		s.cpu = cpu1 - cpu0
		if mem1, err := memStats(ctx, srv); err == nil {
			s.mem = runtimeMem{TotalAlloc: mem1.TotalAlloc - mem0.TotalAlloc,
				Mallocs: mem1.Mallocs - mem0.Mallocs, NumGC: mem1.NumGC - mem0.NumGC}
		}
	}
	return s
}

// withoutGC runs f with the harness's garbage collector off, then collects.
// The load generator and the fake upstreams share one core: their own
// collection pauses would show up in every target's tail latency, the
// direct path's included, and hide what the proxies add. A fixed-rate run
// allocates a few hundred MiB at most.
func withoutGC(f func()) {
	old := debug.SetGCPercent(-1)
	defer func() {
		debug.SetGCPercent(old)
		runtime.GC()
	}()
	f()
}

// quantile returns the q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// quantiles sorts d and returns its p50, p90, p99 and p99.9.
func quantiles(d []time.Duration) [4]time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return [4]time.Duration{quantile(d, .5), quantile(d, .9), quantile(d, .99), quantile(d, .999)}
}

// hasContent reports whether an SSE or NDJSON line carries a non-empty
// content delta.
func hasContent(line []byte) bool {
	for _, key := range [][]byte{[]byte(`"content":"`), []byte(`"text_delta","text":"`)} {
		if i := bytes.Index(line, key); i >= 0 && i+len(key) < len(line) && line[i+len(key)] != '"' {
			return true
		}
	}
	return false
}

// streamStats are timings of streamed responses seen by the client.
type streamStats struct {
	ttft, gaps []time.Duration
	n, failed  int
	firstErr   string
}

// readStream reads a streamed body, calling on for each content line.
func readStream(body io.Reader, on func()) error {
	br := bufio.NewReaderSize(body, 8<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && hasContent(line) {
			on()
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// probeStreams runs conc sequential stream clients against t until ctx is
// done and records time to first content and gaps between contents.
func probeStreams(ctx context.Context, t target, conc int) streamStats {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var mu sync.Mutex
	var out streamStats
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var ttft time.Duration
				var gaps []time.Duration
				err := func() error {
					req, err := http.NewRequestWithContext(ctx, "POST", t.url, bytes.NewReader(t.body))
					if err != nil {
						return err
					}
					req.Header.Set("Content-Type", "application/json")
					t0 := time.Now()
					resp, err := c.Do(req)
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
						return fmt.Errorf("status %d: %s", resp.StatusCode, b)
					}
					prev := time.Time{}
					return readStream(resp.Body, func() {
						now := time.Now()
						if prev.IsZero() {
							ttft = now.Sub(t0)
						} else {
							gaps = append(gaps, now.Sub(prev))
						}
						prev = now
					})
				}()
				if ctx.Err() != nil {
					return // a stream cut by the end of the run is not counted
				}
				mu.Lock()
				if err != nil || ttft == 0 {
					out.failed++
					if out.firstErr == "" {
						out.firstErr = fmt.Sprint("no content / ", err)
					}
				} else {
					out.n++
					out.ttft = append(out.ttft, ttft)
					out.gaps = append(out.gaps, gaps...)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// memResult is the memory of a server holding many open streams.
type memResult struct {
	streams     int
	idle, peak  int64
	perStream   float64 // bytes
	failed      int
	firstErr    string
	elapsedOpen time.Duration
	statsIdle   runtimeMem
	statsPeak   runtimeMem
	statsGC     runtimeMem // after a forced GC, streams still open
	goroutines  int        // in the server while the streams were open
	heapTop     string     // pprof -top of the heap then (--pprof)
}

// slowStreams opens n concurrent streams to t (a slowly paced upstream),
// waits until each has received content, samples srv's RSS, then ends them.
func slowStreams(ctx context.Context, srv *server, t target, n int, atPeak func()) (memResult, error) {
	var m memResult
	m.streams = n
	idle, _, err := srv.memory()
	if err != nil {
		return m, err
	}
	m.idle = idle
	m.statsIdle, _ = memStats(ctx, srv)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var started, failed atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	begin := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				req, err := http.NewRequestWithContext(ctx, "POST", t.url, bytes.NewReader(t.body))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				first := true
				return readStream(resp.Body, func() {
					if first {
						first = false
						started.Add(1)
					}
				})
			}()
			if err != nil && ctx.Err() == nil {
				failed.Add(1)
				errOnce.Do(func() { m.firstErr = err.Error() })
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for started.Load()+failed.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	m.elapsedOpen = time.Since(begin)
	for range 5 {
		rss, _, err := srv.memory()
		if err == nil && rss > m.peak {
			m.peak = rss
		}
		time.Sleep(100 * time.Millisecond)
	}
	open := started.Load()
	m.failed = n - int(open)
	m.statsPeak, _ = memStats(ctx, srv)
	if atPeak != nil {
		atPeak() // forces a GC
	}
	m.statsGC, _ = memStats(ctx, srv)
	cancel()
	wg.Wait()
	if open > 0 {
		m.perStream = float64(m.peak-m.idle) / float64(open)
	}
	return m, nil
}

// runtimeMem is the part of runtime.MemStats that explains RSS, and the
// allocation counters that explain garbage collection.
type runtimeMem struct {
	HeapInuse, StackInuse, Sys int64
	TotalAlloc, Mallocs, NumGC int64
}

// memStats reads the server's runtime.MemStats from Caddy's admin
// /debug/vars (expvar).
func memStats(ctx context.Context, srv *server) (runtimeMem, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+srv.admin+"/debug/vars", nil)
	if err != nil {
		return runtimeMem{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return runtimeMem{}, fmt.Errorf("debug/vars: %w", err)
	}
	defer resp.Body.Close()
	var v struct{ Memstats runtimeMem }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return runtimeMem{}, fmt.Errorf("debug/vars: %w", err)
	}
	return v.Memstats, nil
}

// fetch makes one request and returns the status and body.
func fetch(ctx context.Context, t target) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", t.url, bytes.NewReader(t.body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
