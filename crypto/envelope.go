package crypto

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Envelope format, version 1:
//
//	magic "vl" (2) || format version 0x01 (1) || key version uint32 BE (4) ||
//	nonce (24) || XChaCha20-Poly1305 ciphertext || tag (16)
const (
	envelopeMagic0  = 'v'
	envelopeMagic1  = 'l'
	envelopeFormat  = 0x01
	envelopeHdrSize = 2 + 1 + 4
	envelopeNonce   = chacha20poly1305.NonceSizeX
	envelopeTag     = chacha20poly1305.Overhead
)

// Overhead is how many bytes [Seal] adds to a plaintext: a 7-byte header, a
// 24-byte nonce and a 16-byte tag.
const Overhead = envelopeHdrSize + envelopeNonce + envelopeTag

// Seal encrypts and authenticates plaintext under k, bound to b, with a fresh
// random nonce. The result is a self-describing envelope of
// len(plaintext)+[Overhead] bytes that names k's version; [Open] with the same
// binding and a KeySource holding that version is the only way back.
func Seal(k *Key, b Binding, plaintext []byte) ([]byte, error) {
	var nonce [envelopeNonce]byte
	if err := randRead(nonce[:]); err != nil {
		return nil, err
	}
	return sealWithNonce(k, b, nonce[:], plaintext)
}

func randRead(b []byte) error {
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("crypto: read random bytes: %w", err)
	}
	return nil
}

// sealWithNonce is Seal with a caller-chosen nonce, for test vectors only.
// Reusing a nonce under one key breaks confidentiality and authenticity.
func sealWithNonce(k *Key, b Binding, nonce, plaintext []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(nonce) != envelopeNonce {
		return nil, fmt.Errorf("crypto: nonce is %d bytes, want %d", len(nonce), envelopeNonce)
	}
	var out []byte
	err := k.use(func(key *[KeySize]byte) error {
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return fmt.Errorf("crypto: %w", err)
		}
		out = make([]byte, envelopeHdrSize+envelopeNonce, Overhead+len(plaintext))
		out[0], out[1], out[2] = envelopeMagic0, envelopeMagic1, envelopeFormat
		binary.BigEndian.PutUint32(out[3:7], k.s.version)
		copy(out[envelopeHdrSize:], nonce)
		aad := envelopeAAD(out[:envelopeHdrSize], b)
		out = aead.Seal(out, nonce, plaintext, aad)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// envelopeAAD returns header || binding encoding. The header is authenticated
// so that the key version and format version cannot be changed.
func envelopeAAD(header []byte, b Binding) []byte {
	aad := make([]byte, 0, len(header)+bindingLen(b))
	aad = append(aad, header...)
	return appendBinding(aad, b)
}

// parseEnvelopeHeader checks the magic, format version and minimum length, and
// returns the key version.
func parseEnvelopeHeader(envelope []byte) (uint32, error) {
	if len(envelope) < Overhead {
		return 0, fmt.Errorf("%w: envelope is %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(envelope), Overhead)
	}
	if envelope[0] != envelopeMagic0 || envelope[1] != envelopeMagic1 {
		return 0, fmt.Errorf("%w: not an envelope (bad magic)", ErrMalformed)
	}
	if envelope[2] != envelopeFormat {
		return 0, fmt.Errorf("%w: unsupported envelope format version %d", ErrMalformed, envelope[2])
	}
	return binary.BigEndian.Uint32(envelope[3:7]), nil
}

// EnvelopeKeyVersion returns the key version named in an envelope's header,
// without decrypting or authenticating anything. It returns [ErrMalformed] for
// input that cannot be an envelope. The version is unauthenticated until
// [Open] succeeds.
func EnvelopeKeyVersion(envelope []byte) (uint32, error) {
	return parseEnvelopeHeader(envelope)
}

// Open authenticates and decrypts an envelope made by [Seal], using the key
// that ks returns for the envelope's key version. Errors:
//   - [ErrMalformed]: not an envelope, or an unknown format version;
//   - whatever ks returns, normally wrapping [ErrUnknownKeyVersion];
//   - [ErrIntegrity]: wrong key, tampered bytes, or a binding other than the
//     one used to seal.
//
// The plaintext is a new slice; envelope is not modified.
func Open(ks KeySource, b Binding, envelope []byte) ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	version, err := parseEnvelopeHeader(envelope)
	if err != nil {
		return nil, err
	}
	k, err := lookupKey(ks, version)
	if err != nil {
		return nil, err
	}
	var plaintext []byte
	err = k.use(func(key *[KeySize]byte) error {
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			return fmt.Errorf("crypto: %w", err)
		}
		header := envelope[:envelopeHdrSize]
		nonce := envelope[envelopeHdrSize : envelopeHdrSize+envelopeNonce]
		ciphertext := envelope[envelopeHdrSize+envelopeNonce:]
		plaintext, err = aead.Open(nil, nonce, ciphertext, envelopeAAD(header, b))
		if err != nil {
			return fmt.Errorf("%w: envelope under key v%d", ErrIntegrity, version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if plaintext == nil {
		plaintext = []byte{}
	}
	return plaintext, nil
}

// lookupKey asks ks for version and checks that the answer is that version.
func lookupKey(ks KeySource, version uint32) (*Key, error) {
	if ks == nil {
		return nil, fmt.Errorf("%w: v%d (no key source)", ErrUnknownKeyVersion, version)
	}
	k, err := ks.Key(version)
	if err != nil {
		return nil, err
	}
	if k == nil || k.s == nil {
		return nil, fmt.Errorf("%w: v%d (key source returned no key)", ErrUnknownKeyVersion, version)
	}
	if k.Version() != version {
		return nil, fmt.Errorf("%w: v%d (key source returned v%d)", ErrUnknownKeyVersion, version, k.Version())
	}
	return k, nil
}
