package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vaultd/vault/crypto"
)

const testCluster = "cluster-7f3a"

func testUnlockKey(t *testing.T) *UnlockKey {
	t.Helper()
	return newUnlockKey(clusterTag(testCluster), fixedSecret("unlock secret"))
}

// goldenUnlockKey is testUnlockKey's text; it freezes the format.
const goldenUnlockKey = "VLTKEY-1-A7OD77ASE7HIPQQDTRJSNRFAGO3GXCZE5QQTJDJBLMKJYUYL6LO5SV56AJMBQ3XD"

func TestUnlockKeyFormat(t *testing.T) {
	u := testUnlockKey(t)
	secret := fixedSecret("unlock secret")

	// Rebuild the text from the spec, independently of the package code.
	tag := sha256.Sum256([]byte("vault/cluster-tag/v1" + testCluster))
	payload := append(append([]byte{}, tag[:4]...), secret...)
	sum := sha256.Sum256(append([]byte("VLTKEY-1-"), payload...))
	payload = append(payload, sum[:4]...)
	want := "VLTKEY-1-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(payload)

	got := u.Text()
	if got != want {
		t.Fatalf("Text() = %q, want %q", got, want)
	}
	if len(got) != 9+64 {
		t.Fatalf("Text() has %d characters, want 73", len(got))
	}
	if got != goldenUnlockKey {
		t.Fatalf("Text() = %q, golden %q", got, goldenUnlockKey)
	}
}

func TestGenerateParseUnlockKey(t *testing.T) {
	u, err := GenerateUnlockKey(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	text := u.Text()
	if !strings.HasPrefix(text, "VLTKEY-1-") || len(text) != 73 {
		t.Fatalf("unexpected text shape: %d characters", len(text))
	}
	for _, s := range []string{text, text + "\n", "  " + text + " \r\n", "\t" + text} {
		p, err := ParseUnlockKey(s)
		if err != nil {
			t.Fatalf("ParseUnlockKey: %v", err)
		}
		if !p.Equal(u) {
			t.Fatal("parsed key differs from the generated one")
		}
	}
	if err := u.CheckCluster(testCluster); err != nil {
		t.Fatalf("CheckCluster: %v", err)
	}
	if err := u.CheckCluster("another"); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("CheckCluster(other) = %v, want ErrOtherCluster", err)
	}
	v, err := GenerateUnlockKey(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	if v.Equal(u) {
		t.Fatal("two generated keys are equal")
	}
	if _, err := GenerateUnlockKey(""); err == nil {
		t.Fatal("GenerateUnlockKey accepted an empty cluster id")
	}
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// TestUnlockKeyTypos changes every character of a key in every possible way:
// each is a checksum or format error, never success and never ErrWrongKey.
func TestUnlockKeyTypos(t *testing.T) {
	text := testUnlockKey(t).Text()
	check := func(typo string, want error) {
		t.Helper()
		u, err := ParseUnlockKey(typo)
		if err == nil {
			u.Wipe()
			t.Fatalf("typo accepted: %q", typo)
		}
		if errors.Is(err, ErrWrongKey) {
			t.Fatalf("typo reported as a wrong key: %v", err)
		}
		if !errors.Is(err, want) {
			t.Fatalf("typo %q: error %v, want %v", typo, err, want)
		}
		if errors.Is(err, ErrUnlockKeyChecksum) && err.Error() != "keys: checksum mismatch: check for a typo" {
			t.Fatalf("checksum error text = %q", err.Error())
		}
		assertNoLeak(t, "error", err.Error(), []byte(text[9:]))
	}
	n := 0
	for i := range len(text) {
		for _, c := range base32Alphabet + "0189abz-= .O" {
			if byte(c) == text[i] {
				continue
			}
			typo := text[:i] + string(c) + text[i+1:]
			want := ErrUnlockKeyFormat
			if i >= 9 && strings.ContainsRune(base32Alphabet, c) {
				want = ErrUnlockKeyChecksum
			}
			check(typo, want)
			n++
		}
	}
	// Adjacent transpositions, deletions and insertions.
	for i := 9; i < len(text); i++ {
		if i+1 < len(text) && text[i] != text[i+1] {
			check(text[:i]+text[i+1:i+2]+text[i:i+1]+text[i+2:], ErrUnlockKeyChecksum)
		}
		check(text[:i]+text[i+1:], ErrUnlockKeyFormat)
		check(text[:i]+"A"+text[i:], ErrUnlockKeyFormat)
		n += 3
	}
	t.Logf("%d typos rejected", n)
}

func TestParseUnlockKeyErrors(t *testing.T) {
	text := testUnlockKey(t).Text()
	share := "VLTSHR-1-" + strings.Repeat("A", 80)
	tests := []struct {
		name, in, detail string
	}{
		{"empty", "", "empty"},
		{"blank", " \n", "empty"},
		{"no prefix", text[9:], "does not start with VLTKEY-1-"},
		{"lower case", strings.ToLower(text), "upper case"},
		{"other version", "VLTKEY-2-" + text[9:], "unsupported format version"},
		{"share", share, "share"},
		{"short", text[:72], "has 63 characters"},
		{"long", text + "A", "has 65 characters"},
		{"padding", text[:71] + "==", "character 72"},
		{"padded", text + "======", "has 70 characters"},
		{"inner space", text[:40] + " " + text[41:], "character 41"},
		{"inner newline", text[:40] + "\n" + text[41:], "character 41"},
		{"lower-case body", text[:9] + strings.ToLower(text[9:]), "character 10"},
		{"zero for O", text[:20] + "0" + text[21:], "character 21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUnlockKey(tt.in)
			if !errors.Is(err, ErrUnlockKeyFormat) {
				t.Fatalf("error = %v, want ErrUnlockKeyFormat", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "keys: malformed unlock key: ") || !strings.Contains(msg, tt.detail) ||
				!strings.Contains(msg, "VLTKEY-1- followed by 64 characters") {
				t.Fatalf("error text %q does not say %q and what a key looks like", msg, tt.detail)
			}
			assertNoLeak(t, "error", msg, []byte(text[9:]))
		})
	}
}

func TestUnlockKeyKEK(t *testing.T) {
	u := testUnlockKey(t)
	kek, err := u.KEK(testCluster, 3)
	if err != nil {
		t.Fatal(err)
	}
	if kek.Version() != 3 {
		t.Fatalf("kek version %d, want 3", kek.Version())
	}
	// Independent derivation from the spec.
	raw, err := hkdf.Key(sha256.New, fixedSecret("unlock secret"), []byte("vault/kek/v1/"+testCluster), "vault kek", 32)
	if err != nil {
		t.Fatal(err)
	}
	want, err := crypto.NewKey(3, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !kek.Equal(want) {
		t.Fatal("KEK differs from HKDF-SHA256(secret, salt, info)")
	}
	again, _ := u.KEK(testCluster, 3)
	if !again.Equal(kek) {
		t.Fatal("KEK is not deterministic")
	}
	if _, err := u.KEK("another", 3); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("KEK(other cluster) = %v, want ErrOtherCluster", err)
	}
	// A key of another cluster, even with the same secret, is refused.
	other := newUnlockKey(clusterTag("another"), fixedSecret("unlock secret"))
	if _, err := other.KEK(testCluster, 3); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("KEK of another cluster's key = %v, want ErrOtherCluster", err)
	}
	k2, err := other.KEK("another", 3)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Equal(kek) {
		t.Fatal("the cluster id does not enter the KEK")
	}
}

func TestUnlockKeyEqualAndWipe(t *testing.T) {
	u := testUnlockKey(t)
	v := testUnlockKey(t)
	w := newUnlockKey(clusterTag(testCluster), fixedSecret("other"))
	if !u.Equal(v) || u.Equal(w) || u.Equal(nil) || (*UnlockKey)(nil).Equal(u) {
		t.Fatal("Equal is wrong")
	}
	v.Wipe()
	v.Wipe()
	if u.Equal(v) || v.Equal(v) {
		t.Fatal("a wiped key compares equal")
	}
	if v.Text() != "" {
		t.Fatal("Text of a wiped key is not empty")
	}
	if *v.s.p != [payloadSize]byte{} {
		t.Fatal("Wipe left key bytes")
	}
	if _, err := v.KEK(testCluster, 1); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("KEK after Wipe = %v, want ErrWiped", err)
	}
	if err := v.CheckCluster(testCluster); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("CheckCluster after Wipe = %v, want ErrWiped", err)
	}
	if _, err := v.Split(3, 2); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("Split after Wipe = %v, want ErrWiped", err)
	}
	(*UnlockKey)(nil).Wipe()
}

func TestUnlockKeyRedacted(t *testing.T) {
	u := testUnlockKey(t)
	secret := fixedSecret("unlock secret")
	text := u.Text()
	type holder struct {
		Name string
		Key  *UnlockKey
		Val  UnlockKey
	}
	h := holder{Name: "h", Key: u, Val: *u}
	// fmt cannot call methods through unexported fields; it prints them by
	// reflection, which must find no key bytes either.
	type private struct {
		key UnlockKey
		ptr *UnlockKey
	}
	p := private{key: *u, ptr: u}
	for _, verb := range fmtVerbs {
		for _, v := range []any{u, *u, h, &h, []*UnlockKey{u}, p, &p} {
			out := fmt.Sprintf(verb, v, v)
			assertNoLeak(t, verb, out, secret)
			assertNoLeak(t, verb, out, u.s.p[:])
			assertNoLeak(t, verb, out, []byte(text[9:]))
			if _, ok := v.(private); !ok && v != any(&p) && !strings.Contains(out, "REDACTED") {
				t.Fatalf("%s printed %q without REDACTED", verb, out)
			}
		}
	}
}

func TestKeyCheck(t *testing.T) {
	kek, err := GenerateKEK(1)
	if err != nil {
		t.Fatal(err)
	}
	check, err := KeyCheck(kek)
	if err != nil {
		t.Fatal(err)
	}
	if len(check) != 16 {
		t.Fatalf("check is %d bytes, want 16", len(check))
	}
	if err := VerifyKEK(kek, check); err != nil {
		t.Fatalf("VerifyKEK(right key) = %v", err)
	}
	other, _ := GenerateKEK(1)
	sameBytesOtherVersion := func() *crypto.Key {
		u := testUnlockKey(t)
		k, _ := u.KEK(testCluster, 2)
		return k
	}
	u1, _ := testUnlockKey(t).KEK(testCluster, 1)
	uCheck, _ := KeyCheck(u1)
	tests := []struct {
		name  string
		kek   *crypto.Key
		check []byte
		want  error
	}{
		{"other key", other, check, ErrWrongKey},
		{"same bytes, other version", sameBytesOtherVersion(), uCheck, ErrWrongKey},
		{"flipped check", kek, append([]byte{check[0] ^ 1}, check[1:]...), ErrWrongKey},
		{"short check", kek, check[:15], ErrMalformedKeyring},
		{"nil check", kek, nil, ErrMalformedKeyring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyKEK(tt.kek, tt.check); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyKEK = %v, want %v", err, tt.want)
			}
		})
	}
	kek.Wipe()
	if err := VerifyKEK(kek, check); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("VerifyKEK(wiped) = %v, want ErrWiped", err)
	}
}
