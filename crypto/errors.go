package crypto

import "errors"

// Errors returned by this package. They may be wrapped with context (a chunk
// number, a length, a version) but never with secret bytes. Test with
// [errors.Is], or with [IsIntegrityError] for ErrIntegrity.
var (
	// ErrIntegrity means authentication failed: the wrong key, tampered or
	// truncated bytes, or a ciphertext opened under another [Binding].
	ErrIntegrity = errors.New("crypto: integrity check failed")
	// ErrUnknownKeyVersion means the KeySource has no key for the version named
	// in a header.
	ErrUnknownKeyVersion = errors.New("crypto: unknown key version")
	// ErrMalformed means the input is not in a format this package reads: bad
	// magic, unknown format version, too short, wrong key length.
	ErrMalformed = errors.New("crypto: malformed input")
	// ErrWiped means a [Key] was used after [Key.Wipe].
	ErrWiped = errors.New("crypto: key has been wiped")
	// ErrInvalidBinding means a [Binding] cannot be encoded: an empty purpose,
	// a purpose containing a NUL byte, or an object longer than 2^32-1 bytes.
	ErrInvalidBinding = errors.New("crypto: invalid binding")
	// ErrClosed means a stream writer was used after Close.
	ErrClosed = errors.New("crypto: stream writer closed")
)

var errNilKey = errors.New("crypto: nil key")

// IsIntegrityError reports whether err is, or wraps, [ErrIntegrity].
func IsIntegrityError(err error) bool { return errors.Is(err, ErrIntegrity) }
