package keys

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Returned errors may wrap them with
// context, never with key material.
var (
	// ErrUnlockKeyFormat means the text is not shaped like an unlock key.
	ErrUnlockKeyFormat = errors.New("keys: malformed unlock key")
	// ErrUnlockKeyChecksum means the text is shaped like an unlock key but
	// its checksum does not match: almost certainly a typo.
	ErrUnlockKeyChecksum = errors.New("keys: checksum mismatch: check for a typo")
	// ErrWrongKey means a well-formed key is not the one the keyring is
	// wrapped under (the key check failed).
	ErrWrongKey = errors.New("keys: wrong unlock key")
	// ErrOtherCluster means the unlock key was made for another cluster.
	ErrOtherCluster = errors.New("keys: unlock key belongs to another cluster")

	// ErrMalformedKeyring means an encoded or constructed wrapped keyring
	// breaks the format or its invariants.
	ErrMalformedKeyring = errors.New("keys: malformed keyring")
	// ErrUnknownDEK means an operation named a DEK version the ring lacks.
	ErrUnknownDEK = errors.New("keys: unknown dek version")
	// ErrDEKConflict means AddDEK was given a version out of order, or a DEK
	// other than the one already recorded under that version.
	ErrDEKConflict = errors.New("keys: conflicting dek")
	// ErrDEKRetired means an operation needs key material of a retired DEK.
	ErrDEKRetired = errors.New("keys: dek is retired")
	// ErrDEKActive means the active DEK cannot be retired.
	ErrDEKActive = errors.New("keys: dek is active")

	// ErrShareFormat means the text is not shaped like an unlock key share.
	ErrShareFormat = errors.New("keys: malformed share")
	// ErrShareChecksum means a share's checksum does not match: a typo.
	ErrShareChecksum = errors.New("keys: share checksum mismatch: check for a typo")
	// ErrDuplicateShare means the same share was added twice.
	ErrDuplicateShare = errors.New("keys: duplicate share")
	// ErrOtherSplit means a share belongs to another split than the shares
	// added before it.
	ErrOtherSplit = errors.New("keys: share from another split")
	// ErrPreviousSplit means a share belongs to another split than the one
	// whose key opens the keyring (ShareSet.ExpectSplits).
	ErrPreviousSplit = errors.New("keys: share from a previous split")
	// ErrNotEnoughShares means fewer shares than the threshold were added.
	ErrNotEnoughShares = errors.New("keys: not enough shares")
	// ErrSharesCorrupt means the shares do not combine to a valid unlock key.
	ErrSharesCorrupt = errors.New("keys: shares do not combine to a valid key")
)

// ShareError reports a problem with one share of an unlock key, naming the
// share by the number written in it. Err is one of ErrShareChecksum,
// ErrDuplicateShare, ErrOtherSplit, ErrPreviousSplit or ErrSharesCorrupt.
type ShareError struct {
	Number int
	Err    error
	msg    string
}

func newShareError(number int, err error, format string, args ...any) *ShareError {
	return &ShareError{Number: number, Err: err, msg: fmt.Sprintf(format, args...)}
}

func (e *ShareError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("%v (share %d)", e.Err, e.Number)
}

func (e *ShareError) Unwrap() error { return e.Err }
