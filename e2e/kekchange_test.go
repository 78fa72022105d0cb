package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
)

// cred is a key an operator was shown: a whole unlock key, or a split.
type cred struct {
	key       string
	shares    []string
	threshold int
	label     string
}

// shownCreds parses the keys a command printed.
func shownCreds(out, label string) []cred {
	var cs []cred
	for _, k := range unlockKeyRE.FindAllString(out, -1) {
		cs = append(cs, cred{key: k, label: label})
	}
	if shares := shareRE.FindAllString(out, -1); len(shares) > 0 {
		threshold := len(shares)
		var n int
		if i := strings.Index(out, "; any "); i >= 0 {
			fmt.Sscanf(out[i:], "; any %d", &n)
		}
		if n > 0 {
			threshold = n
		}
		cs = append(cs, cred{shares: shares, threshold: threshold, label: label})
	}
	return cs
}

// unlockWith gives a locked manager one credential; true if it unlocked.
func unlockWith(t *testing.T, d *daemon, c cred) (bool, string) {
	t.Helper()
	if c.key != "" {
		r := d.vaultIn([]byte(c.key), "unlock")
		return r.code == 0 && !isLocked(t, d), r.stderr
	}
	var last result
	for _, s := range c.shares[:c.threshold] {
		last = d.vaultIn([]byte(s), "unlock")
		if last.code != 0 {
			return false, last.stderr
		}
	}
	return !isLocked(t, d), last.stderr
}

// unlockShown unlocks a locked manager with some key the operator was
// shown (newest first) and returns which; it fails the test if none works.
func unlockShown(t *testing.T, d *daemon, shown []cred) string {
	t.Helper()
	if !isLocked(t, d) {
		return "(not locked)"
	}
	var errs []string
	for i := len(shown) - 1; i >= 0; i-- {
		ok, msg := unlockWith(t, d, shown[i])
		if ok {
			return shown[i].label
		}
		errs = append(errs, shown[i].label+": "+firstLine(msg))
	}
	t.Fatalf("manager %s unlocks with none of the %d keys the operator was shown:\n%s", d.addr, len(shown), strings.Join(errs, "\n"))
	return ""
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return v
}

// kekOp is one KEK change a trial runs.
type kekOp struct {
	name     string
	args     []string
	autolock bool // the setting after it
}

var (
	opRotate  = kekOp{"rotate", []string{"unlock-key", "--rotate"}, true}
	opReshare = kekOp{"reshare", []string{"unlock-key", "--rotate", "--key-shares", "3", "--key-threshold", "2"}, true}
	opOff     = kekOp{"autolock-off", []string{"cluster", "update", "--autolock=false"}, false}
	opOn      = kekOp{"autolock-on", []string{"cluster", "update", "--autolock=true"}, true}
)

// TestKEKChangeCrash kills managers with SIGKILL at random offsets into
// KEK changes (unlock-key rotation, autolock on and off, a Shamir re-split)
// on three managers and on two, the coordinating manager among them. After
// each trial the killed managers restart and unlock with a key the operator
// was shown, running the command again finishes the change, and every
// acknowledged secret reads back on every manager. VAULT_KEK_TRIALS sets
// the trials per cluster size, VAULT_KEK_SEED the seed.
func TestKEKChangeCrash(t *testing.T) {
	trials := envInt(t, "VAULT_KEK_TRIALS", 4)
	seed := uint64(time.Now().UnixNano() % 1_000_000_000)
	if s := os.Getenv("VAULT_KEK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VAULT_KEK_SEED=%q: want a number", s)
		}
		seed = v
	}
	t.Logf("seed %d (VAULT_KEK_SEED=%d repeats it), %d trials per cluster size", seed, seed, trials)
	for _, n := range []int{3, 2} {
		t.Run(fmt.Sprintf("%d-managers", n), func(t *testing.T) {
			runKEKTrials(t, n, trials, seed+uint64(n))
		})
	}
}

func runKEKTrials(t *testing.T, n, trials int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x4b454b))
	ds := startCluster(t, n)
	var shown []cred
	autolock := false
	acked := map[string]int{}
	counts := map[string]int{}
	for trial := range trials {
		name := fmt.Sprintf("kek%d", trial)
		data := []byte(fmt.Sprintf("CANARY-VALUE-kek-%d-%d", trial, rng.Uint64()))
		retryTransient(t, "create "+name, func() result { return ds[rng.IntN(n)].vaultIn(data, "secret", "create", name, "-") }, "already exists")
		acked[name] = len(data)

		op := opOn
		if autolock {
			op = []kekOp{opRotate, opReshare, opOff}[rng.IntN(3)]
		}
		coord := rng.IntN(n)
		victims := []int{coord}
		if rng.IntN(3) != 0 {
			victims = []int{(coord + 1 + rng.IntN(n-1)) % n}
		}
		if n == 3 && rng.IntN(4) == 0 {
			victims = append(victims, (victims[0]+1)%n)
		}
		offset := time.Duration(rng.IntN(250)) * time.Millisecond
		note := fmt.Sprintf("trial %d: %s on manager %d, kill -9 of %v at %v", trial, op.name, coord, victims, offset)

		done := make(chan result, 1)
		go func() { done <- ds[coord].vault(op.args...) }()
		hold(offset)
		for _, v := range victims {
			ds[v].kill()
		}
		first := <-done
		shown = append(shown, shownCreds(first.stdout, fmt.Sprintf("trial %d first run", trial))...)
		note += fmt.Sprintf("; command exit %d %s", first.code, firstLine(first.stderr))

		// The killed managers come back and unlock with a key shown.
		for _, v := range victims {
			ds[v].start()
			note += fmt.Sprintf("; manager %d unlocked with %s", v, unlockShown(t, ds[v], shown))
		}
		// Running the command again finishes the change, with the key it
		// showed the first time.
		if first.code != 0 {
			via := ds[(coord+1)%n]
			var again result
			deadline := time.Now().Add(90 * time.Second)
			for {
				again = via.vault(op.args...)
				if again.code == 0 || strings.Contains(again.stderr, "is already") || time.Now().After(deadline) {
					break
				}
				hold(time.Second)
			}
			if again.code != 0 && !strings.Contains(again.stderr, "is already") {
				t.Fatalf("%s\nrunning it again does not finish the change: %s", note, again)
			}
			again2 := shownCreds(again.stdout, fmt.Sprintf("trial %d second run", trial))
			if firstKeys := shownCreds(first.stdout, ""); len(firstKeys) > 0 && len(again2) > 0 &&
				strings.Contains(again.stdout, "Continuing") &&
				(firstKeys[0].key != again2[0].key || strings.Join(firstKeys[0].shares, ",") != strings.Join(again2[0].shares, ",")) {
				t.Fatalf("%s\nthe resumed change shows another key:\nfirst: %s\nagain: %s", note, first.stdout, again.stdout)
			}
			shown = append(shown, again2...)
			note += "; finished by running it again"
			counts["resumed"]++
		}
		autolock = op.autolock
		counts[op.name]++
		t.Log(note)

		// Every manager on the same KEK, unlocked, and every secret there.
		waitFor(t, "every manager on the same KEK version, with the change's files gone", 60*time.Second, func() bool {
			v := kekVersion(t, ds[0])
			for _, d := range ds {
				if isLocked(t, d) || kekVersion(t, d) != v || !kekFilesDone(d, autolock) {
					return false
				}
			}
			return true
		})
		for _, d := range ds {
			for name, size := range acked {
				if got := readBack(t, d, name); got.Size != size {
					t.Fatalf("%s\nsecret %s on manager %s: size %d, want %d", note, name, d.addr, got.Size, size)
				}
			}
		}
		// The newest key shown is the one a restarted manager needs now.
		if autolock {
			d := ds[rng.IntN(n)]
			restart(d)
			if ok, msg := unlockWith(t, d, shown[len(shown)-1]); !ok {
				t.Fatalf("%s\nafter the change a restarted manager refuses the newest key shown: %s", note, msg)
			}
		}
	}
	for _, d := range ds {
		if strings.Contains(strings.Join(append(d.earlier, d.logs.String()), ""), "panic:") {
			t.Fatalf("manager %s panicked", d.addr)
		}
	}
	t.Logf("%d managers: %d trials %v, %d keys shown", n, trials, counts, len(shown))

	// vault-rafttool verify opens every manager's files with the key the
	// operator holds now (a whole key: the tool takes no shares).
	var args []string
	if autolock {
		if shown[len(shown)-1].key == "" {
			shown = append(shown, shownCreds(must(t, ds[0].vault("unlock-key", "--rotate")).stdout, "final rotation")...)
		}
		keyFile := filepath.Join(t.TempDir(), "unlock-key")
		if err := os.WriteFile(keyFile, []byte(shown[len(shown)-1].key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = []string{"--unlock-key-file", keyFile}
	}
	rt := buildRafttool(t)
	for _, d := range ds {
		d.stop()
		r := rt.run(t, nil, append(append([]string{"-d", d.stateDir}, args...), "verify")...)
		if r.code != 0 || !strings.Contains(r.stdout, "No integrity failures.") {
			t.Fatalf("vault-rafttool verify on manager %s: %s", d.addr, r)
		}
	}
}

// transient reports whether a command failed only for want of a quorum
// or a leader, which a cluster just restarted may lack for a while.
func transient(r result) bool {
	return strings.Contains(r.stderr, "did not answer in time") || strings.Contains(r.stderr, "no quorum") ||
		strings.Contains(r.stderr, "leader election")
}

// retryTransient runs f until it succeeds, fails for a reason other than
// a transient one, or a minute passes; a failure containing ok counts as
// success.
func retryTransient(t *testing.T, what string, f func() result, ok ...string) result {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := f()
		if r.code == 0 {
			return r
		}
		for _, o := range ok {
			if strings.Contains(r.stderr, o) {
				return r
			}
		}
		if !transient(r) || time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, r)
		}
		hold(200 * time.Millisecond)
	}
}

// readBack inspects a secret, waiting out a cluster that is still electing.
func readBack(t *testing.T, d *daemon, ref string) inspected {
	t.Helper()
	r := retryTransient(t, "inspect "+ref, func() result { return d.vault("secret", "inspect", ref) })
	var out []inspected
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v: %s", ref, err, r.stdout)
	}
	return out[0]
}

// kekFilesDone reports whether a manager's state dir holds what it should
// outside a KEK change: no next-KEK files, and a KEK file only with
// autolock off.
func kekFilesDone(d *daemon, autolock bool) bool {
	exists := func(p ...string) bool {
		_, err := os.Stat(filepath.Join(append([]string{d.stateDir}, p...)...))
		return err == nil
	}
	return !exists("kek.next") && !exists("tls", "node.key.next.sealed") && exists("kek") != autolock
}

// peerClient dials a manager's API with another manager's certificate,
// whose key the test unseals from that manager's state dir with its KEK.
func peerClient(t *testing.T, from *daemon) *http.Client {
	t.Helper()
	kekHex := rawKeys(t, from)["kek"]
	raw, _ := hex.DecodeString(kekHex)
	tlsDir := filepath.Join(from.stateDir, "tls")
	var keyPEM []byte
	for _, name := range []string{"node.key.sealed", "node.key.next.sealed"} {
		sealed, err := os.ReadFile(filepath.Join(tlsDir, name))
		if err != nil {
			continue
		}
		v, err := crypto.EnvelopeKeyVersion(sealed)
		if err != nil {
			continue
		}
		k, err := crypto.NewKey(v, append([]byte(nil), raw...))
		if err != nil {
			continue
		}
		if keyPEM, err = crypto.Open(k, crypto.Binding{Purpose: crypto.PurposeFile, Object: []byte("node.key")}, sealed); err == nil {
			break
		}
	}
	if keyPEM == nil {
		t.Fatal("cannot unseal the node key with the node's KEK")
	}
	certPEM, _ := os.ReadFile(filepath.Join(tlsDir, "node.crt"))
	caPEM, _ := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13,
	}}}
}

// pushKEK posts a KEK to a manager's /v1/peer/kek and returns the status
// code and body.
func pushKEK(t *testing.T, c *http.Client, to *daemon, changeID string, version uint32, key []byte) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"change_id": changeID, "version": version, "key": key})
	resp, err := c.Post("https://"+to.apiAddr+"/v1/peer/kek", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// TestKEKPushForged pushes KEKs that are not the committed change's to a
// manager: from a manager that is not running the change, a random KEK
// from the one that is, a push of an old change replayed. Each is refused
// and logged, the change then finishes with its own key, and no daemon
// panics.
func TestKEKPushForged(t *testing.T) {
	ds := startCluster(t, 3)
	must(t, ds[0].vaultIn([]byte("CANARY-VALUE-forged"), "secret", "create", "forged", "-"))
	out := must(t, ds[0].vault("cluster", "update", "--autolock=true")).stdout
	oldKey := unlockKeyRE.FindString(out)
	cid := clusterID(t, ds[0])
	const base = 1 << 31
	random := func() []byte {
		k, _ := keys.GenerateKEK(1)
		b, _ := crypto.ExportKey(k)
		return b
	}
	fromOther, fromCoord := peerClient(t, ds[1]), peerClient(t, ds[0])

	// No change in progress: a random push is refused.
	if code, body := pushKEK(t, fromCoord, ds[2], "nochange", base+3, random()); code < 400 || !strings.Contains(body, "no KEK change is in progress") {
		t.Fatalf("push without a change: %d %s", code, body)
	}

	// A change stuck switching: manager 2 is down when it commits.
	cl := api.NewClient(ds[0].socket)
	ctx := context.Background()
	prep, err := cl.RotateUnlockKey(ctx, api.UnlockKeyRequest{Prepare: true})
	if err != nil {
		t.Fatal(err)
	}
	ds[2].kill()
	if _, err := cl.CommitKEKChange(ctx, prep.ChangeID); err == nil || !strings.Contains(err.Error(), "did not take the new KEK") {
		t.Fatalf("commit with a manager down: %v", err)
	}
	version := prep.KEKVersion + base
	u, err := keys.ParseUnlockKey(prep.Key)
	if err != nil {
		t.Fatal(err)
	}
	right, err := u.KEK(cid, version)
	if err != nil {
		t.Fatal(err)
	}
	rightRaw, _ := crypto.ExportKey(right)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		id     string
		key    []byte
		reason string
	}{
		{"the right KEK from a manager not running the change", fromOther, prep.ChangeID, rightRaw, "does not come from the manager running"},
		{"a random KEK from the coordinator", fromCoord, prep.ChangeID, random(), "not the KEK of the change"},
		{"the right KEK for another change id", fromCoord, "replayedchange", rightRaw, "not for the KEK change in progress"},
	} {
		for range 20 {
			code, body := pushKEK(t, tc.c, ds[1], tc.id, version, tc.key)
			if code < 400 || !strings.Contains(body, tc.reason) {
				t.Fatalf("%s: %d %s", tc.name, code, body)
			}
		}
	}
	if !strings.Contains(ds[1].logs.String(), "refused a pushed KEK") {
		t.Fatal("refused pushes are not logged")
	}
	// The real change finishes: manager 2 comes back (the old key opens
	// it), the command is run again, and every manager takes the new key.
	ds[2].start()
	if ok, msg := unlockWith(t, ds[2], cred{key: oldKey}); !ok {
		t.Fatalf("the old key does not open a manager that was down during the change: %s", msg)
	}
	var again string
	waitFor(t, "the resumed rotation to finish", 90*time.Second, func() bool {
		r := ds[1].vault("unlock-key", "--rotate")
		// A manager still catching up after its restart may not take the
		// KEK at once.
		if r.code != 0 && !transient(r) && !strings.Contains(r.stderr, "did not take the new KEK") {
			t.Fatalf("running the rotation again: %s", r)
		}
		again = r.stdout
		return r.code == 0
	})
	if unlockKeyRE.FindString(again) != prep.Key || !strings.Contains(again, "Continuing") {
		t.Fatalf("running the rotation again does not show its key:\n%s", again)
	}
	// Replaying the finished change's push changes nothing.
	if code, body := pushKEK(t, fromCoord, ds[0], prep.ChangeID, version, rightRaw); code < 400 || !strings.Contains(body, "no KEK change is in progress") {
		t.Fatalf("replayed push after the change: %d %s", code, body)
	}
	for _, d := range ds {
		restart(d)
		if ok, msg := unlockWith(t, d, cred{key: prep.Key}); !ok {
			t.Fatalf("manager %s refuses the new key after the change: %s", d.addr, msg)
		}
		// The restart sets off leader elections in the groups (the
		// manager restarted before it may still be catching up): a read
		// may time out until they settle, so wait them out.
		readBack(t, d, "forged")
		if strings.Contains(strings.Join(append(d.earlier, d.logs.String()), ""), "panic:") {
			t.Fatalf("manager %s panicked", d.addr)
		}
	}
}

// TestKEKChangeAbort: a prepared change shows with the current key, blocks
// data-key rotation, and is undone by --abort or by a different request;
// nothing uses its key until it is committed.
func TestKEKChangeAbort(t *testing.T) {
	d := startCluster(t, 1)[0]
	key := unlockKeyRE.FindString(must(t, d.vault("cluster", "update", "--autolock=true")).stdout)
	cl := api.NewClient(d.socket)
	prep, err := cl.RotateUnlockKey(context.Background(), api.UnlockKeyRequest{Prepare: true})
	if err != nil || prep.Phase != "prepared" || prep.Key == "" {
		t.Fatalf("prepare: %+v %v", prep, err)
	}
	out := must(t, d.vault("unlock-key")).stdout
	if !strings.Contains(out, key) || !strings.Contains(out, prep.Key) || !strings.Contains(out, "in progress (prepared") {
		t.Fatalf("unlock-key does not show the current and the pending key:\n%s", out)
	}
	mustFail(t, d.vault("key", "rotate"), "a KEK change", "is in progress")
	if out := must(t, d.vault("unlock-key", "--abort")).stdout; !strings.Contains(out, "Aborted") {
		t.Fatalf("abort: %s", out)
	}
	mustFail(t, d.vault("unlock-key", "--abort"), "no KEK change is in progress")
	if out := must(t, d.vault("unlock-key")).stdout; strings.Contains(out, prep.Key) {
		t.Fatalf("an aborted change's key is still shown:\n%s", out)
	}
	restart(d)
	if ok, _ := unlockWith(t, d, cred{key: prep.Key}); ok {
		t.Fatal("the key of an aborted change unlocks the manager")
	}
	if ok, msg := unlockWith(t, d, cred{key: key}); !ok {
		t.Fatalf("the current key after an abort: %s", msg)
	}

	// A different request replaces a prepared change.
	prep, err = cl.RotateUnlockKey(context.Background(), api.UnlockKeyRequest{Prepare: true})
	if err != nil {
		t.Fatal(err)
	}
	out = must(t, d.vault("unlock-key", "--rotate", "--key-shares", "3", "--key-threshold", "2")).stdout
	shares := shareRE.FindAllString(out, -1)
	if len(shares) != 3 || strings.Contains(out, "Continuing") || strings.Contains(out, prep.Key) {
		t.Fatalf("a different request did not replace the prepared change:\n%s", out)
	}
	restart(d)
	if ok, msg := unlockWith(t, d, cred{shares: shares, threshold: 2}); !ok {
		t.Fatalf("the new shares: %s", msg)
	}
}

// TestKEKChangeStaleKEKFile: a manager that stopped after switching to the
// new KEK of `--autolock=true` but before removing its old KEK file starts
// locked (not as a damaged state dir), takes the new key, and then drops
// the old file.
func TestKEKChangeStaleKEKFile(t *testing.T) {
	d := startCluster(t, 1)[0]
	must(t, d.vaultIn([]byte("CANARY-VALUE-stale"), "secret", "create", "stale", "-"))
	old, err := os.ReadFile(filepath.Join(d.stateDir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	key := unlockKeyRE.FindString(must(t, d.vault("cluster", "update", "--autolock=true")).stdout)
	d.stop()
	if err := os.WriteFile(filepath.Join(d.stateDir, "kek"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	d.start()
	if !isLocked(t, d) {
		t.Fatal("a manager whose KEK file predates the change is not locked")
	}
	if ok, msg := unlockWith(t, d, cred{key: key}); !ok {
		t.Fatalf("the new key: %s", msg)
	}
	inspect(t, d, "stale")
	waitFor(t, "the old KEK file to go", 30*time.Second, func() bool { return kekFilesDone(d, true) })
}
