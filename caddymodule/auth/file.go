package auth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// Record is one key in the keys file. The file holds only hashes: the
// plaintext key is printed once by `llm-router keys create` and never stored.
type Record struct {
	// Name identifies the key in logs, metrics and the CLI; unique.
	Name string `json:"name"`
	// SHA256 is the lowercase hex SHA-256 of the full key.
	SHA256 string `json:"sha256"`
	// Policy is what the key may do.
	Policy Policy `json:"policy"`
	// Created is when the key was created (informational).
	Created time.Time `json:"created,omitzero"`
	// Expires is when the key stops working (zero: never).
	Expires time.Time `json:"expires,omitzero"`
	// Disabled turns the key off without deleting it.
	Disabled bool `json:"disabled,omitempty"`
	// Previous holds the hashes of rotated keys still inside their grace
	// period.
	Previous []Previous `json:"previous,omitempty"`
}

// Previous is a rotated key that keeps working until ValidUntil.
type Previous struct {
	// SHA256 is the lowercase hex SHA-256 of the old key.
	SHA256 string `json:"sha256"`
	// ValidUntil ends the old key's grace period.
	ValidUntil time.Time `json:"valid_until"`
}

// document is the top level of the keys file.
type document struct {
	Keys []Record `json:"keys"`
}

// parseDoc decodes and validates a keys document (HuJSON: JSON with comments
// and trailing commas). src names the document in errors. An empty document
// holds no keys.
func parseDoc(b []byte, src string) ([]Record, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	std, err := hujson.Standardize(bytes.Clone(b)) // Standardize rewrites its input in place
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", position(src, std, err), err)
	}
	if err := validate(doc.Keys); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return doc.Keys, nil
}

// position returns "src:line:col" for JSON errors that carry an offset
// (Standardize keeps byte offsets), else src.
func position(src string, b []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return src
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Sprintf("%s:%d:%d", src, line, col)
}

// checkName explains what is wrong with a key name, without repeating it
// (a misplaced key must not end up in a log).
func checkName(s string) error {
	if strings.HasPrefix(s, "sk-") {
		return errors.New("name: looks like an API key; the file holds only hashes (sha256) of keys")
	}
	if !validName(s) {
		return errors.New("name: want 1-64 characters from A-Z a-z 0-9 . _ @ -, starting with a letter or digit")
	}
	return nil
}

// validName reports whether a key name is 1–64 characters from
// [A-Za-z0-9._@-], starting with a letter or digit.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._@-", rune(c))) {
			return false
		}
	}
	return true
}

// decodeHash parses a hex SHA-256.
func decodeHash(s string) ([32]byte, bool) {
	var h [32]byte
	if len(s) != 64 {
		return h, false
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err == nil
}

// validate checks names, hashes and policies of every record.
func validate(recs []Record) error {
	names := make(map[string]bool, len(recs))
	hashes := make(map[[32]byte]bool, len(recs))
	for i, r := range recs {
		where := fmt.Sprintf("keys[%d]", i)
		if err := checkName(r.Name); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		where = fmt.Sprintf("keys[%d] (%s)", i, r.Name)
		if names[r.Name] {
			return fmt.Errorf("%s: duplicate name", where)
		}
		names[r.Name] = true
		if _, err := compile(r.Policy); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		all := []string{r.SHA256}
		for j, p := range r.Previous {
			if p.ValidUntil.IsZero() {
				return fmt.Errorf("%s: previous[%d].valid_until: missing", where, j)
			}
			all = append(all, p.SHA256)
		}
		for j, s := range all {
			h, ok := decodeHash(s)
			if !ok {
				field := "sha256"
				if j > 0 {
					field = fmt.Sprintf("previous[%d].sha256", j-1)
				}
				return fmt.Errorf("%s: %s: want 64 hex digits", where, field)
			}
			if hashes[h] {
				return fmt.Errorf("%s: hash %.8s… appears twice in the file", where, strings.ToLower(s))
			}
			hashes[h] = true
		}
	}
	return nil
}

// entry is what the table holds for one hash.
type entry struct {
	key      *Key
	disabled bool
	// rotated marks the hash of a rotated key, valid until validUntil.
	rotated    bool
	validUntil time.Time
}

// table is an immutable index from key hash to entry.
type table struct {
	byHash map[[32]byte]*entry
	keys   int
}

// newTable indexes validated records.
func newTable(recs []Record) (*table, error) {
	t := &table{byHash: make(map[[32]byte]*entry, len(recs)), keys: len(recs)}
	for _, r := range recs {
		pol, err := compile(r.Policy)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", r.Name, err)
		}
		add := func(hexHash string, rotated bool, until time.Time) error {
			h, ok := decodeHash(hexHash)
			if !ok {
				return fmt.Errorf("key %q: bad hash", r.Name)
			}
			t.byHash[h] = &entry{
				key: &Key{
					Name:    r.Name,
					Policy:  r.Policy,
					Expires: r.Expires,
					id:      r.Name + "#" + strings.ToLower(hexHash[:8]),
					pol:     pol,
				},
				disabled:   r.Disabled,
				rotated:    rotated,
				validUntil: until,
			}
			return nil
		}
		if err := add(r.SHA256, false, time.Time{}); err != nil {
			return nil, err
		}
		for _, p := range r.Previous {
			if err := add(p.SHA256, true, p.ValidUntil); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}
