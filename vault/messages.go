package vault

import (
	"errors"
	"regexp"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/fuse"
	"github.com/vaultd/vault/internal/backup"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/keys/shamir"
	"github.com/vaultd/vault/raftsm"
)

// The packages under the node return prefixed sentinel errors ("keys:
// malformed unlock key"), as Go packages should. An operator should see
// neither the prefix nor a package's view of the problem: operatorError is
// the one place where such an error becomes an API error, and so a message
// of the CLI. A sentinel listed in operatorTexts gets its code, message and
// hint; any other error keeps its text with every package prefix removed.

// operatorText is how the operator is told about one sentinel error.
type operatorText struct {
	err  error
	code string // "" keeps the caller's code
	msg  string // "" keeps the error's text, prefixes removed
	hint string
}

var operatorTexts = []operatorText{
	{err: keys.ErrUnlockKeyChecksum, code: api.CodeInvalid, msg: "checksum mismatch: check for a typo",
		hint: "the key was typed or pasted wrong; it was not tried"},
	{err: keys.ErrOtherCluster, code: api.CodeInvalid, msg: "this unlock key belongs to another cluster",
		hint: "`vault status` shows this node's cluster id"},
	{err: keys.ErrUnlockKeyFormat, code: api.CodeInvalid, hint: "check the key for a copy or paste mistake; it was not tried"},
	{err: keys.ErrWrongKey, code: api.CodeInvalid, msg: "wrong unlock key: it does not open this node's keyring",
		hint: "give the cluster's current unlock key"},
	{err: keys.ErrShareFormat, code: api.CodeInvalid, hint: "the shares given so far are kept: give this one again, corrected"},
	{err: keys.ErrShareChecksum, code: api.CodeInvalid, hint: "the shares given so far are kept: give this one again, corrected"},
	{err: keys.ErrDuplicateShare, code: api.CodeInvalid, hint: "give another share of the same split"},
	{err: keys.ErrOtherSplit, code: api.CodeInvalid, hint: "every share must come from the same split (the same `vault unlock-key --rotate`)"},
	{err: keys.ErrPreviousSplit, code: api.CodeInvalid, hint: "give shares of the newest split (the last `vault unlock-key --rotate`)"},
	{err: keys.ErrNotEnoughShares, code: api.CodeInvalid, hint: "give more shares with `vault unlock`"},
	{err: keys.ErrSharesCorrupt, code: api.CodeInvalid, hint: "start again with the shares you trust"},
	{err: keys.ErrMalformedKeyring, hint: "`vault-rafttool verify` checks this node's state dir"},
	{err: keys.ErrUnknownDEK, hint: "`vault key status` lists the data keys"},
	{err: keys.ErrDEKConflict, code: api.CodeConflict, hint: "retry"},
	{err: keys.ErrDEKRetired, hint: "`vault key status` lists the data keys"},
	{err: keys.ErrDEKActive, hint: "`vault key rotate` makes another data key active"},
	{err: shamir.ErrInvalidParams, code: api.CodeInvalid, hint: "want 2 <= --key-threshold <= --key-shares <= 255"},
	{err: shamir.ErrTooFewShares, code: api.CodeInvalid, hint: "give more shares with `vault unlock`"},
	{err: shamir.ErrDuplicateX, code: api.CodeInvalid, hint: "give another share of the same split"},
	{err: shamir.ErrZeroX, code: api.CodeInvalid, hint: "start again with the shares you trust"},
	{err: shamir.ErrUnequalLengths, code: api.CodeInvalid, hint: "start again with the shares you trust"},
	{err: shamir.ErrEmptySecret},
	{err: crypto.ErrWiped, code: api.CodeUnavailable, msg: "this node's keys are gone from memory: it is locking or stopping",
		hint: "`vault status` shows whether it is locked"},
	{err: crypto.ErrIntegrity, hint: "this node's state dir may be damaged: `vault-rafttool verify` checks it"},
	{err: crypto.ErrUnknownKeyVersion, hint: "`vault key status` lists the data keys"},
	{err: crypto.ErrMalformed},
	{err: crypto.ErrInvalidBinding},
	{err: crypto.ErrClosed},
	{err: ca.ErrTokenFormat, code: api.CodeInvalid,
		hint: "copy the token whole, as `vault cluster join-token -q manager` prints it on a manager"},
	{err: raftsm.ErrClosed, code: api.CodeUnavailable, msg: "this node's store is closed: it is locking or stopping",
		hint: "retry; `vault status` shows whether it is locked"},
	{err: raftsm.ErrBadSnapshot, hint: "this node's state dir may be damaged: `vault-rafttool verify` checks it"},
	{err: raftsm.ErrReplicaFailed, code: api.CodeUnavailable,
		hint: "`vault status` names the stopped group and what to do; the other managers keep serving it"},
	{err: raftsm.ErrBadKey, hint: "this node's state dir may be damaged: `vault-rafttool verify` checks it"},
	{err: fuse.ErrInvalidOptions, code: api.CodeInvalid},
	{err: fuse.ErrNotFound, code: api.CodeNotFound},
	{err: fuse.ErrMissingFile},
	{err: fuse.ErrLocked, code: api.CodeLocked, hint: "`vault unlock` first"},
	{err: fuse.ErrNotLocked},
	{err: fuse.ErrClosed, code: api.CodeUnavailable},
	{err: fuse.ErrHandoff, hint: "the mount could not be kept or taken over: `vault unmount` it and mount again"},
	{err: statedir.ErrLocked, code: api.CodeLocked, msg: "this node is locked: run `vault unlock`"},
	{err: statedir.ErrIntegrity, hint: "`vault-rafttool verify` checks this node's state dir"},
	{err: statedir.ErrNotStateDir},
	{err: backup.ErrNotSnapshot, code: api.CodeInvalid, hint: "give a file `vault snapshot save` wrote"},
	{err: backup.ErrTruncated, code: api.CodeInvalid, hint: "the file is incomplete (a copy or a save that did not finish): use another copy"},
	{err: backup.ErrCorrupt, code: api.CodeInvalid, hint: "the file was damaged or modified after it was saved: use another copy"},
	{err: backup.ErrOtherCluster, code: api.CodeInvalid, hint: "give the key of the snapshot's cluster (`vault snapshot inspect FILE` shows it)"},
	{err: backup.ErrWrongKey, code: api.CodeInvalid, hint: "give the unlock key (or shares) at the time of the save, or the snapshot key the save printed"},
}

// operatorError turns err into the API error the operator reads. An
// *api.Error passes unchanged; otherwise code is used unless err is a known
// sentinel with a code of its own.
func operatorError(code string, err error) *api.Error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	msg := operatorMessage(err.Error())
	hint := ""
	for _, t := range operatorTexts {
		if errors.Is(err, t.err) {
			if t.code != "" {
				code = t.code
			}
			if t.msg != "" {
				msg = t.msg
			}
			hint = t.hint
			break
		}
	}
	e := api.Errorf(code, "%s", msg)
	if hint != "" {
		e = e.WithHint("%s", hint)
	}
	return e
}

// packagePrefix is a Go package's prefix on an error text, at its start or
// after another error's text: ours, and those of the libraries whose errors
// we wrap.
var packagePrefix = regexp.MustCompile(`(^|[\s(;:])(?:api|audit|backup|ca|checkpoint|credsock|crypto|dragonboat|fuse|http|json|keys|logdb|metrics|mountkeep|pebble|raftnet|raftsm|shamir|snapfile|statedir|tls|vault|volplugin|x509): `)

// operatorMessage removes every package prefix from an error's text.
func operatorMessage(s string) string {
	for {
		t := packagePrefix.ReplaceAllString(s, "$1")
		if t == s {
			return t
		}
		s = t
	}
}

// operatorErr is an error whose text is an operator message (prefixes
// removed) and which still wraps its cause, for errors that reach the
// operator without becoming API errors (a daemon that does not start).
type operatorErr struct{ err error }

func (e *operatorErr) Error() string { return operatorMessage(e.err.Error()) }
func (e *operatorErr) Unwrap() error { return e.err }
