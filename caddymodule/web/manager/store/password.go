package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// hashParams are argon2id's cost parameters.
type hashParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultHash follows OWASP's Password Storage Cheat Sheet for argon2id
// (19 MiB, 2 passes, 1 lane).
var defaultHash = hashParams{memory: 19 * 1024, time: 2, threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// hash returns the PHC string of password: $argon2id$v=19$m=…,t=…,p=…$salt$key.
func (p hashParams) hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("store: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verify reports whether password matches the PHC string phc. Its parameters
// come from the string, so hashes made with other costs keep working.
func verify(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, fmt.Errorf("store: unsupported password hash")
	}
	var p hashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return false, fmt.Errorf("store: password hash parameters: %w", err)
	}
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || p.threads < 1 {
		return false, fmt.Errorf("store: password hash parameters out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("store: password hash salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, fmt.Errorf("store: password hash key")
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// acquire takes a hashing slot: argon2id is memory-hard on purpose, so a
// burst of logins must queue instead of allocating without bound.
func (s *Store) acquire(ctx context.Context) (func(), error) {
	select {
	case s.hashSem <- struct{}{}:
		return func() { <-s.hashSem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hashPassword checks password's length and hashes it.
func (s *Store) hashPassword(ctx context.Context, password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return s.hash.hash(password)
}

// verifyPassword checks password against phc in a hashing slot.
func (s *Store) verifyPassword(ctx context.Context, phc, password string) (bool, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return verify(phc, password)
}

// checkPassword enforces the length bounds.
func checkPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("store: %w: at least %d characters", ErrWeakPassword, MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("store: %w: at most %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	return nil
}
