package main

import (
	"crypto/sha256"
	"encoding/base32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultd/vault/keys"
)

// forge rewrites a share's secret part and fixes its checksum: a share that
// parses, but does not lie on the split's polynomial.
func forge(t *testing.T, text string) string {
	t.Helper()
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	prefix, body := text[:9], text[9:]
	p, err := b32.DecodeString(body)
	if err != nil || len(p) != 50 {
		t.Fatalf("decode share: %v", err)
	}
	p[6+17] ^= 0x40
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(p[:46])
	copy(p[46:], h.Sum(nil)[:4])
	return prefix + b32.EncodeToString(p)
}

// TestUnlockShares: a locked node opened with Shamir shares of its unlock
// key, from files and stdin; every way a share can be wrong is named with
// its file, and the hint says what to do about exactly that.
func TestUnlockShares(t *testing.T) {
	f := newFixture(t, true)
	cur, err := f.unlock.SplitFor(5, 3, f.clusterID, 1)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := keys.GenerateUnlockKey(f.clusterID)
	prevBound, err := prev.SplitFor(5, 3, f.clusterID, 1)
	if err != nil {
		t.Fatal(err)
	}
	prevRandom, _ := prev.Split(5, 3)
	curRandom, _ := f.unlock.Split(5, 3)
	dir := t.TempDir()
	file := func(name string, shares ...string) string {
		p := filepath.Join(dir, name)
		write(t, p, []byte(strings.Join(shares, "\n")+"\n"))
		return p
	}
	typo := []byte(cur[1])
	typo[30] = map[bool]byte{true: 'B', false: 'A'}[typo[30] == 'A']
	forged := forge(t, cur[2])
	forged5 := forge(t, cur[4])
	s1, s2, s3, s4 := file("s1", cur[0]), file("s2", cur[1]), file("s3", cur[2]), file("s4", cur[3])

	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []string // on stderr; none: it opens
	}{
		{"three files", "", []string{"--unlock-share-file", s1, "--unlock-share-file", s2, "--unlock-share-file", s3}, nil},
		{"stdin, one a line", cur[4] + "\n\n" + cur[0] + "\n" + cur[3] + "\n", []string{"--unlock-share-file", "-"}, nil},
		{"a file and stdin", cur[3] + "\n", []string{"--unlock-share-file", file("two", cur[1], cur[2]), "--unlock-share-file", "-"}, nil},
		{"four with a forged one", "", []string{"--unlock-share-file", s1, "--unlock-share-file", s2, "--unlock-share-file", file("forged", forged), "--unlock-share-file", s4},
			[]string{"share 3 (in " + filepath.Join(dir, "forged") + ") does not agree with the others: it is corrupt or forged", "hint: leave share 3 out and give another share of the split in its place"}},
		{"the threshold with a forged one", "", []string{"--unlock-share-file", s1, "--unlock-share-file", s2, "--unlock-share-file", file("forged", forged)},
			[]string{"the 3 shares do not combine to a valid unlock key: one of them is corrupt or forged", "hint: give one more share of the split (another --unlock-share-file)"}},
		{"five with two forged", "", []string{"--unlock-share-file", file("five", cur[0], cur[1], forged, cur[3], forged5)},
			[]string{"shares 3, 5 do not agree with the others: they are corrupt or forged", "hint: leave shares 3, 5 out and give other shares of the split in their place"}},
		{"four with two forged", "", []string{"--unlock-share-file", file("four", cur[0], cur[1], forged, forged5)},
			[]string{"the 4 shares do not combine to a valid unlock key: more than one of them is corrupt or forged", "hint: give other shares of the split"}},
		{"a previous split, first share", "", []string{"--unlock-share-file", file("old", prevBound[0]), "--unlock-share-file", s2, "--unlock-share-file", s3},
			[]string{"share 1 (in " + filepath.Join(dir, "old") + ") is from a previous split", "hint: give shares of the split that opens this node"}},
		{"a previous split among current shares", "", []string{"--unlock-share-file", s1, "--unlock-share-file", file("old2", prevBound[1]), "--unlock-share-file", s3},
			[]string{"share 2 (in " + filepath.Join(dir, "old2") + ") is from a previous split"}},
		{"a previous split made before split ids named the KEK", "", []string{"--unlock-share-file", file("oldrandom", prevRandom[:3]...)},
			[]string{"the shares combine to a valid unlock key of this cluster, but it does not open this node's keyring: they are from a previous split", "hint: give shares of the split that opens this node"}},
		{"two splits mixed", "", []string{"--unlock-share-file", s1, "--unlock-share-file", file("random", curRandom[1]), "--unlock-share-file", s3},
			[]string{"share 2 (in " + filepath.Join(dir, "random") + ") is from another split", "hint: give shares of one split only"}},
		{"a typo", "", []string{"--unlock-share-file", s1, "--unlock-share-file", file("typo", string(typo)), "--unlock-share-file", s3},
			[]string{"share 2 (in " + filepath.Join(dir, "typo") + ") has a typo", "it was not tried"}},
		{"a duplicate", "", []string{"--unlock-share-file", s1, "--unlock-share-file", s1, "--unlock-share-file", s3},
			[]string{"share 1 (in " + s1 + ") was given twice"}},
		{"too few", "", []string{"--unlock-share-file", s1, "--unlock-share-file", s2},
			[]string{"2 shares given, 3 needed", "hint: give 1 more with --unlock-share-file"}},
		{"not a share", "", []string{"--unlock-share-file", file("junk", "hunter2")}, []string{"malformed"}},
		{"an empty file", "", []string{"--unlock-share-file", file("empty", "")}, []string{"holds no share"}},
		{"stdin twice", cur[0], []string{"--unlock-share-file", "-", "--unlock-share-file", "-"}, []string{"given twice"}},
		{"shares and a key", "", []string{"--unlock-key", f.unlock.Text(), "--unlock-share-file", s1}, []string{"given with an unlock key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.tool(t, tc.stdin, append(tc.args, "verify")...)
			if tc.want == nil {
				ok(t, r)
				return
			}
			fails(t, r, exitError, tc.want...)
			t.Logf("%s", r.stderr)
			for _, s := range cur {
				if strings.Contains(r.stderr, s[9:30]) {
					t.Fatalf("an error shows share text: %s", r)
				}
			}
		})
	}
}
