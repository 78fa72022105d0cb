package crypto

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
)

// KeySize is the size in bytes of every [Key].
const KeySize = 32

// Key is a 256-bit symmetric key with a version number.
//
// The key bytes live in an unexported array two pointers away from the Key, so
// a Key copied into another value never copies them, and fmt, which follows
// at most one pointer when it prints a value it cannot call methods on (an
// unexported field), never reaches them. A Key is not comparable with ==; use
// [Key.Equal]. It prints redacted with every fmt verb. [Key.Wipe] zeroes the
// bytes; afterwards every use returns [ErrWiped].
//
// A Key is safe for concurrent use, including a Wipe racing with a Seal: the
// Seal either completes with the key or fails with ErrWiped.
type Key struct {
	_ [0]func() // not comparable
	s *keyState
}

type keyState struct {
	mu      sync.RWMutex
	version uint32
	wiped   bool
	b       *[KeySize]byte // never nil; see the Key doc for why it is a pointer
	// mac is the MAC subkey derived from b (see MAC), nil until the first
	// MAC: derived once rather than on every MAC, and wiped with b.
	mac *[KeySize]byte
}

func newKey(version uint32) *Key {
	return &Key{s: &keyState{version: version, b: new([KeySize]byte)}}
}

// KeySource finds the key for a version. Unknown versions return an error
// wrapping [ErrUnknownKeyVersion].
type KeySource interface {
	Key(version uint32) (*Key, error)
}

var _ KeySource = (*Key)(nil)

// NewKey returns a Key holding a copy of b, which must be [KeySize] bytes long.
// The caller may wipe b afterwards.
func NewKey(version uint32, b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d", ErrMalformed, len(b), KeySize)
	}
	k := newKey(version)
	copy(k.s.b[:], b)
	return k, nil
}

// GenerateKey returns a new random Key read from crypto/rand.
func GenerateKey(version uint32) (*Key, error) {
	k := newKey(version)
	if _, err := rand.Read(k.s.b[:]); err != nil {
		return nil, fmt.Errorf("crypto: generate key: %w", err)
	}
	return k, nil
}

// DeriveKey derives a Key from secret with HKDF-SHA256 (RFC 5869) using salt and
// info. secret must not be empty; salt may be nil.
func DeriveKey(version uint32, secret, salt []byte, info string) (*Key, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: empty secret", ErrMalformed)
	}
	b, err := hkdf.Key(sha256.New, secret, salt, info, KeySize)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive key: %w", err)
	}
	defer clear(b)
	return NewKey(version, b)
}

// Version returns the key's version number. It stays readable after Wipe, so a
// wiped key can still be named in an error.
func (k *Key) Version() uint32 {
	if k == nil || k.s == nil {
		return 0
	}
	return k.s.version
}

// Equal reports, in constant time, whether k and o hold the same bytes and the
// same version. A nil or wiped key is equal to nothing.
func (k *Key) Equal(o *Key) bool {
	if k == nil || o == nil || k.s == nil || o.s == nil {
		return false
	}
	if k.s == o.s {
		k.s.mu.RLock()
		defer k.s.mu.RUnlock()
		return !k.s.wiped
	}
	// Copy one side under its own lock so that two locks are never held at
	// once (Equal(a, b) racing Equal(b, a) with a pending Wipe cannot deadlock).
	var ob [KeySize]byte
	defer clear(ob[:])
	o.s.mu.RLock()
	ov, owiped := o.s.version, o.s.wiped
	ob = *o.s.b
	o.s.mu.RUnlock()

	k.s.mu.RLock()
	defer k.s.mu.RUnlock()
	if k.s.wiped || owiped {
		return false
	}
	same := subtle.ConstantTimeCompare(k.s.b[:], ob[:])
	same &= subtle.ConstantTimeEq(int32(k.s.version), int32(ov))
	return same == 1
}

// Wipe zeroes the key bytes. Every later use of k returns [ErrWiped]. Wipe is
// idempotent and safe to call on a nil Key.
func (k *Key) Wipe() {
	if k == nil || k.s == nil {
		return
	}
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	clear(k.s.b[:])
	if k.s.mac != nil {
		clear(k.s.mac[:])
		k.s.mac = nil
	}
	k.s.wiped = true
}

// Key returns k itself when version is k's version, so that a single *Key is a
// [KeySource]. Other versions return an error wrapping [ErrUnknownKeyVersion].
func (k *Key) Key(version uint32) (*Key, error) {
	if k == nil || k.s == nil {
		return nil, errNilKey
	}
	k.s.mu.RLock()
	defer k.s.mu.RUnlock()
	if k.s.wiped {
		return nil, ErrWiped
	}
	if version != k.s.version {
		return nil, fmt.Errorf("%w: v%d (have v%d)", ErrUnknownKeyVersion, version, k.s.version)
	}
	return k, nil
}

// use calls f with the key bytes while holding the read lock, so a concurrent
// Wipe waits for f to return. f must not retain b.
func (k *Key) use(f func(b *[KeySize]byte) error) error {
	if k == nil || k.s == nil {
		return errNilKey
	}
	k.s.mu.RLock()
	defer k.s.mu.RUnlock()
	if k.s.wiped {
		return ErrWiped
	}
	return f(k.s.b)
}

// String returns a redacted description such as "crypto.Key{v3 REDACTED}".
func (k Key) String() string {
	if k.s == nil {
		return "crypto.Key{}"
	}
	k.s.mu.RLock()
	defer k.s.mu.RUnlock()
	if k.s.wiped {
		return fmt.Sprintf("crypto.Key{v%d WIPED}", k.s.version)
	}
	return fmt.Sprintf("crypto.Key{v%d REDACTED}", k.s.version)
}

// GoString is the same as String, so %#v is redacted too.
func (k Key) GoString() string { return k.String() }

// Format prints the redacted String for every verb and flag (%v %+v %#v %s %x
// %q ...), so no formatting directive can reach the key bytes.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// ExportKey returns a copy of k's bytes. It exists for the few places where
// key material must leave this package in the clear: the KEK file a node
// keeps while autolock is off, and tests that scan disks for key bytes. The
// caller owns the copy and should zero it as soon as it is written.
func ExportKey(k *Key) ([]byte, error) {
	var out []byte
	err := k.use(func(b *[KeySize]byte) error {
		out = append([]byte(nil), b[:]...)
		return nil
	})
	return out, err
}
