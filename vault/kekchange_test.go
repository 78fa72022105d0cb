package vault

import (
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

func TestWrongKeyHint(t *testing.T) {
	kek := func(v uint32) *keys.WrappedKeyring {
		k, err := keys.GenerateKEK(statedir.KEKVersionBase + v)
		if err != nil {
			t.Fatal(err)
		}
		w, r, err := keys.NewKeyring(k, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r.Wipe()
		return w
	}
	old, next := kek(2), kek(3)
	oldKEK, _ := keys.GenerateKEK(statedir.KEKVersionBase + 2)
	w0, _, _ := keys.NewKeyring(oldKEK, time.Now())
	nextKEK, _ := keys.GenerateKEK(statedir.KEKVersionBase + 3)
	dual, err := w0.AddWrapping(oldKEK, nextKEK)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		rings []*keys.WrappedKeyring
		want  string
	}{
		{"no rings", nil, ""},
		{"one KEK everywhere", []*keys.WrappedKeyring{old, old}, ""},
		{"some groups switched", []*keys.WrappedKeyring{old, next}, "switched to KEK version 3 during an unlock-key change: give the new key"},
		{"switched and dual", []*keys.WrappedKeyring{dual, next}, "give the key from before the change or the new key"},
		{"dual everywhere", []*keys.WrappedKeyring{dual, dual}, "give the key from before the change or the new key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wrongKeyHint(t.TempDir(), tc.rings)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("hint %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSameChange(t *testing.T) {
	split := &raftsm.KEKChange{Autolock: true, KeyShares: 5, Threshold: 3}
	whole := &raftsm.KEKChange{Autolock: true}
	off := &raftsm.KEKChange{}
	for _, tc := range []struct {
		name              string
		ch                *raftsm.KEKChange
		autolock          bool
		shares, threshold int
		want              bool
	}{
		{"rotate again resumes a split", split, true, 0, 0, true},
		{"the same split", split, true, 5, 3, true},
		{"another split", split, true, 3, 2, false},
		{"a split instead of a whole key", whole, true, 3, 2, false},
		{"rotate again resumes a whole key", whole, true, 0, 0, true},
		{"autolock off again", off, false, 0, 0, true},
		{"autolock on while going off", off, true, 0, 0, false},
	} {
		if got := sameChange(tc.ch, tc.autolock, tc.shares, tc.threshold); got != tc.want {
			t.Errorf("%s: sameChange = %v, want %v", tc.name, got, tc.want)
		}
	}
}
