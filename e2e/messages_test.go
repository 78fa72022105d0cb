package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// goPrefix is a Go package's prefix at the start of a message, or one of
// this module's (or its libraries') anywhere in it.
var goPrefix = regexp.MustCompile(`^[a-z]+: |(^|[\s(;:])(api|ca|checkpoint|crypto|dragonboat|fuse|keys|logdb|pebble|raftsm|shamir|snapfile|vault|x509|tls|json): `)

// noGoPrefix fails the test if a "vault: error:" or "vault: hint:" line of
// r names a Go package.
func noGoPrefix(t *testing.T, what string, r result) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(r.stderr, "\n") {
		for _, p := range []string{"vault: error: ", "vault: hint: "} {
			if msg, ok := strings.CutPrefix(line, p); ok {
				n++
				if goPrefix.MatchString(msg) {
					t.Errorf("%s: %q names a Go package", what, line)
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: no error line: %s", what, r)
	}
}

// TestUnlockMessages: the errors an operator meets while unlocking (a
// malformed key, a typo, a share given twice) or joining (a malformed token)
// reach the CLI as operator messages, with no Go package prefix.
func TestUnlockMessages(t *testing.T) {
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	out := must(t, d.vault("cluster", "update", "--autolock=true", "--key-shares", "3", "--key-threshold", "2")).stdout
	shares := shareRE.FindAllString(out, -1)
	if len(shares) != 3 {
		t.Fatalf("want 3 shares:\n%s", out)
	}
	must(t, d.vault("lock", "--force"))
	if !isLocked(t, d) {
		t.Fatal("not locked after `vault lock --force`")
	}

	typo := []byte(shares[1])
	typo[30] = map[bool]byte{true: 'B', false: 'A'}[typo[30] == 'A']
	for _, c := range []struct {
		name, in string
		want     string
	}{
		{"not a key", "hello", "malformed unlock key"},
		{"a short key", "VLTKEY-1-ABC", "malformed unlock key"},
		{"a key with a typo", "VLTKEY-1-" + strings.Repeat("A", 64), "checksum mismatch"},
		{"a short share", "VLTSHR-1-ABC", "malformed share"},
		{"a share with a typo", string(typo), "checksum mismatch in share"},
	} {
		r := d.vaultIn([]byte(c.in), "unlock")
		mustFail(t, r, c.want)
		noGoPrefix(t, c.name, r)
	}
	if r := must(t, d.vaultIn([]byte(shares[0]), "unlock")); !strings.Contains(r.stdout, "1 of 2") {
		t.Fatalf("progress after one share: %s", r)
	}
	r := d.vaultIn([]byte(shares[0]), "unlock")
	mustFail(t, r, "was already added")
	noGoPrefix(t, "the same share twice", r)
	must(t, d.vaultIn([]byte(shares[2]), "unlock"))
	if isLocked(t, d) {
		t.Fatal("still locked after two shares")
	}

	// A join token pasted wrong, on a node that is not in a cluster yet.
	fresh := newDaemon(t)
	fresh.start()
	for _, tok := range []string{"SWMTKN-1-abc", "VLTJOIN-1-abc"} {
		r := fresh.vault("cluster", "join", "--token", tok, d.apiAddr)
		mustFail(t, r, "malformed join token")
		noGoPrefix(t, "join token "+tok, r)
	}
}
