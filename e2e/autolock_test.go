package e2e

import (
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/vaultd/vault/keys"
)

var (
	unlockKeyRE = regexp.MustCompile(`VLTKEY-1-[A-Z2-7]{64}`)
	shareRE     = regexp.MustCompile(`VLTSHR-[12]-[A-Z2-7]+`)
)

func clusterID(t *testing.T, d *daemon) string {
	t.Helper()
	var s struct {
		ClusterID string `json:"ClusterID"`
		Locked    bool   `json:"Locked"`
	}
	if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &s); err != nil {
		t.Fatal(err)
	}
	return s.ClusterID
}

func isLocked(t *testing.T, d *daemon) bool {
	t.Helper()
	var s struct {
		Locked bool `json:"Locked"`
	}
	json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &s)
	return s.Locked
}

// rawKeys asks a test build of the daemon for its raw keys (hex).
func rawKeys(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	out := map[string]string{}
	r := must(t, runVaultHTTP(t, d, "/v1/debug/keys")).stdout
	if err := json.Unmarshal([]byte(r), &out); err != nil || out["kek"] == "" {
		t.Fatalf("debug keys: %v %q", err, r)
	}
	return out
}

// restart stops and starts d. A read right after a restarted manager is
// unlocked goes through readBack: its groups may still be electing on a
// loaded machine (the CLI says to retry), while a group that stopped for a
// missing key never recovers and still fails the read after a minute.
func restart(d *daemon) {
	d.stop()
	d.start()
}

// TestAutolock: lock a 3-manager cluster behind an unlock key, restart and
// unlock managers (distinct errors for typos, wrong keys and other clusters),
// rotate the key, lock a running manager, unlock with Shamir shares, and scan
// every file for key material.
func TestAutolock(t *testing.T) {
	ds := startCluster(t, 3)
	c := canaries{}
	must(t, ds[0].vaultIn([]byte("CANARY-VALUE-before-autolock"), "secret", "create", "before", "-"))

	out := must(t, ds[1].vault("cluster", "update", "--autolock=true")).stdout
	key := unlockKeyRE.FindString(out)
	if key == "" || !strings.Contains(out, "Store it offline") {
		t.Fatalf("autolock output lacks the key or the advice:\n%s", out)
	}
	if got := strings.TrimSpace(must(t, ds[2].vault("unlock-key", "-q")).stdout); got != key {
		t.Fatalf("unlock-key -q = %q, want %q", got, key)
	}
	c["unlock key"] = []byte(key)
	cid := clusterID(t, ds[0])

	// A restarted manager is locked and says so.
	restart(ds[2])
	if !isLocked(t, ds[2]) {
		t.Fatal("a restarted manager is not locked")
	}
	mustFail(t, ds[2].vault("secret", "ls"), "this node is locked: run `vault unlock`")
	mustFail(t, ds[2].vault("secret", "inspect", "before"), "locked")
	// The others serve; a write made meanwhile is there after unlock.
	must(t, ds[0].vaultIn([]byte("CANARY-VALUE-while-locked"), "secret", "create", "whilelocked", "-"))

	typo := []byte(key)
	typo[20] = map[bool]byte{true: 'B', false: 'A'}[typo[20] == 'A']
	mustFail(t, ds[2].vaultIn(typo, "unlock"), "checksum mismatch: check for a typo")
	wrong, _ := keys.GenerateUnlockKey(cid)
	mustFail(t, ds[2].vaultIn([]byte(wrong.Text()), "unlock"), "wrong unlock key")
	foreign, _ := keys.GenerateUnlockKey("another-cluster")
	mustFail(t, ds[2].vaultIn([]byte(foreign.Text()), "unlock"), "belongs to another cluster")
	mustFail(t, ds[2].vault("unlock", key), "never taken from the command line")
	if !isLocked(t, ds[2]) {
		t.Fatal("a refused key unlocked the node")
	}
	must(t, ds[2].vaultIn([]byte(key+"\n"), "unlock"))
	readBack(t, ds[2], "whilelocked")

	// Rotate the unlock key: after a restart the old key is refused.
	out = must(t, ds[0].vault("unlock-key", "--rotate")).stdout
	newKey := unlockKeyRE.FindString(out)
	if newKey == "" || newKey == key {
		t.Fatalf("rotation printed no new key:\n%s", out)
	}
	c["rotated unlock key"] = []byte(newKey)
	must(t, ds[0].vaultIn([]byte("CANARY-VALUE-after-rotation"), "secret", "create", "afterrotation", "-"))
	// The rotation returns once every manager switched to the new KEK, so
	// one restarted now needs the new key.
	if a, b := kekVersion(t, ds[0]), kekVersion(t, ds[1]); a != b {
		t.Fatalf("unlock-key --rotate returned with KEK v%d on one manager and v%d on another", a, b)
	}
	restart(ds[1])
	mustFail(t, ds[1].vaultIn([]byte(key), "unlock"), "wrong unlock key")
	must(t, ds[1].vaultIn([]byte(newKey), "unlock"))
	readBack(t, ds[1], "afterrotation")

	// Lock a running manager: the other two keep serving; locking a second
	// would lose the quorum and needs --force.
	must(t, ds[2].vault("lock"))
	mustFail(t, ds[2].vault("secret", "ls"), "locked")
	must(t, ds[0].vaultIn([]byte("x"), "secret", "create", "whileonelocked", "-"))
	mustFail(t, ds[1].vault("lock"), "leaves 1 of 3 managers serving", "--force")
	must(t, ds[2].vaultIn([]byte(newKey), "unlock"))
	readBack(t, ds[2], "whileonelocked")

	// Shamir: 5 shares, threshold 3.
	out = must(t, ds[0].vault("unlock-key", "--rotate", "--key-shares", "5", "--key-threshold", "3")).stdout
	shares := shareRE.FindAllString(out, -1)
	if len(shares) != 5 || unlockKeyRE.MatchString(out) {
		t.Fatalf("want 5 shares and no whole key:\n%s", out)
	}
	mustFail(t, ds[0].vault("unlock-key"), "split into 5 shares")
	if a, b := kekVersion(t, ds[0]), kekVersion(t, ds[2]); a != b {
		t.Fatalf("unlock-key --rotate returned with KEK v%d on one manager and v%d on another", a, b)
	}
	restart(ds[2])
	if r := must(t, ds[2].vaultIn([]byte(shares[4]), "unlock")); !strings.Contains(r.stdout, "1 of 3") {
		t.Fatalf("progress after one share: %s", r)
	}
	if r := must(t, ds[2].vaultIn([]byte(shares[1]), "unlock")); !strings.Contains(r.stdout, "2 of 3") {
		t.Fatalf("progress after two shares: %s", r)
	}
	if !isLocked(t, ds[2]) {
		t.Fatal("two of three shares unlocked the node")
	}
	bad := []byte(shares[3])
	bad[30] = map[bool]byte{true: 'B', false: 'A'}[bad[30] == 'A']
	mustFail(t, ds[2].vaultIn(bad, "unlock"), "share 4")
	must(t, ds[2].vaultIn([]byte(shares[3]), "unlock"))
	readBack(t, ds[2], "afterrotation")

	// A node joining a locked cluster gets what it needs over the join
	// channel, and is locked after its next restart.
	joiner := newDaemon(t)
	joiner.start()
	tok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	must(t, joiner.vault("cluster", "join", "--token", tok, ds[0].apiAddr))
	inspect(t, joiner, "before")
	restart(joiner)
	if !isLocked(t, joiner) {
		t.Fatal("a manager that joined a locked cluster is not locked after a restart")
	}
	for _, s := range shares[:3] {
		must(t, joiner.vaultIn([]byte(s), "unlock"))
	}
	readBack(t, joiner, "whilelocked")

	// No file on any manager holds the KEK, a DEK, the index key or an
	// unlock key.
	all := append(ds, joiner)
	for _, d := range all {
		for name, h := range rawKeys(t, d) {
			b, _ := hex.DecodeString(h)
			c[d.addr+" "+name] = b
			c[d.addr+" "+name+" (hex)"] = []byte(h)
		}
	}
	for _, s := range shares {
		c["share "+s[:16]] = []byte(s)
	}
	for _, d := range all {
		d.stop()
	}
	var roots []string
	for _, d := range all {
		roots = append(roots, d.stateDir)
	}
	files, size := c.scan(t, roots...)
	t.Logf("key scan of %d state dirs: %d keys, %d files, %d bytes: none found", len(all), len(c), files, size)
}

// kekVersion is the KEK version a manager's `vault status` reports.
func kekVersion(t *testing.T, d *daemon) uint32 {
	t.Helper()
	var st struct {
		KEKVersion uint32 `json:"KEKVersion"`
	}
	if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &st); err != nil {
		t.Fatal(err)
	}
	return st.KEKVersion
}
