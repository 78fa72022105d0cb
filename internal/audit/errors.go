package audit

import "errors"

// Errors returned by this package. Test with [errors.Is]; the verification
// errors are also [*VerifyError] values naming the record.
var (
	// ErrClosed is returned by Write, Reopen and Close after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrTimeout means a write did not finish within Config.WriteTimeout
	// (a hung disk or network file system). The writer keeps trying.
	ErrTimeout = errors.New("audit: write timed out")
	// ErrQueueFull means more records wait for the disk than
	// Config.QueueSize: the disk is slower than the requests.
	ErrQueueFull = errors.New("audit: queue full")
	// ErrUnhealthy wraps the last write error when the log refuses a record
	// because an earlier write failed and no later one has succeeded yet.
	ErrUnhealthy = errors.New("audit: log unhealthy")
	// ErrNoKeys means the log has no keys yet (the node is locked).
	ErrNoKeys = errors.New("audit: no audit keys while locked")
	// ErrKeysWiped is returned after Keys.Wipe.
	ErrKeysWiped = errors.New("audit: keys wiped")
	// ErrBadKey means a key's text form cannot be read.
	ErrBadKey = errors.New("audit: malformed key")

	// ErrMalformed means a line is not a record in canonical form.
	ErrMalformed = errors.New("audit: malformed record")
	// ErrEdited means a record's bytes differ from those the chain commits to.
	ErrEdited = errors.New("audit: record edited")
	// ErrDeleted means records are missing from the chain.
	ErrDeleted = errors.New("audit: records deleted")
	// ErrReordered means a record is out of sequence.
	ErrReordered = errors.New("audit: records reordered")
	// ErrTruncated means the input ends in the middle of a record.
	ErrTruncated = errors.New("audit: file truncated")
	// ErrBadSeal means a seal's signature does not verify: it was forged,
	// or the records it covers were changed together with their hashes.
	ErrBadSeal = errors.New("audit: seal does not verify")
	// ErrWrongKey means a seal was made under another key than the one
	// given: another cluster's log, or the wrong key file.
	ErrWrongKey = errors.New("audit: sealed under another key")
)
