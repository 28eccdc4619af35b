package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// newDoc is the document a new keys file starts from.
const newDoc = `// llm-router API keys, managed with "llm-router keys" and reloaded
// automatically when this file changes. Only the SHA-256 of each key is
// stored: a lost key cannot be shown again, only rotated.
//
// policy.models: exact names or globs ("*", "gpt-4o*"); empty allows none.
// policy.endpoints: any of chat, embeddings, builtin, listing.
// policy.rpm / policy.tpm: requests / tokens per minute, 0 = no limit.
{
	"keys": [],
}
`

// createOptions describe a new key.
type createOptions struct {
	// Name is the key's unique name.
	Name string
	// Models allowed; nil means every model ("*").
	Models []string
	// Endpoints allowed; nil means every family.
	Endpoints []Family
	// RPM and TPM limits; 0 means none.
	RPM, TPM int
	// Expires, if not zero, ends the key's validity.
	Expires time.Time
}

// errNoSuchKey is returned by the editing commands for an unknown name.
var errNoSuchKey = errors.New("no key with that name")

// edit applies fn to the document in s and saves the result.
func edit(ctx context.Context, s docStore, fn func(doc []byte) ([]byte, error)) error {
	doc, rev, err := s.load(ctx)
	if err != nil {
		return err
	}
	out, err := fn(doc)
	if err != nil {
		return err
	}
	return s.save(ctx, out, rev)
}

// find parses doc and returns its records and the index of name (-1 if
// absent).
func find(doc []byte, name string) ([]Record, int, error) {
	recs, err := parseDoc(doc, "keys document")
	if err != nil {
		return nil, -1, err
	}
	for i, r := range recs {
		if r.Name == name {
			return recs, i, nil
		}
	}
	return recs, -1, nil
}

// op is one RFC 6902 patch operation.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"` // ignored by remove
}

// patch applies ops to doc (an empty doc starts from newDoc), keeping its
// comments, formats it and checks that the result is still a valid keys
// document.
func patch(doc []byte, ops ...op) ([]byte, error) {
	if len(strings.TrimSpace(string(doc))) == 0 {
		doc = []byte(newDoc)
	}
	v, err := hujson.Parse(bytes.Clone(doc))
	if err != nil {
		return nil, fmt.Errorf("keys document: %w", err)
	}
	if v.Find("/keys") == nil {
		ops = append([]op{{Op: "add", Path: "/keys", Value: []any{}}}, ops...)
	}
	p, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	if err := v.Patch(p); err != nil {
		return nil, fmt.Errorf("keys document: %w", err)
	}
	v.Format()
	out := v.Pack()
	if _, err := parseDoc(out, "edited keys document"); err != nil {
		return nil, err
	}
	return out, nil
}

// addKey adds a new key to doc and returns the new document and the key.
func addKey(doc []byte, o createOptions, now time.Time) ([]byte, string, error) {
	if err := checkName(o.Name); err != nil {
		return nil, "", fmt.Errorf("key %w", err)
	}
	_, i, err := find(doc, o.Name)
	if err != nil {
		return nil, "", err
	}
	if i >= 0 {
		return nil, "", fmt.Errorf("a key named %q already exists", o.Name)
	}
	if !o.Expires.IsZero() && !o.Expires.After(now) {
		return nil, "", fmt.Errorf("expiry %s is in the past", o.Expires.UTC().Format(time.RFC3339))
	}
	pol := Policy{Models: o.Models, Endpoints: o.Endpoints, RPM: o.RPM, TPM: o.TPM}
	if pol.Models == nil {
		pol.Models = []string{"*"}
	}
	if pol.Endpoints == nil {
		pol.Endpoints = families[:]
	}
	if _, err := compile(pol); err != nil {
		return nil, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	rec := Record{Name: o.Name, SHA256: HashSecret(secret), Policy: pol,
		Created: now.UTC().Truncate(time.Second), Expires: o.Expires.UTC().Truncate(time.Second)}
	out, err := patch(doc, op{Op: "add", Path: "/keys/-", Value: rec})
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// setDisabled disables or re-enables the key called name.
func setDisabled(doc []byte, name string, disabled bool) ([]byte, error) {
	recs, i, err := find(doc, name)
	if err != nil {
		return nil, err
	}
	if i < 0 {
		return nil, fmt.Errorf("%q: %w", name, errNoSuchKey)
	}
	path := fmt.Sprintf("/keys/%d/disabled", i)
	switch {
	case disabled:
		return patch(doc, op{Op: "add", Path: path, Value: true})
	case recs[i].Disabled:
		return patch(doc, op{Op: "remove", Path: path})
	default:
		return doc, nil
	}
}

// rotateKey gives the key called name a new secret. The old one stays valid
// for grace; rotated keys whose grace ended are dropped.
func rotateKey(doc []byte, name string, grace time.Duration, now time.Time) ([]byte, string, error) {
	recs, i, err := find(doc, name)
	if err != nil {
		return nil, "", err
	}
	if i < 0 {
		return nil, "", fmt.Errorf("%q: %w", name, errNoSuchKey)
	}
	if grace < 0 {
		return nil, "", errors.New("grace period must not be negative")
	}
	var prev []Previous
	for _, p := range recs[i].Previous {
		if p.ValidUntil.After(now) {
			prev = append(prev, p)
		}
	}
	if grace > 0 {
		prev = append(prev, Previous{SHA256: recs[i].SHA256, ValidUntil: now.Add(grace).UTC().Truncate(time.Second)})
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	ops := []op{{Op: "replace", Path: fmt.Sprintf("/keys/%d/sha256", i), Value: HashSecret(secret)}}
	prevPath := fmt.Sprintf("/keys/%d/previous", i)
	switch {
	case len(prev) > 0:
		ops = append(ops, op{Op: "add", Path: prevPath, Value: prev})
	case len(recs[i].Previous) > 0:
		ops = append(ops, op{Op: "remove", Path: prevPath})
	}
	out, err := patch(doc, ops...)
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// deleteKey removes the key called name.
func deleteKey(doc []byte, name string) ([]byte, error) {
	_, i, err := find(doc, name)
	if err != nil {
		return nil, err
	}
	if i < 0 {
		return nil, fmt.Errorf("%q: %w", name, errNoSuchKey)
	}
	return patch(doc, op{Op: "remove", Path: fmt.Sprintf("/keys/%d", i)})
}

// parseExpiry reads an expiry: an RFC 3339 time, a date (midnight UTC at the
// start of that day), or a duration from now ("720h", "90d").
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n > 0 {
			return now.Add(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("expiry %q: want a date (2026-12-31), an RFC 3339 time or a duration (90d, 720h)", s)
}

// splitList splits a comma-separated flag value; empty gives nil.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
