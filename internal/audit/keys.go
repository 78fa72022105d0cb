package audit

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/vaultd/vault/crypto"
)

// Labels of the key derivation and of the key files. Changing any of them
// changes every name HMAC and invalidates every seal already written.
const (
	nameKeyInfo = "vault/audit/v1/name" // HKDF info of the name key
	sealKeyInfo = "vault/audit/v1/seal" // HKDF info of the Ed25519 seed
	sealLabel   = "vault/audit/seal/v1\n"

	nameKeyPrefix   = "vault-audit-name-v1:"
	verifyKeyPrefix = "vault-audit-verify-v1:"
)

// Keys are the audit keys of one cluster, all derived from its name-index
// key (see the package doc). The zero Keys is not usable; get one from
// [DeriveKeys] or [NewKeys]. Keys is safe for concurrent use.
type Keys struct {
	mu    sync.RWMutex
	name  *[32]byte
	seal  ed25519.PrivateKey
	vk    VerifyKey
	wiped bool
}

// DeriveKeys derives the audit keys from the cluster's name-index key
// (keys.Keyring.IndexKey): the name key is HKDF-SHA256(index, no salt, info
// "vault/audit/v1/name"), the seal key the Ed25519 key whose seed is
// HKDF-SHA256(index, no salt, info "vault/audit/v1/seal"). Every manager of a
// cluster derives the same keys, so one name hashes alike in every log and
// one verification key checks every log of the cluster.
func DeriveKeys(index *crypto.Key) (*Keys, error) {
	raw, err := crypto.ExportKey(index)
	if err != nil {
		return nil, fmt.Errorf("audit: derive keys: %w", err)
	}
	defer clear(raw)
	return NewKeys(raw)
}

// NewKeys derives the audit keys from 32 bytes of cluster secret as
// [DeriveKeys] does. The caller may wipe secret afterwards.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) != crypto.KeySize {
		return nil, fmt.Errorf("audit: derive keys: secret is %d bytes, want %d", len(secret), crypto.KeySize)
	}
	nk, err := hkdf.Key(sha256.New, secret, nil, nameKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("audit: derive keys: %w", err)
	}
	defer clear(nk)
	seed, err := hkdf.Key(sha256.New, secret, nil, sealKeyInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("audit: derive keys: %w", err)
	}
	defer clear(seed)
	k := &Keys{name: new([32]byte), seal: ed25519.NewKeyFromSeed(seed)}
	copy(k.name[:], nk)
	copy(k.vk.b[:], k.seal.Public().(ed25519.PublicKey))
	return k, nil
}

// HashName returns the name's HMAC as it appears in audit records (field
// "name_hmac"): lower-case hex of HMAC-SHA256(name key, name).
func (k *Keys) HashName(name string) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.wiped {
		return "", ErrKeysWiped
	}
	return hashName(k.name[:], name), nil
}

func hashName(key []byte, name string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// VerifyKey returns the public key that checks this cluster's seals. It is
// not secret: it verifies seals but cannot make them.
func (k *Keys) VerifyKey() VerifyKey { return k.vk }

// NameKey returns the name key, the secret that [Keys.HashName] uses.
func (k *Keys) NameKey() (NameKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.wiped {
		return NameKey{}, ErrKeysWiped
	}
	nk := NameKey{b: new([32]byte)}
	*nk.b = *k.name
	return nk, nil
}

// sign returns the seal signature over msg.
func (k *Keys) sign(msg []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.wiped {
		return nil, ErrKeysWiped
	}
	return ed25519.Sign(k.seal, msg), nil
}

// Wipe zeroes the secret keys. Later uses return [ErrKeysWiped]; the
// verification key stays usable.
func (k *Keys) Wipe() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.name != nil {
		clear(k.name[:])
	}
	clear(k.seal)
	k.wiped = true
}

// String is redacted: the Keys never print their secret halves.
func (k *Keys) String() string { return "audit.Keys{" + k.vk.ID() + " REDACTED}" }

// VerifyKey is a cluster's seal verification key (an Ed25519 public key).
// Its text form, as in a --key-file, is "vault-audit-verify-v1:" followed by
// 64 hex digits.
type VerifyKey struct{ b [ed25519.PublicKeySize]byte }

// ID is the short key id that seals carry in their "key" field: hex of the
// first 8 bytes of SHA-256 of the public key.
func (v VerifyKey) ID() string {
	s := sha256.Sum256(v.b[:])
	return hex.EncodeToString(s[:8])
}

// String returns the key's text form.
func (v VerifyKey) String() string { return verifyKeyPrefix + hex.EncodeToString(v.b[:]) }

// IsZero reports whether v is the zero VerifyKey.
func (v VerifyKey) IsZero() bool { return v.b == [ed25519.PublicKeySize]byte{} }

func (v VerifyKey) verify(msg, sig []byte) bool {
	return ed25519.Verify(ed25519.PublicKey(v.b[:]), msg, sig)
}

// ParseVerifyKey reads a verification key in its text form. Surrounding
// white space is ignored.
func ParseVerifyKey(s string) (VerifyKey, error) {
	var v VerifyKey
	h, err := parseKeyText(s, verifyKeyPrefix, nameKeyPrefix, "an audit name key, not a verification key")
	if err != nil {
		return v, err
	}
	copy(v.b[:], h)
	return v, nil
}

// NameKey is the secret key of name HMACs. Its text form, as in an
// --audit-key-file, is "vault-audit-name-v1:" followed by 64 hex digits. It
// prints redacted and compares in constant time.
type NameKey struct {
	_ [0]func()
	b *[32]byte
}

// HashName is [Keys.HashName] for a name key read from a file.
func (n NameKey) HashName(name string) string { return hashName(n.b[:], name) }

// Equal reports in constant time whether n and o are the same key.
func (n NameKey) Equal(o NameKey) bool {
	return n.b != nil && o.b != nil && subtle.ConstantTimeCompare(n.b[:], o.b[:]) == 1
}

// Export returns the key's text form. It exists to write a key file; the
// caller should not keep the string longer than needed.
func (n NameKey) Export() string { return nameKeyPrefix + hex.EncodeToString(n.b[:]) }

// String is redacted.
func (n NameKey) String() string { return "audit.NameKey{REDACTED}" }

// GoString is redacted.
func (n NameKey) GoString() string { return n.String() }

// ParseNameKey reads a name key in its text form. Surrounding white space is
// ignored.
func ParseNameKey(s string) (NameKey, error) {
	h, err := parseKeyText(s, nameKeyPrefix, verifyKeyPrefix, "an audit verification key, not a name key")
	if err != nil {
		return NameKey{}, err
	}
	defer clear(h)
	n := NameKey{b: new([32]byte)}
	copy(n.b[:], h)
	return n, nil
}

func parseKeyText(s, prefix, otherPrefix, otherMsg string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, otherPrefix) {
		return nil, fmt.Errorf("%w: this is %s", ErrBadKey, otherMsg)
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("%w: want %q followed by 64 hex digits", ErrBadKey, prefix)
	}
	h, err := hex.DecodeString(rest)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("%w: want %q followed by 64 hex digits", ErrBadKey, prefix)
	}
	return h, nil
}
