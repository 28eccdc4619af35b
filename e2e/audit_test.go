package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// Masking with audit: every masked request leaves one encrypted, chained
// record; a reload and a SIGTERM in the middle of the traffic lose none.
func TestAuditSurvivesReloadAndShutdown(t *testing.T) {
	keys := t.TempDir()
	if out, err := exec.Command(binary, "audit", "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	auditDir := filepath.Join(t.TempDir(), "audit")
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	opts := routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		env: map[string]string{
			"LLM_ROUTER_FORCE_MASKING":             "1",
			"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "fast_masker",
			"LLM_ROUTER_MASKING_WITH_AUDIT":        "1",
			"LLM_ROUTER_AUDIT_DIR":                 auditDir,
			"LLM_ROUTER_AUDIT_PUBLIC_KEY":          filepath.Join(keys, "llm-router-auditor-pub.asc"),
		},
	}
	r := startRouter(t, opts)
	c := client(r)
	var ok atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "write to jan.kowalski@example.com")); err == nil {
				ok.Add(1)
			}
		}
	}()
	eventually(t, 30*time.Second, "audited traffic", func() bool { return ok.Load() > 20 })
	if out, err := r.reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	n := ok.Load()
	eventually(t, 30*time.Second, "traffic after the reload", func() bool { return ok.Load() > n+20 })
	close(stop)
	<-done
	// SIGTERM: a clean shutdown drains the audit queue.
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if _, exited := r.wait(30 * time.Second); !exited {
		t.Fatal("router did not stop")
	}
	if strings.Contains(r.logs.String(), "jan.kowalski") {
		t.Fatal("the masked original appears in the log")
	}

	if out, err := exec.Command(binary, "audit", "verify", "--dir", auditDir).CombinedOutput(); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	var stdout bytes.Buffer
	dec := exec.Command(binary, "audit", "decrypt", "--dir", auditDir, "--key", filepath.Join(keys, "llm-router-auditor-priv.asc"))
	dec.Stdout = &stdout
	if err := dec.Run(); err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	records := 0
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("decrypted line is not JSON: %s", sc.Text())
		}
		if !strings.Contains(sc.Text(), "jan.kowalski@example.com") {
			t.Fatalf("a masking record lacks the original: %s", sc.Text())
		}
		records++
	}
	if int64(records) != ok.Load() {
		t.Fatalf("%d audit records for %d masked requests", records, ok.Load())
	}
}
