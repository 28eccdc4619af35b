package audit

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key file names written by Keygen (the names the original system used).
const (
	PublicKeyFile  = "llm-router-auditor-pub.asc"
	PrivateKeyFile = "llm-router-auditor-priv.asc"
)

// pgpConfig is the OpenPGP configuration used to encrypt records: AES-256,
// no compression (compression leaks plaintext length patterns and costs
// time), and SEIPD v1 with MDC so GnuPG 2.2+ can decrypt too.
func pgpConfig() *packet.Config {
	return &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		DefaultHash:            crypto.SHA256,
	}
}

// ParsePublicKey reads an armored OpenPGP public key that can encrypt. A key
// file that holds private key material is refused: the router must never be
// able to read its own audit log.
func ParsePublicKey(armored []byte) (*openpgp.Entity, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("audit: public key: want exactly one key, found %d", len(el))
	}
	e := el[0]
	if e.PrivateKey != nil {
		return nil, errors.New("audit: public key file holds a private key; give the router only the public key")
	}
	if _, ok := e.EncryptionKey(time.Now()); !ok {
		return nil, errors.New("audit: public key has no valid (unexpired, unrevoked) encryption key")
	}
	return e, nil
}

// LoadPublicKey reads and checks the armored public key file at path.
func LoadPublicKey(path string) (*openpgp.Entity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: public key: %w", err)
	}
	return ParsePublicKey(b)
}

// LoadPrivateKey reads an armored private key file. When the key is
// passphrase-protected, passphrase unlocks it.
func LoadPrivateKey(path string, passphrase []byte) (openpgp.EntityList, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: private key: %w", err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("audit: private key: %w", err)
	}
	n := 0
	for _, e := range el {
		if e.PrivateKey == nil {
			continue
		}
		n++
		if !isLocked(e) {
			continue
		}
		if len(passphrase) == 0 {
			return nil, errors.New("audit: private key is passphrase-protected; give --passphrase-file")
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("audit: unlock private key: %w", err)
		}
	}
	if n == 0 {
		return nil, errors.New("audit: private key file holds no private key")
	}
	return el, nil
}

// isLocked reports whether any private key of e is passphrase-protected.
func isLocked(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// Keygen creates an Ed25519 signing key with a Curve25519 (ECDH) encryption
// subkey (OpenPGP v4, readable by GnuPG 2.2+) and writes PublicKeyFile (0644)
// and PrivateKeyFile (0600) into dir, which is created 0700 if missing.
// Existing files are never overwritten. A non-empty passphrase encrypts the
// private key. It returns the paths written.
func Keygen(dir string, passphrase []byte) (pub, priv string, err error) {
	cfg := &packet.Config{
		Algorithm:   packet.PubKeyAlgoEdDSA,
		Curve:       packet.Curve25519,
		DefaultHash: crypto.SHA256,
	}
	e, err := openpgp.NewEntity("LLM Router auditor key", "llm-router-auditor", "", cfg)
	if err != nil {
		return "", "", fmt.Errorf("audit: keygen: %w", err)
	}
	var pubBuf, privBuf bytes.Buffer
	if err := armored(&pubBuf, openpgp.PublicKeyType, e.Serialize); err != nil {
		return "", "", err
	}
	if len(passphrase) > 0 {
		if err := e.EncryptPrivateKeys(passphrase, nil); err != nil {
			return "", "", fmt.Errorf("audit: keygen: protect private key: %w", err)
		}
	}
	if err := armored(&privBuf, openpgp.PrivateKeyType, func(w io.Writer) error { return e.SerializePrivateWithoutSigning(w, nil) }); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("audit: keygen: %w", err)
	}
	pub = filepath.Join(dir, PublicKeyFile)
	priv = filepath.Join(dir, PrivateKeyFile)
	for _, p := range []string{pub, priv} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("audit: keygen: %s already exists; not overwriting", p)
		}
	}
	if err := writeNew(priv, privBuf.Bytes(), 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pub, pubBuf.Bytes(), 0o644); err != nil {
		return "", "", err
	}
	return pub, priv, nil
}

// armored writes the output of ser as an armored block of type typ.
func armored(w io.Writer, typ string, ser func(io.Writer) error) error {
	aw, err := armor.Encode(w, typ, nil)
	if err != nil {
		return fmt.Errorf("audit: armor: %w", err)
	}
	if err := ser(aw); err != nil {
		return fmt.Errorf("audit: serialize key: %w", err)
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("audit: armor: %w", err)
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// writeNew creates path exclusively with perm, writes b and syncs it.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("audit: keygen: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: keygen: write %s: %w", path, err)
	}
	return nil
}

// encrypt encrypts plaintext to the public key into a binary OpenPGP message
// appended to dst.
func encrypt(dst *bytes.Buffer, to *openpgp.Entity, cfg *packet.Config, plaintext []byte) error {
	w, err := openpgp.Encrypt(dst, []*openpgp.Entity{to}, nil, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return fmt.Errorf("audit: encrypt: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return fmt.Errorf("audit: encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("audit: encrypt: %w", err)
	}
	return nil
}

// decrypt decrypts one binary OpenPGP message with keys, checking its
// integrity (MDC/AEAD) by reading it to the end.
func decrypt(ct []byte, keys openpgp.KeyRing) ([]byte, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(ct), keys, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	if !md.IsEncrypted {
		return nil, errors.New("decrypt: record is not encrypted")
	}
	pt, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return pt, nil
}
