package keys

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// fixedSecret returns 32 high-entropy bytes named by label.
func fixedSecret(label string) []byte {
	s := sha256.Sum256([]byte(label))
	return s[:]
}

// encodings returns the ways fmt, or a careless String method, could write b.
func encodings(b []byte) []string {
	return []string{
		string(b),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base32.StdEncoding.EncodeToString(b),
		strings.Trim(fmt.Sprint(b), "[]"),
		fmt.Sprintf("%#v", b),
		fmt.Sprintf("%q", b),
		fmt.Sprintf("% x", b),
	}
}

// leak returns a window of an encoding of secret that out contains, or ""
// (so partial prints are caught too). A window is at least 12 characters
// and spans about 6 of the secret's bytes in that encoding: in the wordy
// ones ("0x32, " a byte for %#v) 12 characters are two bytes and a half,
// which public bytes printed beside a secret (a split id) matched by chance
// about once in a few hundred runs.
func leak(out string, secret []byte) string {
	for _, e := range encodings(secret) {
		w := max(12, (6*len(e)+len(secret)-1)/len(secret))
		for i := 0; i+w <= len(e); i++ {
			if strings.Contains(out, e[i:i+w]) {
				return e[i : i+w]
			}
		}
	}
	return ""
}

func assertNoLeak(t *testing.T, what, out string, secret []byte) {
	t.Helper()
	if l := leak(out, secret); l != "" {
		t.Fatalf("%s leaks key bytes: %q contains %q", what, out, l)
	}
}

func TestLeakDetector(t *testing.T) {
	secret := fixedSecret("detector")
	for _, verb := range []string{"%v", "%x", "%X", "%q", "%#v", "%s", "% x"} {
		if leak(fmt.Sprintf(verb, secret), secret) == "" {
			t.Errorf("leak does not see %s of the secret", verb)
		}
		if leak(fmt.Sprintf(verb, secret[5:20]), secret) == "" {
			t.Errorf("leak does not see %s of part of the secret", verb)
		}
	}
	if leak(base64.StdEncoding.EncodeToString(secret), secret) == "" {
		t.Error("leak does not see base64")
	}
}

// fmtVerbs lists the directives every redacted type is printed with.
var fmtVerbs = []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "% x", "%T %v"}
