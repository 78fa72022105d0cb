package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/vaultd/vault/keys/shamir"
)

// Layout of a share; see the package doc.
const (
	sharePrefix      = "VLTSHR-1-" // a split with a random split id
	boundPrefix      = "VLTSHR-2-" // a split whose id is bound to the KEK (SplitFor)
	splitIDSize      = 4
	shareMetaSize    = splitIDSize + 1 + 1 // split id, threshold, number
	sharePayloadSize = shareMetaSize + payloadSize + checksumSize
	shareTextLen     = sharePayloadSize * 8 / 5 // 80
	shareShape       = "a share is VLTSHR-1- followed by 80 characters from A-Z and 2-7 (VLTSHR-2- for shares bound to their KEK)"

	// maxCombinations bounds the subsets of shares Key tries when looking
	// for a corrupt share.
	maxCombinations = 1 << 12
)

// Share is one parsed share of an unlock key. It is not comparable with ==
// and prints redacted; Wipe zeroes it. As with UnlockKey, the secret part
// lives in a box, shared by copies.
type Share struct {
	_         [0]func()
	splitID   [splitIDSize]byte
	threshold int
	number    int
	bound     bool // the split id is SplitIDFor the KEK check (format 2)
	y         *box // nil in the zero Share
}

// Bound reports whether the share's split id is bound to the KEK its key
// derives (made by SplitFor): then SplitIDFor of a keyring's key check
// value tells whether the share can open that keyring, before the shares
// are combined. Shares made by Split carry a random split id.
func (s *Share) Bound() bool { return s.bound }

func (s *Share) prefix() string {
	if s.bound {
		return boundPrefix
	}
	return sharePrefix
}

// Number returns the share's number, 1 to 255.
func (s *Share) Number() int { return s.number }

// Threshold returns how many shares of the split recover the key.
func (s *Share) Threshold() int { return s.threshold }

// SplitID returns the split the share belongs to, as 8 hex digits. Shares of
// one UnlockKey.Split call have the same split id.
func (s *Share) SplitID() string { return hex.EncodeToString(s.splitID[:]) }

// Text returns the share's text form, or "" for the zero Share. The result
// cannot be wiped.
func (s *Share) Text() string {
	if s.y == nil {
		return ""
	}
	var p [sharePayloadSize]byte
	defer clear(p[:])
	s.encode(&p)
	return s.prefix() + b32.EncodeToString(p[:])
}

// Wipe zeroes the share's secret part, and so that of every copy.
func (s *Share) Wipe() {
	if s.y != nil {
		s.y.wipe()
	}
}

// String describes the share without its secret part.
func (s Share) String() string {
	return fmt.Sprintf("keys.Share{split %s, number %d, threshold %d, REDACTED}", s.SplitID(), s.number, s.threshold)
}

// GoString is the same as String, so %#v is redacted too.
func (s Share) GoString() string { return s.String() }

// Format prints String for every verb and flag.
func (s Share) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

func (s *Share) encode(p *[sharePayloadSize]byte) {
	copy(p[:], s.splitID[:])
	p[splitIDSize] = byte(s.threshold)
	p[splitIDSize+1] = byte(s.number)
	copy(p[shareMetaSize:], s.y.p[:])
	sum := shareChecksum(s.prefix(), p[:shareMetaSize+payloadSize])
	copy(p[shareMetaSize+payloadSize:], sum[:])
}

func shareChecksum(prefix string, b []byte) [checksumSize]byte {
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(b)
	sum := h.Sum(nil)
	defer clear(sum)
	return [checksumSize]byte(sum[:checksumSize])
}

// Split splits the key into n shares, any t of which recover it
// (2 <= t <= n <= 255). Share i of the result has number i+1. Every share
// carries the whole 40-byte payload's polynomial evaluation, so the
// recovered key includes its cluster tag and checksum.
func (u *UnlockKey) Split(n, t int) ([]string, error) {
	if err := u.usable(); err != nil {
		return nil, err
	}
	var splitID [splitIDSize]byte
	if _, err := rand.Read(splitID[:]); err != nil {
		return nil, fmt.Errorf("keys: split unlock key: %w", err)
	}
	return u.split(n, t, splitID, false)
}

// SplitFor is Split for the unlock key of a cluster's KEK of a version: the
// shares' split id is SplitIDFor that KEK's key check value, which every
// keyring wrapped under it carries in the clear. So a share tells at once,
// before any are combined, whether it belongs to the split that opens a
// given keyring; a share of a previous split does not. The shares are
// written "VLTSHR-2-..."; ParseShare reads both forms.
func (u *UnlockKey) SplitFor(n, t int, clusterID string, kekVersion uint32) ([]string, error) {
	kek, err := u.KEK(clusterID, kekVersion)
	if err != nil {
		return nil, err
	}
	check, err := KeyCheck(kek)
	kek.Wipe()
	if err != nil {
		return nil, err
	}
	return u.split(n, t, splitIDFor(check), true)
}

// SplitIDFor returns the split id (8 hex digits) of the shares SplitFor
// makes for the KEK whose key check value is check.
func SplitIDFor(check []byte) string {
	id := splitIDFor(check)
	return hex.EncodeToString(id[:])
}

func splitIDFor(check []byte) [splitIDSize]byte {
	h := sha256.New()
	h.Write([]byte("vault unlock key split id\x00"))
	h.Write(check)
	return [splitIDSize]byte(h.Sum(nil)[:splitIDSize])
}

func (u *UnlockKey) split(n, t int, splitID [splitIDSize]byte, bound bool) ([]string, error) {
	if err := u.usable(); err != nil {
		return nil, err
	}
	parts, err := shamir.Split(u.s.p[:], n, t)
	if err != nil {
		return nil, fmt.Errorf("keys: split unlock key: %w", err)
	}
	texts := make([]string, len(parts))
	for i, part := range parts {
		s := Share{splitID: splitID, threshold: t, number: int(part.X), bound: bound, y: newBox()}
		copy(s.y.p[:], part.Y)
		clear(part.Y)
		texts[i] = s.Text()
		s.Wipe()
	}
	return texts, nil
}

// ParseShare parses the text form of a share. White space around it is
// ignored. Errors: ErrShareFormat for a wrong prefix, length or character;
// a *ShareError wrapping ErrShareChecksum, naming the share's number, for a
// typo.
func ParseShare(s string) (Share, error) {
	s = strings.TrimSpace(s)
	prefix := sharePrefix
	body, ok := strings.CutPrefix(s, sharePrefix)
	if !ok {
		if body, ok = strings.CutPrefix(s, boundPrefix); ok {
			prefix = boundPrefix
		}
	}
	switch {
	case ok:
	case s == "":
		return Share{}, shareFormatError("empty")
	case strings.HasPrefix(s, unlockKeyPrefix[:7]):
		return Share{}, shareFormatError("this is an unlock key, not a share")
	case strings.HasPrefix(s, sharePrefix[:7]):
		return Share{}, shareFormatError("unsupported format version")
	case strings.HasPrefix(strings.ToUpper(s), sharePrefix), strings.HasPrefix(strings.ToUpper(s), boundPrefix):
		return Share{}, shareFormatError("must be upper case")
	default:
		return Share{}, shareFormatError("does not start with " + sharePrefix)
	}
	if len(body) != shareTextLen {
		return Share{}, shareFormatError(fmt.Sprintf("has %d characters after %s, want %d",
			len(body), prefix, shareTextLen))
	}
	for i := range len(body) {
		if !isBase32(body[i]) {
			return Share{}, shareFormatError(fmt.Sprintf("character %d is not one of A-Z, 2-7",
				len(prefix)+i+1))
		}
	}
	var p [sharePayloadSize]byte
	defer clear(p[:])
	if n, err := b32.Decode(p[:], []byte(body)); err != nil || n != sharePayloadSize {
		return Share{}, shareFormatError("not base32") // unreachable after the checks above
	}
	number := int(p[splitIDSize+1])
	sum := shareChecksum(prefix, p[:shareMetaSize+payloadSize])
	if subtle.ConstantTimeCompare(sum[:], p[shareMetaSize+payloadSize:]) != 1 {
		return Share{}, newShareError(number, ErrShareChecksum,
			"keys: checksum mismatch in share %d: check it for a typo", number)
	}
	threshold := int(p[splitIDSize])
	switch {
	case number == 0:
		return Share{}, shareFormatError("share number 0")
	case threshold < 2:
		return Share{}, shareFormatError(fmt.Sprintf("threshold %d", threshold))
	}
	sh := Share{splitID: [splitIDSize]byte(p[:splitIDSize]), threshold: threshold, number: number,
		bound: prefix == boundPrefix, y: newBox()}
	copy(sh.y.p[:], p[shareMetaSize:])
	return sh, nil
}

func shareFormatError(detail string) error {
	return fmt.Errorf("%w: %s; %s", ErrShareFormat, detail, shareShape)
}

// ShareSet collects the shares of one split, one at a time, until they
// recover the unlock key. The zero ShareSet is empty and ready to use. It is
// not safe for concurrent use.
type ShareSet struct {
	shares []Share // in the order added
	// current holds the split ids a bound share must have (ExpectSplits);
	// nil accepts any.
	current []string
}

// ExpectSplits makes Add refuse, at once, a bound share (see Share.Bound)
// whose split id is not SplitIDFor one of checks: the key check values of
// the keyrings the shares are to open. Such a share is from a previous
// split (or from one made after those keyrings were written); its error
// wraps ErrPreviousSplit. Shares made by Split cannot be told apart this
// way and are accepted.
func (s *ShareSet) ExpectSplits(checks ...[]byte) {
	s.current = s.current[:0]
	for _, c := range checks {
		if id := SplitIDFor(c); !slices.Contains(s.current, id) {
			s.current = append(s.current, id)
		}
	}
}

// Add parses a share and adds it to the set. It returns how many shares the
// set holds and how many are needed (the threshold; 0 while the set is
// empty). A share that fails to parse, was already added, or belongs to
// another split than the first share is rejected with an error naming it
// (a *ShareError, or ErrShareFormat) and the set is unchanged.
func (s *ShareSet) Add(text string) (have, need int, err error) {
	sh, err := ParseShare(text)
	if err != nil {
		return s.counts(), s.need(), err
	}
	if sh.bound && len(s.current) > 0 && !slices.Contains(s.current, sh.SplitID()) {
		sh.Wipe()
		return s.counts(), s.need(), newShareError(sh.number, ErrPreviousSplit,
			"keys: share %d is from a previous split (split %s; the keyring is under split %s)",
			sh.number, sh.SplitID(), strings.Join(s.current, " or "))
	}
	if len(s.shares) > 0 {
		first := &s.shares[0]
		if sh.splitID != first.splitID {
			sh.Wipe()
			return s.counts(), s.need(), newShareError(sh.number, ErrOtherSplit,
				"keys: share %d is from another split (split %s; the shares so far are from split %s)",
				sh.number, sh.SplitID(), first.SplitID())
		}
		if sh.threshold != first.threshold {
			sh.Wipe()
			return s.counts(), s.need(), newShareError(sh.number, ErrSharesCorrupt,
				"keys: share %d says %d shares are needed, the shares so far say %d: one of them is corrupt",
				sh.number, sh.threshold, first.threshold)
		}
		for i := range s.shares {
			o := &s.shares[i]
			if o.number != sh.number {
				continue
			}
			same := subtle.ConstantTimeCompare(o.y.p[:], sh.y.p[:]) == 1
			sh.Wipe()
			if same {
				return s.counts(), s.need(), newShareError(sh.number, ErrDuplicateShare,
					"keys: share %d was already added", sh.number)
			}
			return s.counts(), s.need(), newShareError(sh.number, ErrSharesCorrupt,
				"keys: share %d differs from the share %d added before: one of them is corrupt", sh.number, sh.number)
		}
	}
	s.shares = append(s.shares, sh)
	return s.counts(), s.need(), nil
}

func (s *ShareSet) counts() int { return len(s.shares) }

func (s *ShareSet) need() int {
	if len(s.shares) == 0 {
		return 0
	}
	return s.shares[0].threshold
}

// Key combines the shares into the unlock key. It needs at least the
// threshold of shares (ErrNotEnoughShares). The result is checked with the
// unlock key checksum, so a corrupt share cannot produce a wrong key. When
// the shares do not combine to a valid key the error wraps
// ErrSharesCorrupt; given more shares than the threshold, Key finds which
// share disagrees with the others and names it in a *ShareError. Key also
// fails when any share added disagrees with the recovered key, so that a
// corrupt share is reported even when the others suffice.
func (s *ShareSet) Key() (*UnlockKey, error) {
	have, need := s.counts(), s.need()
	if have == 0 {
		return nil, fmt.Errorf("%w: no share added", ErrNotEnoughShares)
	}
	if have < need {
		return nil, fmt.Errorf("%w: have %d, need %d", ErrNotEnoughShares, have, need)
	}
	all := make([]shamir.Share, have)
	for i := range s.shares {
		all[i] = shamir.Share{X: byte(s.shares[i].number), Y: s.shares[i].y.p[:]}
	}
	combine := func(pts []shamir.Share) []byte {
		p, err := shamir.Combine(pts)
		if err != nil { // the set holds distinct, nonzero, equal-length shares
			return nil
		}
		return p
	}

	tries := 0
	var found []byte
	var subset []shamir.Share
	forEachSubset(have, need, func(idx []int) bool {
		tries++
		subset = subset[:0]
		for _, i := range idx {
			subset = append(subset, all[i])
		}
		p := combine(subset)
		if p == nil {
			return false
		}
		if checkPayload(p) == nil {
			found = p
			return true
		}
		clear(p)
		return tries >= maxCombinations
	})
	if found == nil {
		if have == need {
			// Which one cannot be told from the threshold alone; the
			// caller says how to find out (one more share, or starting
			// again with trusted ones).
			return nil, fmt.Errorf("%w: one of them is corrupt or forged, and with exactly the threshold which one cannot be told", ErrSharesCorrupt)
		}
		return nil, fmt.Errorf("%w: more than one share may be corrupt or forged", ErrSharesCorrupt)
	}
	defer clear(found)

	// A share lies on the recovered polynomials exactly when swapping it
	// into the valid subset leaves the result unchanged: two polynomials of
	// degree < t that agree on t-1 points and at 0 are equal.
	var bad []int
	inSubset := make(map[byte]bool, len(subset))
	for _, p := range subset {
		inSubset[p.X] = true
	}
	probe := make([]shamir.Share, len(subset))
	for _, p := range all {
		if inSubset[p.X] {
			continue
		}
		copy(probe, subset[1:])
		probe[len(probe)-1] = p
		q := combine(probe)
		if subtle.ConstantTimeCompare(q, found) != 1 {
			bad = append(bad, int(p.X))
		}
		clear(q)
	}
	if len(bad) > 0 {
		who := fmt.Sprintf("share %d", bad[0])
		if len(bad) > 1 {
			who = "shares " + strings.Trim(strings.ReplaceAll(fmt.Sprint(bad), " ", ", "), "[]")
		}
		return nil, newShareError(bad[0], ErrSharesCorrupt,
			"keys: shares do not combine to a valid key: %s may be corrupt", who)
	}
	return unlockKeyFromPayload(found)
}

// String describes the set without its shares' secret parts.
func (s ShareSet) String() string {
	return fmt.Sprintf("keys.ShareSet{have %d, need %d, REDACTED}", s.counts(), s.need())
}

// GoString is the same as String, so %#v is redacted too.
func (s ShareSet) GoString() string { return s.String() }

// Format prints String for every verb and flag.
func (s ShareSet) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// Wipe zeroes every share in the set and empties it.
func (s *ShareSet) Wipe() {
	for i := range s.shares {
		s.shares[i].Wipe()
	}
	s.shares = nil
}

// forEachSubset calls f with each k-subset of 0..n-1 in lexicographic order
// until f returns true.
func forEachSubset(n, k int, f func([]int) bool) {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if f(idx) {
			return
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

// Progress returns how many shares were added and how many are needed (0
// before the first share).
func (s *ShareSet) Progress() (have, need int) { return s.counts(), s.need() }
