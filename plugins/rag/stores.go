package rag

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins"
)

// Opener opens the collection name under dir. A collection that does not
// exist must be an error wrapping fs.ErrNotExist.
type Opener func(dir, name string) (Store, io.Closer, error)

// opened is a collection in the pool.
type opened struct {
	Store
	c io.Closer
}

// Destruct implements caddy.Destructor: the last user closes it.
func (o *opened) Destruct() error { return o.c.Close() }

// poolStores opens collections once per path for every module instance
// that uses them (a Caddy reload reuses the open ones) and releases its
// share in Close.
type poolStores struct {
	pool *caddy.UsagePool
	dir  string
	open Opener

	mu     sync.Mutex       // guards held and closed, never held while opening
	held   map[string]Store // collection name → store this instance holds
	closed bool             // Close ran: Get opens nothing more
}

func newPoolStores(pool *caddy.UsagePool, dir string, open Opener) *poolStores {
	return &poolStores{pool: pool, dir: dir, open: open, held: map[string]Store{}}
}

// Get returns the named collection, opening it on first use. A name with
// no collection under the persist dir is an invalid request naming it.
// Opening one (reading and checking its files) does not hold up the
// requests for collections already open.
func (p *poolStores) Get(name string) (Store, error) {
	p.mu.Lock()
	s, ok := p.held[name]
	closed := p.closed
	p.mu.Unlock()
	if ok {
		return s, nil
	}
	if closed {
		return nil, errUnloaded(name)
	}
	key := filepath.Join(p.dir, name)
	v, _, err := p.pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, c, err := p.open(p.dir, name)
		if err != nil {
			return nil, err
		}
		return &opened{s, c}, nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: rag: unknown collection %q", plugins.ErrInvalidRequest, name)
		}
		return nil, fmt.Errorf("rag: collection %q: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if held, ok := p.held[name]; ok || p.closed {
		// Another request took this instance's share meanwhile, or the
		// instance is gone: give this one back.
		_, _ = p.pool.Delete(key)
		if ok {
			return held, nil
		}
		return nil, errUnloaded(name)
	}
	p.held[name] = v.(*opened)
	return v.(*opened), nil
}

func errUnloaded(name string) error {
	return fmt.Errorf("rag: collection %q: the configuration was unloaded", name)
}

// Close releases the collections this instance opened.
func (p *poolStores) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for name := range p.held {
		if _, err := p.pool.Delete(filepath.Join(p.dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	p.held = map[string]Store{}
	p.closed = true
	return errors.Join(errs...)
}

// dirExists reports whether dir is a directory.
func dirExists(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
