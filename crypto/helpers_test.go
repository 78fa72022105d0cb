package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// fixedKeyBytes returns distinctive key bytes: seed, seed+1, ...
func fixedKeyBytes(seed byte) []byte {
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func mustKey(t testing.TB, version uint32, seed byte) *Key {
	t.Helper()
	k, err := NewKey(version, fixedKeyBytes(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pattern returns n deterministic bytes, i % 251, so a shifted or swapped
// chunk never looks like the original.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// anyVersion is a KeySource that returns the same key bytes under every
// version, so tests can reach the AEAD check after a key-version change.
type anyVersion []byte

func (a anyVersion) Key(v uint32) (*Key, error) { return NewKey(v, a) }

// ring is a KeySource holding several keys.
type ring map[uint32]*Key

func (r ring) Key(v uint32) (*Key, error) {
	if k, ok := r[v]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: v%d", ErrUnknownKeyVersion, v)
}

// knownError reports whether err is one of the classes an attacker-controlled
// input may produce.
func knownError(err error) bool {
	return errors.Is(err, ErrIntegrity) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnknownKeyVersion)
}

func flip(b []byte, i int, mask byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= mask
	return c
}
