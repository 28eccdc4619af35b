package doc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// KeySize is the size of a token key in bytes (AES-256).
const KeySize = 32

// SealPrefix starts every sealed api_token.
const SealPrefix = "enc:v1:"

// TokenMarker replaces a stored token in what the browser gets; a form that
// sends it back keeps the stored token.
const TokenMarker = "••••••••"

// Key encrypts provider tokens at rest.
type Key struct{ b [KeySize]byte }

// NewKey returns a random key.
func NewKey() (*Key, error) {
	k := new(Key)
	if _, err := rand.Read(k.b[:]); err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return k, nil
}

// LoadKey reads the key file at path (base64 of 32 bytes), creating it with
// mode 0600 when it does not exist. A key file that others may read is
// refused. Every instance of a fleet needs the same key file.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("token key %s: others may read it (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, 256))
	if err != nil {
		return nil, fmt.Errorf("token key %s: %w", path, err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("token key %s: not the base64 of %d bytes", path, KeySize)
	}
	k := new(Key)
	copy(k.b[:], raw)
	return k, nil
}

func createKey(path string) (*Key, error) {
	k, err := NewKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadKey(path) // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k.b[:]) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("token key: %w", err)
	}
	return k, nil
}

var aad = []byte("llm-router manager api_token v1")

func (k *Key) aead() cipher.AEAD {
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		panic(err) // unreachable: the key is always 32 bytes
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable for AES
	}
	return g
}

func (k *Key) seal(token string) (string, error) {
	g := k.aead()
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	ct := g.Seal(nonce, nonce, []byte(token), aad)
	return SealPrefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

// errOpen never carries the token or the ciphertext.
var errOpen = errors.New("cannot decrypt the stored token (another key file?)")

func (k *Key) open(sealed string) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, SealPrefix))
	g := k.aead()
	if err != nil || len(raw) < g.NonceSize()+g.Overhead() {
		return "", errOpen
	}
	pt, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], aad)
	if err != nil {
		return "", errOpen
	}
	return string(pt), nil
}

var placeholder = regexp.MustCompile(`^\{(env|file)\.[^{}]+\}$`)

// IsPlaceholder tells whether a token is a {env.NAME} or {file.path}
// placeholder, which is stored as written.
func IsPlaceholder(token string) bool { return placeholder.MatchString(strings.TrimSpace(token)) }

// tokens calls f for every api_token string of every provider.
func (d *Document) tokens(f func(group, model string, i int, p *object, tok string) error) error {
	for _, g := range d.Groups() {
		grp := d.root.vals[g].(*object)
		for _, name := range grp.keys {
			mo, ok := grp.vals[name].(*object)
			if !ok {
				continue
			}
			list, _ := mo.vals["providers"].([]any)
			for i, e := range list {
				p, ok := e.(*object)
				if !ok {
					continue
				}
				tok, ok := p.vals["api_token"].(string)
				if !ok {
					continue
				}
				if err := f(g, name, i, p, tok); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Seal encrypts every api_token that is not empty, a placeholder or already
// sealed (AES-256-GCM, "enc:v1:…").
func (d *Document) Seal(k *Key) error {
	return d.tokens(func(_, model string, i int, p *object, tok string) error {
		if tok == "" || IsPlaceholder(tok) || strings.HasPrefix(tok, SealPrefix) || tok == TokenMarker {
			return nil
		}
		s, err := k.seal(tok)
		if err != nil {
			return err
		}
		p.vals["api_token"] = s
		return nil
	})
}

// Open decrypts every sealed api_token, for the file the router reads.
func (d *Document) Open(k *Key) error {
	return d.tokens(func(_, model string, i int, p *object, tok string) error {
		if !strings.HasPrefix(tok, SealPrefix) {
			return nil
		}
		pt, err := k.open(tok)
		if err != nil {
			return fmt.Errorf("model %q: provider #%d: %w", model, i, err)
		}
		p.vals["api_token"] = pt
		return nil
	})
}

// Redacted returns a copy for the browser: every api_token that is not
// empty or a placeholder is TokenMarker.
func (d *Document) Redacted() *Document {
	c := d.Clone()
	_ = c.tokens(func(_, _ string, _ int, p *object, tok string) error {
		if tok != "" && !IsPlaceholder(tok) {
			p.vals["api_token"] = TokenMarker
		}
		return nil
	})
	return c
}

// Merge puts back the stored tokens where d (a document from the browser)
// has TokenMarker: the token of the provider with the same id in the same
// model of stored, else the one at the same place. A marker with no stored
// token to keep is an error, and so is one whose provider's api_host
// changed: the kept token would go to a host its author never chose, and
// whoever edits the document could collect a token they were never shown.
func (d *Document) Merge(stored *Document) error {
	return d.tokens(func(group, model string, i int, p *object, tok string) error {
		if tok != TokenMarker {
			return nil
		}
		id, _ := p.vals["id"].(string)
		sp := stored.storedProvider(group, model, id, i)
		t, ok := "", false
		if sp != nil {
			t, ok = sp.vals["api_token"].(string)
		}
		if !ok || t == "" || t == TokenMarker {
			return fmt.Errorf("model %q: provider #%d: the hidden token has no stored value to keep; enter the token again", model, i)
		}
		if hostOf(sp) != hostOf(p) {
			return fmt.Errorf("model %q: provider #%d: api_host changed, so the hidden token is not kept; enter the token again", model, i)
		}
		p.vals["api_token"] = t
		return nil
	})
}

// storedProvider is the provider of d whose token a marker at (group, model,
// id, i) keeps: the one with that id, else (when either has no id) the one
// at place i; nil when there is none.
func (d *Document) storedProvider(group, model, id string, i int) *object {
	_, list, err := d.providers(group, model)
	if err != nil {
		return nil
	}
	if id != "" {
		for _, e := range list {
			if p, ok := e.(*object); ok && p.vals["id"] == any(id) {
				return p
			}
		}
	}
	if i < len(list) {
		if p, ok := list[i].(*object); ok {
			if pid, _ := p.vals["id"].(string); id == "" || pid == "" {
				return p
			}
		}
	}
	return nil
}

// HasSecretPlaceholder reports whether s holds an {env.NAME} or
// {file.path} placeholder anywhere in it. The router expands these in an
// api_token (Caddy's replacer, caddymodule/app.go) and sends the result to
// the provider's api_host, so they read the router's environment and
// files.
func HasSecretPlaceholder(s string) bool {
	return strings.Contains(s, "{env.") || strings.Contains(s, "{file.")
}

// SecretRef is a provider whose api_token holds an {env.…} or {file.…}
// placeholder: what the router would read, and where it would send it.
type SecretRef struct {
	Group, Model string
	Index        int    // the provider's place in its model
	ID           string // the provider's id
	Host         string // its api_host
	Token        string // the api_token in clear, placeholder included
}

// SecretRefs lists the providers of d whose api_token, in clear, holds an
// {env.…} or {file.…} placeholder. Sealed tokens are opened with k on a
// copy (an admin may have sealed "Bearer {env.X}"); one that k cannot open
// is skipped: the router cannot use it either. A marker is no token.
func (d *Document) SecretRefs(k *Key) []SecretRef {
	var out []SecretRef
	_ = d.tokens(func(group, model string, i int, p *object, tok string) error {
		if strings.HasPrefix(tok, SealPrefix) {
			pt, err := k.open(tok)
			if err != nil {
				return nil
			}
			tok = pt
		}
		if !HasSecretPlaceholder(tok) {
			return nil
		}
		id, _ := p.vals["id"].(string)
		host := hostOf(p)
		out = append(out, SecretRef{Group: group, Model: model, Index: i, ID: id, Host: host, Token: tok})
		return nil
	})
	return out
}

// NewSecretRefs returns the placeholder tokens of d that base does not
// already send to the same place: a placeholder added or changed, or one
// whose provider's api_host changed. Only an administrator may make such a
// change. A provider moved, reordered or copied with its token and
// api_host unchanged is not new: the secret goes where its author chose.
func NewSecretRefs(d, base *Document, k *Key) []SecretRef {
	type pair struct{ token, host string }
	have := map[pair]bool{}
	if base != nil {
		for _, r := range base.SecretRefs(k) {
			have[pair{r.Token, r.Host}] = true
		}
	}
	var out []SecretRef
	for _, r := range d.SecretRefs(k) {
		if !have[pair{r.Token, r.Host}] {
			out = append(out, r)
		}
	}
	return out
}

// CheckKeptHosts refuses a sealed token of d that stored holds for a
// provider with another api_host: a form that kept a token (left it
// sealed, not as TokenMarker) while its api_host changed. As in Merge, the
// token would go to a host its author never chose.
func (d *Document) CheckKeptHosts(stored *Document) error {
	hosts := map[string]string{}
	_ = stored.tokens(func(_, _ string, _ int, p *object, tok string) error {
		if strings.HasPrefix(tok, SealPrefix) {
			hosts[tok] = hostOf(p)
		}
		return nil
	})
	return d.tokens(func(_, model string, i int, p *object, tok string) error {
		if h, ok := hosts[tok]; ok && h != hostOf(p) {
			return fmt.Errorf("model %q: provider #%d: api_host changed, so the hidden token is not kept; enter the token again", model, i)
		}
		return nil
	})
}

// hostOf is a provider's api_host as text; a value of another type (which
// the validator refuses) as its JSON, so two never compare equal by luck
// and a list or object never panics a comparison.
func hostOf(p *object) string {
	switch v := p.vals["api_host"].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprintf("%T:%v", v, v)
	}
}
