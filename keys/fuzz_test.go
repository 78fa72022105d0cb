package keys

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParseUnlockKey(f *testing.F) {
	u, _ := GenerateUnlockKey(testCluster)
	f.Add(u.Text())
	f.Add(goldenUnlockKey)
	f.Add(goldenUnlockKey + "\n")
	f.Add(strings.ToLower(goldenUnlockKey))
	f.Add("VLTKEY-1-" + strings.Repeat("A", 64))
	f.Add("VLTSHR-1-" + strings.Repeat("A", 80))
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseUnlockKey(in)
		if err != nil {
			if !errors.Is(err, ErrUnlockKeyFormat) && !errors.Is(err, ErrUnlockKeyChecksum) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if k.Text() != strings.TrimSpace(in) {
			t.Fatal("accepted key does not round-trip")
		}
		again, err := ParseUnlockKey(k.Text())
		if err != nil || !again.Equal(k) {
			t.Fatalf("re-parse failed: %v", err)
		}
	})
}
