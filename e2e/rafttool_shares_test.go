package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRafttoolShares: a locked manager whose unlock key is split into
// shares is read offline with its shares; after a re-split a share of the
// previous split is refused as such before anything is combined, by the
// daemon's unlock as by the tool.
func TestRafttoolShares(t *testing.T) {
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "2"))
	must(t, d.vaultIn([]byte("SHARES-VALUE"), "secret", "create", "s", "-"))
	old := shareRE.FindAllString(must(t, d.vault("cluster", "update", "--autolock=true", "--key-shares", "3", "--key-threshold", "2")).stdout, -1)
	cur := shareRE.FindAllString(must(t, d.vault("unlock-key", "--rotate", "--key-shares", "3", "--key-threshold", "2")).stdout, -1)
	if len(old) != 3 || len(cur) != 3 || !strings.HasPrefix(cur[0], "VLTSHR-2-") {
		t.Fatalf("shares: %q, %q", old, cur)
	}
	// The daemon refuses a share of the previous split at once, keeps
	// none of it, and still unlocks with the current shares.
	must(t, d.vault("lock", "--force"))
	mustFail(t, d.vaultIn([]byte(old[0]+"\n"), "unlock"), "is from a previous split", "give shares of the newest split")
	if out := must(t, d.vaultIn([]byte(cur[0]+"\n"), "unlock")).stdout; !strings.Contains(out, "1 of 2") {
		t.Fatalf("after the first current share: %q", out)
	}
	must(t, d.vaultIn([]byte(cur[1]+"\n"), "unlock"))
	d.stop()
	rt := buildRafttool(t)
	dir := t.TempDir()
	file := func(name, share string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(share+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r := rt.run(t, []byte(cur[2]+"\n"), "-d", d.stateDir, "--unlock-share-file", file("c1", cur[0]), "--unlock-share-file", "-", "dump-object", "secret", "--name", "s")
	if r.code != 0 || !strings.Contains(r.stdout, "SHARES-VALUE") {
		t.Fatalf("with two current shares: %s", r)
	}
	r = rt.run(t, nil, "-d", d.stateDir, "--unlock-share-file", file("o1", old[0]), "--unlock-share-file", file("c2", cur[1]), "verify")
	if r.code == 0 || !strings.Contains(r.stderr, "share 1 (in "+filepath.Join(dir, "o1")+") is from a previous split") ||
		!strings.Contains(r.stderr, "hint: give shares of the split that opens this node") {
		t.Fatalf("with a share of the previous split: %s", r)
	}
	for _, s := range append(old, cur...) {
		if strings.Contains(r.stderr, s[9:40]) {
			t.Fatalf("an error shows share text: %s", r)
		}
	}
}
