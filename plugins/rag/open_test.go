package rag

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

// The module serves a collection written by package collection (what
// `llm-router rag index` writes), through the default opener.
func TestCollectionOnDisk(t *testing.T) {
	src, persist := t.TempDir(), t.TempDir()
	files := map[string]string{
		"vacation.md": "# Vacation\n\nEmployees get twenty six vacation days per year.",
		"parking.txt": "Parking spaces are assigned by the facilities team.",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := &plugintest.Embedder{Dim: dim}
	ctx := context.Background()
	if _, err := collection.Index(ctx, collection.Options{PersistDir: persist, Name: "handbook", Model: "bow",
		Chunk: chunk.Options{Size: 50, Overlap: 10}}, e, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	defer cancel()
	score := 0.3
	m := &Module{Collection: "handbook", PersistDir: persist, MinScore: &score}
	if err := m.Provision(cctx); err != nil {
		t.Fatal(err)
	}
	defer m.Cleanup()
	m.UseEmbedder(e)
	a, err := m.Augment(ctx, &plugins.Query{Text: "How many vacation days do employees get?"})
	if err != nil || a == nil {
		t.Fatalf("%+v %v", a, err)
	}
	if len(a.Sources) != 1 || !strings.HasSuffix(a.Sources[0], "vacation.md#0") || !strings.Contains(a.Text, "twenty six vacation days") || strings.Contains(a.Text, "Parking") {
		t.Fatalf("augmentation %+v", a)
	}
	_, err = m.Augment(ctx, &plugins.Query{Text: "x", Options: json.RawMessage(`{"collection":"absent"}`)})
	if !errors.Is(err, plugins.ErrInvalidRequest) || !strings.Contains(err.Error(), `unknown collection "absent"`) {
		t.Fatalf("absent collection: %v", err)
	}
}

// A collection whose files are damaged is a 500 the client can read, which
// names the collection but no file of the server; the log gets the cause.
func TestDamagedCollection(t *testing.T) {
	src, persist := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "vacation.md"), []byte("Employees get twenty six vacation days per year."), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &plugintest.Embedder{Dim: dim}
	ctx := context.Background()
	for _, name := range []string{"handbook", "broken"} {
		if _, err := collection.Index(ctx, collection.Options{PersistDir: persist, Name: name, Model: "bow",
			Chunk: chunk.Options{Size: 50, Overlap: 10}}, e, []string{src}, nil); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(persist, "broken", "chunks-*.bin"))
	if len(files) != 1 {
		t.Fatalf("chunks files %v", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], make([]byte, fi.Size()), 0o644); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	defer cancel()
	m := &Module{Collection: "handbook", PersistDir: persist, MinScore: new(float64)}
	if err := m.Provision(cctx); err != nil {
		t.Fatal(err)
	}
	defer m.Cleanup()
	m.UseEmbedder(e)
	var logged []error
	m.r.OnError = func(err error) { logged = append(logged, err) }
	_, err = m.Augment(ctx, &plugins.Query{Text: "vacation days", Options: json.RawMessage(`{"collection":"broken"}`)})
	if err == nil || errors.Is(err, plugins.ErrInvalidRequest) || errors.Is(err, plugins.ErrServiceUnavailable) {
		t.Fatalf("damaged collection: %v; want a server error", err)
	}
	if msg := err.Error(); strings.Contains(msg, persist) || strings.Contains(msg, ".bin") || !strings.Contains(msg, `collection "broken" could not be opened`) {
		t.Errorf("client is told %q; want the collection named and no server path", msg)
	}
	if len(logged) != 1 || !strings.Contains(logged[0].Error(), files[0]) {
		t.Errorf("logged %v; want the cause, naming the damaged file", logged)
	}
}
