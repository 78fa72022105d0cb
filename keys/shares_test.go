package keys

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vaultd/vault/keys/shamir"
)

// craftShare writes a share from its fields as the spec describes, with a
// valid checksum, independently of the package code.
func craftShare(splitID [4]byte, threshold, number byte, y []byte) string {
	p := append(append([]byte{}, splitID[:]...), threshold, number)
	p = append(p, y...)
	sum := sha256.Sum256(append([]byte("VLTSHR-1-"), p...))
	p = append(p, sum[:4]...)
	return "VLTSHR-1-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(p)
}

// payloadOf returns the y bytes of a share text.
func payloadOf(t *testing.T, text string) (splitID [4]byte, threshold, number byte, y []byte) {
	t.Helper()
	p, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(text[9:])
	if err != nil || len(p) != 50 {
		t.Fatalf("share does not decode to 50 bytes: %v", err)
	}
	return [4]byte(p[:4]), p[4], p[5], p[6:46]
}

func TestShareFormat(t *testing.T) {
	y := fixedSecret("y")[:]
	y = append(y, fixedSecret("y2")[:8]...)
	text := craftShare([4]byte{0xde, 0xad, 0xbe, 0xef}, 3, 7, y)
	if len(text) != 9+80 {
		t.Fatalf("share has %d characters, want 89", len(text))
	}
	s, err := ParseShare(" " + text + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Number() != 7 || s.Threshold() != 3 || s.SplitID() != "deadbeef" {
		t.Fatalf("parsed %v", s)
	}
	if s.Text() != text {
		t.Fatal("Text does not reproduce the parsed share")
	}
	if *s.y.p != [40]byte(y) {
		t.Fatal("y differs")
	}
	s.Wipe()
	if *s.y.p != [40]byte{} {
		t.Fatal("Wipe left share bytes")
	}
}

func addAll(t *testing.T, set *ShareSet, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if _, _, err := set.Add(s); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
}

func TestSplitCombineShares(t *testing.T) {
	for _, p := range []struct{ n, t int }{{2, 2}, {3, 2}, {5, 3}, {5, 5}, {6, 4}} {
		t.Run(fmt.Sprintf("%d-of-%d", p.t, p.n), func(t *testing.T) {
			u, err := GenerateUnlockKey(testCluster)
			if err != nil {
				t.Fatal(err)
			}
			texts, err := u.Split(p.n, p.t)
			if err != nil {
				t.Fatal(err)
			}
			if len(texts) != p.n {
				t.Fatalf("%d shares, want %d", len(texts), p.n)
			}
			var split string
			for i, text := range texts {
				s, err := ParseShare(text)
				if err != nil {
					t.Fatal(err)
				}
				if s.Number() != i+1 || s.Threshold() != p.t {
					t.Fatalf("share %d: number %d threshold %d", i, s.Number(), s.Threshold())
				}
				if split == "" {
					split = s.SplitID()
				} else if s.SplitID() != split {
					t.Fatal("shares of one split have different split ids")
				}
			}
			for mask := 1; mask < 1<<p.n; mask++ {
				var subset []string
				for i := range p.n {
					if mask&(1<<i) != 0 {
						subset = append(subset, texts[i])
					}
				}
				// Add in reverse order to show order does not matter.
				var set ShareSet
				for i := len(subset) - 1; i >= 0; i-- {
					have, need, err := set.Add(subset[i])
					if err != nil || have != len(subset)-i || need != p.t {
						t.Fatalf("Add: have %d need %d err %v", have, need, err)
					}
				}
				k, err := set.Key()
				if len(subset) < p.t {
					if !errors.Is(err, ErrNotEnoughShares) {
						t.Fatalf("%d of %d shares: Key() = %v, want ErrNotEnoughShares", len(subset), p.t, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%d shares: %v", len(subset), err)
				}
				if !k.Equal(u) {
					t.Fatalf("%d shares recovered another key", len(subset))
				}
				if err := k.CheckCluster(testCluster); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestBelowThreshold shows that t-1 shares, combined regardless, do not give
// a valid key: the result fails the unlock key checksum.
func TestBelowThreshold(t *testing.T) {
	u := testUnlockKey(t)
	texts, err := u.Split(5, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		for j := i + 1; j < len(texts); j++ {
			a, _ := ParseShare(texts[i])
			b, _ := ParseShare(texts[j])
			p, err := shamir.Combine([]shamir.Share{{X: byte(a.number), Y: a.y.p[:]}, {X: byte(b.number), Y: b.y.p[:]}})
			if err != nil {
				t.Fatal(err)
			}
			if err := checkPayload(p); !errors.Is(err, ErrUnlockKeyChecksum) {
				t.Fatalf("shares %d and %d of a 3-of-5 split combine to a valid key", i+1, j+1)
			}
		}
	}
	var set ShareSet
	if _, err := set.Key(); !errors.Is(err, ErrNotEnoughShares) {
		t.Fatalf("empty set Key() = %v", err)
	}
}

func TestShareTypos(t *testing.T) {
	texts, err := testUnlockKey(t).Split(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	text := texts[2] // share 3
	for i := range len(text) {
		for _, c := range base32Alphabet + "0189a- " {
			if byte(c) == text[i] {
				continue
			}
			typo := text[:i] + string(c) + text[i+1:]
			_, err := ParseShare(typo)
			if err == nil {
				t.Fatalf("typo at %d accepted", i)
			}
			// The other format version: a valid prefix, but the checksum
			// (which covers the prefix) no longer matches.
			otherVersion := i == 7 && c == '2'
			if !otherVersion && (i < 9 || !strings.ContainsRune(base32Alphabet, c)) {
				if !errors.Is(err, ErrShareFormat) {
					t.Fatalf("typo %q at %d: %v, want ErrShareFormat", c, i, err)
				}
				continue
			}
			var se *ShareError
			if !errors.Is(err, ErrShareChecksum) || !errors.As(err, &se) {
				t.Fatalf("typo at %d: %v, want a ShareError wrapping ErrShareChecksum", i, err)
			}
			// Characters 8 and 9 of the body encode the share number itself.
			if body := i - 9; body != 8 && body != 9 {
				if se.Number != 3 || !strings.Contains(err.Error(), "share 3") || !strings.Contains(err.Error(), "typo") {
					t.Fatalf("typo at %d: %q does not name share 3", i, err)
				}
			}
			assertNoLeak(t, "error", err.Error(), []byte(text[9:]))
		}
	}
}

func TestShareSetErrors(t *testing.T) {
	u := testUnlockKey(t)
	a, _ := u.Split(5, 3)
	b, _ := u.Split(5, 3)

	var set ShareSet
	addAll(t, &set, a[0], a[1])
	check := func(text string, want error, number int, msg string) {
		t.Helper()
		have, need, err := set.Add(text)
		if !errors.Is(err, want) {
			t.Fatalf("Add = %v, want %v", err, want)
		}
		var se *ShareError
		if number > 0 && (!errors.As(err, &se) || se.Number != number) {
			t.Fatalf("error %v does not name share %d", err, number)
		}
		if !strings.Contains(err.Error(), msg) {
			t.Fatalf("error %q does not say %q", err, msg)
		}
		if have != 2 || need != 3 {
			t.Fatalf("rejected share changed the set: have %d need %d", have, need)
		}
	}
	check(a[1], ErrDuplicateShare, 2, "share 2 was already added")
	check(b[2], ErrOtherSplit, 3, "share 3 is from another split")
	check("VLTKEY-1-"+strings.Repeat("A", 64), ErrShareFormat, 0, "this is an unlock key, not a share")
	check(a[2][:50], ErrShareFormat, 0, "VLTSHR-1- followed by 80 characters")
	check(a[2][:40]+"a"+a[2][41:], ErrShareFormat, 0, "character 41")

	// Same number, other bytes, valid checksum.
	id, th, n, y := payloadOf(t, a[1])
	y[0] ^= 1
	check(craftShare(id, th, n, y), ErrSharesCorrupt, 2, "share 2 differs")
	// Same split, other threshold.
	id, _, n, y = payloadOf(t, a[2])
	check(craftShare(id, 4, n, y), ErrSharesCorrupt, 3, "one of them is corrupt")
	// Crafted but malformed fields.
	check(craftShare(id, 3, 0, y), ErrShareFormat, 0, "share number 0")
	check(craftShare(id, 1, n, y), ErrShareFormat, 0, "threshold 1")

	if _, err := set.Key(); !errors.Is(err, ErrNotEnoughShares) || !strings.Contains(err.Error(), "have 2, need 3") {
		t.Fatalf("Key() = %v", err)
	}
	addAll(t, &set, a[3])
	k, err := set.Key()
	if err != nil || !k.Equal(u) {
		t.Fatalf("Key() = %v", err)
	}
	set.Wipe()
	if _, err := set.Key(); !errors.Is(err, ErrNotEnoughShares) {
		t.Fatalf("Key() after Wipe = %v", err)
	}
}

// corrupt returns share text with y changed and a valid checksum: damage a
// typo check cannot see.
func corrupt(t *testing.T, text string) string {
	id, th, n, y := payloadOf(t, text)
	y[17] ^= 0x40
	return craftShare(id, th, n, y)
}

func TestCorruptShareIsNamed(t *testing.T) {
	u := testUnlockKey(t)
	texts, err := u.Split(5, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the threshold: detected, but which share cannot be known.
	for bad := range 3 {
		shares := append([]string{}, texts[:3]...)
		shares[bad] = corrupt(t, shares[bad])
		var set ShareSet
		addAll(t, &set, shares...)
		_, err := set.Key()
		if !errors.Is(err, ErrSharesCorrupt) || !strings.Contains(err.Error(), "which one cannot be told") {
			t.Fatalf("corrupt share %d of 3: %v", bad+1, err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("corrupt share reported as a wrong key: %v", err)
		}
	}
	// One more than the threshold: the corrupt share is named, whatever its
	// place in the order added.
	for bad := range 4 {
		shares := append([]string{}, texts[:4]...)
		shares[bad] = corrupt(t, shares[bad])
		var set ShareSet
		addAll(t, &set, shares...)
		_, err := set.Key()
		var se *ShareError
		if !errors.Is(err, ErrSharesCorrupt) || !errors.As(err, &se) || se.Number != bad+1 {
			t.Fatalf("corrupt share %d of 4: %v", bad+1, err)
		}
		want := fmt.Sprintf("keys: shares do not combine to a valid key: share %d may be corrupt", bad+1)
		if err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	}
	// Two corrupt among five: both named.
	shares := append([]string{}, texts...)
	shares[1] = corrupt(t, shares[1])
	shares[4] = corrupt(t, shares[4])
	var set ShareSet
	addAll(t, &set, shares...)
	if _, err := set.Key(); !errors.Is(err, ErrSharesCorrupt) || !strings.Contains(err.Error(), "shares 2, 5 may be corrupt") {
		t.Fatalf("two corrupt shares: %v", err)
	}
	// Two corrupt among four (threshold 3): no consistent subset.
	shares = append([]string{}, texts[:4]...)
	shares[0] = corrupt(t, shares[0])
	shares[3] = corrupt(t, shares[3])
	set = ShareSet{}
	addAll(t, &set, shares...)
	if _, err := set.Key(); !errors.Is(err, ErrSharesCorrupt) || !strings.Contains(err.Error(), "more than one") {
		t.Fatalf("two corrupt of four: %v", err)
	}
}

func TestSharesOfOtherCluster(t *testing.T) {
	u, _ := GenerateUnlockKey("other-cluster")
	texts, _ := u.Split(3, 2)
	var set ShareSet
	addAll(t, &set, texts[0], texts[2])
	k, err := set.Key()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CheckCluster(testCluster); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("CheckCluster = %v, want ErrOtherCluster", err)
	}
	if _, err := k.KEK(testCluster, 1); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("KEK = %v, want ErrOtherCluster", err)
	}
}

func TestSplitErrors(t *testing.T) {
	u := testUnlockKey(t)
	for _, p := range []struct{ n, t int }{{1, 1}, {3, 1}, {3, 4}, {256, 2}, {0, 0}} {
		if _, err := u.Split(p.n, p.t); !errors.Is(err, shamir.ErrInvalidParams) {
			t.Errorf("Split(%d, %d) = %v", p.n, p.t, err)
		}
	}
	texts, err := u.Split(255, 2)
	if err != nil || len(texts) != 255 {
		t.Fatalf("Split(255, 2): %d, %v", len(texts), err)
	}
	var set ShareSet
	addAll(t, &set, texts[254], texts[0])
	if k, err := set.Key(); err != nil || !k.Equal(u) {
		t.Fatalf("shares 255 and 1: %v", err)
	}
}

func TestShareRedacted(t *testing.T) {
	u := testUnlockKey(t)
	texts, _ := u.Split(3, 2)
	s, _ := ParseShare(texts[0])
	var set ShareSet
	addAll(t, &set, texts[0], texts[1])
	type holder struct {
		S   Share
		P   *Share
		Set *ShareSet
	}
	h := holder{S: s, P: &s, Set: &set}
	type private struct {
		s   Share
		set ShareSet
	}
	p := private{s: s, set: set}
	for _, verb := range fmtVerbs {
		for _, v := range []any{s, &s, h, &h, set, &set, p, &p} {
			out := fmt.Sprintf(verb, v, v)
			assertNoLeak(t, verb, out, s.y.p[:])
			assertNoLeak(t, verb, out, u.s.p[:])
			for _, text := range texts {
				assertNoLeak(t, verb, out, []byte(text[9:]))
			}
		}
	}
	if got := s.String(); !strings.Contains(got, "REDACTED") || !strings.Contains(got, "number 1") {
		t.Fatalf("String() = %q", got)
	}
}

func FuzzParseShare(f *testing.F) {
	u, _ := GenerateUnlockKey(testCluster)
	texts, _ := u.Split(3, 2)
	for _, s := range texts {
		f.Add(s)
	}
	f.Add(craftShare([4]byte{1, 2, 3, 4}, 2, 0, make([]byte, 40)))
	f.Add(craftShare([4]byte{1, 2, 3, 4}, 0, 1, make([]byte, 40)))
	f.Add("VLTSHR-1-")
	f.Add(u.Text())
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseShare(in)
		if err != nil {
			if !errors.Is(err, ErrShareFormat) && !errors.Is(err, ErrShareChecksum) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if s.Text() != strings.TrimSpace(in) {
			t.Fatal("accepted share does not round-trip")
		}
		if s.Number() < 1 || s.Number() > 255 || s.Threshold() < 2 {
			t.Fatalf("accepted share number %d threshold %d", s.Number(), s.Threshold())
		}
		var set ShareSet
		if _, _, err := set.Add(in); err != nil {
			t.Fatalf("Add rejected a share ParseShare accepts: %v", err)
		}
		_, _, _ = set.Add(texts[0])
		_, _ = set.Key() // must not panic
	})
}

// TestSplitForTellsPreviousSplit: shares made by SplitFor name the split
// that opens a keyring (from its key check value, which is public), so a
// share of a previous split is refused at once, before any combining;
// shares of the current split and shares made by Split still combine.
func TestSplitForTellsPreviousSplit(t *testing.T) {
	const v = 1<<31 + 1
	old := testUnlockKey(t)
	cur, err := GenerateUnlockKey(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	check := func(u *UnlockKey, version uint32) []byte {
		k, err := u.KEK(testCluster, version)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Wipe()
		c, err := KeyCheck(k)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	oldShares, err := old.SplitFor(3, 2, testCluster, v)
	if err != nil {
		t.Fatal(err)
	}
	curShares, err := cur.SplitFor(3, 2, testCluster, v+1)
	if err != nil {
		t.Fatal(err)
	}
	randomShares, err := cur.Split(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range curShares {
		sh, err := ParseShare(text)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(text, "VLTSHR-2-") || !sh.Bound() || sh.SplitID() != SplitIDFor(check(cur, v+1)) {
			t.Fatalf("SplitFor share %v: bound %v, split %s, want %s", sh, sh.Bound(), sh.SplitID(), SplitIDFor(check(cur, v+1)))
		}
		sh.Wipe()
	}
	if sh, _ := ParseShare(randomShares[0]); sh.Bound() {
		t.Fatal("a Split share says it is bound")
	}

	tests := []struct {
		name    string
		expect  [][]byte
		shares  []string
		wantErr error
		wantMsg string
		key     *UnlockKey
	}{
		{"current split", [][]byte{check(cur, v+1)}, curShares[1:], nil, "", cur},
		{"previous split, first share", [][]byte{check(cur, v+1)}, oldShares[:1], ErrPreviousSplit, "share 1 is from a previous split", nil},
		{"previous split after a current share", [][]byte{check(cur, v+1)}, []string{curShares[0], oldShares[1]}, ErrPreviousSplit, "share 2 is from a previous split", nil},
		{"node holds both keyrings", [][]byte{check(old, v), check(cur, v+1)}, oldShares[:2], nil, "", old},
		{"random split ids cannot be told", [][]byte{check(cur, v+1)}, randomShares[:2], nil, "", cur},
		{"no expectation", nil, oldShares[:2], nil, "", old},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var set ShareSet
			set.ExpectSplits(tc.expect...)
			var err error
			for _, s := range tc.shares {
				if _, _, err = set.Add(s); err != nil {
					break
				}
			}
			if tc.wantErr != nil {
				var se *ShareError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("Add: %v, want %v saying %q", err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, err := set.Key()
			if err != nil {
				t.Fatal(err)
			}
			if !k.Equal(tc.key) {
				t.Fatal("combined to another key")
			}
		})
	}
}
