package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// macInfo is the HKDF info that derives the MAC subkey, so the AEAD key and
// the MAC key are never the same bytes.
const macInfo = "vault/mac/v1"

// MACSize is the length of a [MAC] result.
const MACSize = sha256.Size

// MAC returns HMAC-SHA256, under a subkey derived from k with HKDF-SHA256
// (info "vault/mac/v1", no salt), of the binding encoding followed by msg.
// It is deterministic: the same key, binding and message give the same 32
// bytes, which makes it a lookup key for name indexes that reveals nothing
// about the name without the key. Compare MACs with [hmac.Equal].
func MAC(k *Key, b Binding, msg []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	var sum []byte
	err := k.useMAC(func(sub *[KeySize]byte) error {
		m := hmac.New(sha256.New, sub[:])
		m.Write(appendBinding(make([]byte, 0, bindingLen(b)), b))
		m.Write(msg)
		sum = m.Sum(nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// useMAC calls f with k's MAC subkey (HKDF-SHA256 of the key bytes, info
// macInfo, no salt) while holding k's lock, so a concurrent Wipe waits for f
// to return. The subkey is derived on the first call and kept with the key
// bytes until Wipe: name lookups MAC every request, and the derivation was
// most of a MAC's cost. f must not retain sub.
func (k *Key) useMAC(f func(sub *[KeySize]byte) error) error {
	if k == nil || k.s == nil {
		return errNilKey
	}
	s := k.s
	s.mu.RLock()
	if s.wiped {
		s.mu.RUnlock()
		return ErrWiped
	}
	if s.mac != nil {
		defer s.mu.RUnlock()
		return f(s.mac)
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wiped {
		return ErrWiped
	}
	if s.mac == nil {
		sub, err := hkdf.Key(sha256.New, s.b[:], nil, macInfo, KeySize)
		if err != nil {
			return err
		}
		s.mac = new([KeySize]byte)
		copy(s.mac[:], sub)
		clear(sub)
	}
	return f(s.mac)
}

// WrapKey seals k's bytes under kek with binding b. The version of k is not
// recorded; bind it in b.Object if it must not be relabelled. The result is
// an envelope of [KeySize]+[Overhead] bytes.
func WrapKey(kek *Key, b Binding, k *Key) ([]byte, error) {
	var nonce [envelopeNonce]byte
	if err := randRead(nonce[:]); err != nil {
		return nil, err
	}
	return wrapKeyWithNonce(kek, b, k, nonce[:])
}

func wrapKeyWithNonce(kek *Key, b Binding, k *Key, nonce []byte) ([]byte, error) {
	var wrapped []byte
	err := k.use(func(key *[KeySize]byte) error {
		var err error
		wrapped, err = sealWithNonce(kek, b, nonce, key[:])
		return err
	})
	if err != nil {
		return nil, err
	}
	return wrapped, nil
}

// UnwrapKey opens a key wrapped by [WrapKey] and returns it as a [Key] with
// the given version. Errors are those of [Open], or [ErrMalformed] when the
// authenticated content is not [KeySize] bytes.
func UnwrapKey(ks KeySource, b Binding, version uint32, wrapped []byte) (*Key, error) {
	raw, err := Open(ks, b, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	if len(raw) != KeySize {
		return nil, fmt.Errorf("%w: wrapped key is %d bytes, want %d", ErrMalformed, len(raw), KeySize)
	}
	return NewKey(version, raw)
}
