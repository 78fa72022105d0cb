package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/vaultd/vault/crypto"
)

// Labels and sizes of the unlock key format. Changing any of them makes
// every issued key unreadable.
const (
	unlockKeyPrefix  = "VLTKEY-1-"
	clusterTagLabel  = "vault/cluster-tag/v1"
	kekSaltPrefix    = "vault/kek/v1/"
	kekInfo          = "vault kek"
	tagSize          = 4
	secretSize       = 32
	checksumSize     = 4
	payloadSize      = tagSize + secretSize + checksumSize // 40
	unlockKeyTextLen = payloadSize * 8 / 5                 // 64
	unlockKeyShape   = "an unlock key is VLTKEY-1- followed by 64 characters from A-Z and 2-7"

	keyCheckSize = 16
)

// b32 is RFC 4648 base32, upper case, unpadded. It decodes '\r' and '\n'
// silently, so callers check the alphabet first (isBase32).
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func isBase32(c byte) bool { return 'A' <= c && c <= 'Z' || '2' <= c && c <= '7' }

// UnlockKey is the operator's unlock key: a 32-byte secret with the tag of
// the cluster it belongs to and a checksum.
//
// It is not comparable with == (use Equal), prints redacted with every fmt
// verb, and Text is the only way to see it. Wipe zeroes it; afterwards Text
// returns "" and every other use fails with an error wrapping crypto.ErrWiped.
// An UnlockKey is not safe for a Wipe concurrent with other use.
//
// The bytes live in a box (see box), so that printing a value holding an
// UnlockKey by reflection (as fmt does with unexported fields) shows an
// address, never the key. Copies of an UnlockKey share its bytes.
type UnlockKey struct {
	_ [0]func()
	s *box // tag || secret || checksum
}

// box holds 40 secret bytes two pointers away from any value referring to
// it. fmt prints the contents of an unexported *[N]byte field under a bad
// verb (%s, %d: it dereferences at depth 0), but a pointer inside a
// pointed-to struct only as an address.
type box struct {
	p     *[payloadSize]byte
	wiped bool
}

func newBox() *box { return &box{p: new([payloadSize]byte)} }

func (b *box) wipe() {
	clear(b.p[:])
	b.wiped = true
}

// GenerateUnlockKey returns a new random unlock key for the cluster.
func GenerateUnlockKey(clusterID string) (*UnlockKey, error) {
	if clusterID == "" {
		return nil, errors.New("keys: empty cluster id")
	}
	var secret [secretSize]byte
	defer clear(secret[:])
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("keys: generate unlock key: %w", err)
	}
	return newUnlockKey(clusterTag(clusterID), secret[:]), nil
}

func newUnlockKey(tag [tagSize]byte, secret []byte) *UnlockKey {
	u := &UnlockKey{s: newBox()}
	copy(u.s.p[:tagSize], tag[:])
	copy(u.s.p[tagSize:], secret)
	sum := unlockKeyChecksum(u.s.p[:tagSize+secretSize])
	copy(u.s.p[tagSize+secretSize:], sum[:])
	return u
}

func clusterTag(clusterID string) [tagSize]byte {
	h := sha256.New()
	h.Write([]byte(clusterTagLabel))
	h.Write([]byte(clusterID))
	var tag [tagSize]byte
	copy(tag[:], h.Sum(nil))
	return tag
}

func unlockKeyChecksum(tagAndSecret []byte) [checksumSize]byte {
	h := sha256.New()
	h.Write([]byte(unlockKeyPrefix))
	h.Write(tagAndSecret)
	sum := h.Sum(nil)
	defer clear(sum)
	return [checksumSize]byte(sum[:checksumSize])
}

// checkPayload checks the length and checksum of an unlock key payload.
func checkPayload(p []byte) error {
	if len(p) != payloadSize {
		return fmt.Errorf("%w: payload is %d bytes", ErrUnlockKeyFormat, len(p))
	}
	sum := unlockKeyChecksum(p[:tagSize+secretSize])
	if subtle.ConstantTimeCompare(sum[:], p[tagSize+secretSize:]) != 1 {
		return ErrUnlockKeyChecksum
	}
	return nil
}

// unlockKeyFromPayload checks a 40-byte payload and returns the key it
// encodes.
func unlockKeyFromPayload(p []byte) (*UnlockKey, error) {
	if err := checkPayload(p); err != nil {
		return nil, err
	}
	u := &UnlockKey{s: newBox()}
	copy(u.s.p[:], p)
	return u, nil
}

// ParseUnlockKey parses the text form of an unlock key. White space around
// it (such as a trailing newline) is ignored; nothing else is tolerated.
// Errors: ErrUnlockKeyFormat for a wrong prefix, length or character,
// ErrUnlockKeyChecksum (a typo) when the checksum does not match.
func ParseUnlockKey(s string) (*UnlockKey, error) {
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(s, unlockKeyPrefix)
	switch {
	case ok:
	case s == "":
		return nil, unlockKeyFormatError("empty")
	case strings.HasPrefix(s, sharePrefix[:7]):
		return nil, unlockKeyFormatError("this is a share of an unlock key, not the key; combine at least the threshold of shares")
	case strings.HasPrefix(s, unlockKeyPrefix[:7]):
		return nil, unlockKeyFormatError("unsupported format version")
	case strings.HasPrefix(strings.ToUpper(s), unlockKeyPrefix):
		return nil, unlockKeyFormatError("must be upper case")
	default:
		return nil, unlockKeyFormatError("does not start with " + unlockKeyPrefix)
	}
	if len(body) != unlockKeyTextLen {
		return nil, unlockKeyFormatError(fmt.Sprintf("has %d characters after %s, want %d",
			len(body), unlockKeyPrefix, unlockKeyTextLen))
	}
	for i := range len(body) {
		if !isBase32(body[i]) {
			return nil, unlockKeyFormatError(fmt.Sprintf("character %d is not one of A-Z, 2-7",
				len(unlockKeyPrefix)+i+1))
		}
	}
	var p [payloadSize]byte
	defer clear(p[:])
	if n, err := b32.Decode(p[:], []byte(body)); err != nil || n != payloadSize {
		return nil, unlockKeyFormatError("not base32") // unreachable after the checks above
	}
	return unlockKeyFromPayload(p[:])
}

func unlockKeyFormatError(detail string) error {
	return fmt.Errorf("%w: %s; %s", ErrUnlockKeyFormat, detail, unlockKeyShape)
}

func (u *UnlockKey) usable() error {
	if u == nil || u.s == nil {
		return errors.New("keys: nil unlock key")
	}
	if u.s.wiped {
		return fmt.Errorf("keys: unlock key: %w", crypto.ErrWiped)
	}
	return nil
}

// Text returns the key in its text form, "VLTKEY-1-" and 64 characters. It is
// the only way to see the key; the result cannot be wiped.
func (u *UnlockKey) Text() string {
	if u.usable() != nil {
		return ""
	}
	return unlockKeyPrefix + b32.EncodeToString(u.s.p[:])
}

// CheckCluster returns ErrOtherCluster unless the key was made for clusterID.
func (u *UnlockKey) CheckCluster(clusterID string) error {
	if err := u.usable(); err != nil {
		return err
	}
	tag := clusterTag(clusterID)
	if subtle.ConstantTimeCompare(tag[:], u.s.p[:tagSize]) != 1 {
		return ErrOtherCluster
	}
	return nil
}

// KEK derives the key-encryption key of clusterID with the given version:
// HKDF-SHA256(secret, salt "vault/kek/v1/" || clusterID, info "vault kek").
// It returns ErrOtherCluster when the key belongs to another cluster. The
// version only labels the result: it does not enter the derivation.
func (u *UnlockKey) KEK(clusterID string, version uint32) (*crypto.Key, error) {
	if err := u.CheckCluster(clusterID); err != nil {
		return nil, err
	}
	k, err := crypto.DeriveKey(version, u.s.p[tagSize:tagSize+secretSize], []byte(kekSaltPrefix+clusterID), kekInfo)
	if err != nil {
		return nil, fmt.Errorf("keys: derive kek: %w", err)
	}
	return k, nil
}

// Equal reports in constant time whether u and o are the same key. A nil or
// wiped key is equal to nothing.
func (u *UnlockKey) Equal(o *UnlockKey) bool {
	if u.usable() != nil || o.usable() != nil {
		return false
	}
	return subtle.ConstantTimeCompare(u.s.p[:], o.s.p[:]) == 1
}

// Wipe zeroes the key, and so every copy of it. It is idempotent and safe
// on a nil key.
func (u *UnlockKey) Wipe() {
	if u == nil || u.s == nil {
		return
	}
	u.s.wipe()
}

// String returns "keys.UnlockKey{REDACTED}".
func (u UnlockKey) String() string { return "keys.UnlockKey{REDACTED}" }

// GoString is the same as String, so %#v is redacted too.
func (u UnlockKey) GoString() string { return u.String() }

// Format prints the redacted String for every verb and flag.
func (u UnlockKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(u.String())) }

// GenerateKEK returns a random KEK, used when autolock is off and the KEK is
// stored on each manager instead of being derived from an unlock key.
func GenerateKEK(version uint32) (*crypto.Key, error) {
	k, err := crypto.GenerateKey(version)
	if err != nil {
		return nil, fmt.Errorf("keys: generate kek: %w", err)
	}
	return k, nil
}

func keyCheckBinding(version uint32) crypto.Binding {
	return crypto.Binding{
		Purpose: crypto.PurposeKeyCheck,
		Object:  binary.BigEndian.AppendUint32([]byte("kek/"), version),
	}
}

// KeyCheck returns the 16-byte key check value of kek: a MAC under kek with
// PurposeKeyCheck over its version. It reveals nothing about kek and lets
// VerifyKEK recognise it.
func KeyCheck(kek *crypto.Key) ([]byte, error) {
	m, err := crypto.MAC(kek, keyCheckBinding(kek.Version()), nil)
	if err != nil {
		return nil, fmt.Errorf("keys: key check: %w", err)
	}
	return m[:keyCheckSize], nil
}

// VerifyKEK compares, in constant time, the key check value of kek with
// check. It returns ErrWrongKey when they differ.
func VerifyKEK(kek *crypto.Key, check []byte) error {
	if len(check) != keyCheckSize {
		return fmt.Errorf("%w: key check value is %d bytes, want %d", ErrMalformedKeyring, len(check), keyCheckSize)
	}
	want, err := KeyCheck(kek)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want, check) != 1 {
		return ErrWrongKey
	}
	return nil
}
