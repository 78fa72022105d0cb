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
	"slices"
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
	return tryUnlock(d.socket, c)
}

// tryUnlock runs `vault unlock` on a manager's socket with one credential
// (each share in turn up to the threshold); true if it is unlocked after.
func tryUnlock(socket string, c cred) (bool, string) {
	if c.key != "" {
		r := runVault(socket, []byte(c.key), "unlock")
		return r.code == 0 && !lockedAt(socket), r.stderr
	}
	var last result
	for _, s := range c.shares[:c.threshold] {
		last = runVault(socket, []byte(s), "unlock")
		if last.code != 0 {
			return false, last.stderr
		}
	}
	return !lockedAt(socket), last.stderr
}

// lockedAt reports whether the manager on socket says it is locked (true
// if it does not answer).
func lockedAt(socket string) bool {
	r := runVault(socket, nil, "status", "--format", "json")
	var s struct {
		Locked bool `json:"Locked"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil {
		return true
	}
	return s.Locked
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
// each trial the checks of kekTrials.settle hold. VAULT_KEK_TRIALS sets the
// trials per cluster size, VAULT_KEK_SEED the seed.
func TestKEKChangeCrash(t *testing.T) {
	trials, seed := kekTrialParams(t, 3)
	for _, n := range []int{3, 2} {
		t.Run(fmt.Sprintf("%d-managers", n), func(t *testing.T) {
			var ms []kekManager
			for _, d := range startCluster(t, n) {
				ms = append(ms, d)
			}
			k := newKEKTrials(t, ms, seed+uint64(n))
			for trial := range trials {
				k.crashTrial(trial)
			}
			k.finish()
		})
	}
}

// kekTrialParams reads VAULT_KEK_TRIALS (trials per cluster size, def if
// unset) and VAULT_KEK_SEED (default: random, logged).
func kekTrialParams(t *testing.T, def int) (int, uint64) {
	t.Helper()
	trials := envInt(t, "VAULT_KEK_TRIALS", def)
	seed := uint64(time.Now().UnixNano() % 1_000_000_000)
	if s := os.Getenv("VAULT_KEK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VAULT_KEK_SEED=%q: want a number", s)
		}
		seed = v
	}
	t.Logf("seed %d (VAULT_KEK_SEED=%d repeats it), %d trials per cluster size", seed, seed, trials)
	return trials, seed
}

// kekManager is a manager the KEK-change trials fault and restart: a
// daemon on loopback, or a node in a network namespace of its own.
type kekManager interface {
	base() *daemon
	start() // starts it and waits until it serves its socket
	stop()  // SIGTERM and a clean exit
	kill()
	allLogs() string
}

func (d *daemon) base() *daemon { return d }

func (d *daemon) allLogs() string {
	if d.logs == nil {
		return strings.Join(d.earlier, "")
	}
	return strings.Join(append(d.earlier, d.logs.String()), "")
}

func (n *node) allLogs() string { return n.log() }

// kekTrials runs KEK changes against a cluster, one fault each, and checks
// after each what an operator relies on: the keys shown, the secrets
// acknowledged, the files on every manager.
type kekTrials struct {
	t        *testing.T
	ms       []kekManager
	ds       []*daemon
	rng      *rand.Rand
	rt       *rafttool
	shown    []cred
	autolock bool
	acked    map[string]int
	counts   map[string]int
}

func newKEKTrials(t *testing.T, ms []kekManager, seed uint64) *kekTrials {
	k := &kekTrials{t: t, ms: ms, rng: rand.New(rand.NewPCG(seed, 0x4b454b)), rt: buildRafttool(t),
		acked: map[string]int{}, counts: map[string]int{}}
	for _, m := range ms {
		k.ds = append(k.ds, m.base())
	}
	return k
}

// begin writes a secret the trial must keep and draws the change to run.
func (k *kekTrials) begin(trial int) kekOp {
	t, rng, n := k.t, k.rng, len(k.ms)
	name := fmt.Sprintf("kek%d", trial)
	data := []byte(fmt.Sprintf("CANARY-VALUE-kek-%d-%d", trial, rng.Uint64()))
	retryTransient(t, "create "+name, func() result { return k.ds[rng.IntN(n)].vaultIn(data, "secret", "create", name, "-") }, "already exists")
	k.acked[name] = len(data)
	if !k.autolock {
		return opOn
	}
	return []kekOp{opRotate, opReshare, opOff}[rng.IntN(3)]
}

// crashTrial runs one change and kills the coordinator, another manager,
// or (on three) two, with SIGKILL at a random offset.
func (k *kekTrials) crashTrial(trial int) {
	rng, n, ds := k.rng, len(k.ms), k.ds
	op := k.begin(trial)
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
		k.ms[v].kill()
	}
	first := <-done
	k.settle(note, trial, op, coord, first, victims)
}

// settle checks a trial once its fault ended (first: the command's first
// run; down: the managers it killed):
//   - every manager, restarted (the killed ones started), unlocks with a
//     key the operator was shown, old or new;
//   - running the command again finishes an interrupted change, showing
//     the key it showed the first time;
//   - every manager then holds the same KEK and none of the change's files,
//     and every acknowledged secret reads back on every manager;
//   - each manager, stopped, passes vault-rafttool verify with the newest
//     key shown, and restarted unlocks with it;
//   - no daemon panicked.
func (k *kekTrials) settle(note string, trial int, op kekOp, coord int, first result, down []int) {
	t, n, ds := k.t, len(k.ms), k.ds
	t.Helper()
	k.shown = append(k.shown, shownCreds(first.stdout, fmt.Sprintf("trial %d first run", trial))...)
	note += fmt.Sprintf("; command exit %d %s", first.code, firstLine(first.stderr))

	// Mid-change, every manager comes back with a key shown: the killed
	// ones start, and if the change may be half done the others restart.
	for i, m := range k.ms {
		switch {
		case slices.Contains(down, i):
			m.start()
		case first.code != 0:
			m.stop()
			m.start()
		default:
			continue
		}
		note += fmt.Sprintf("; manager %d unlocked with %s", i, unlockShown(t, ds[i], k.shown))
	}
	// Running the command again finishes the change, with the key it
	// showed the first time.
	if first.code != 0 {
		again := finishKEKChange(t, note, ds[(coord+1)%n], op, first)
		k.shown = append(k.shown, shownCreds(again.stdout, fmt.Sprintf("trial %d second run", trial))...)
		note += "; finished by running it again"
		k.counts["resumed"]++
	}
	k.autolock = op.autolock
	k.counts[op.name]++
	t.Log(note)

	waitKEKSettled(t, ds, k.autolock)
	for _, d := range ds {
		for name, size := range k.acked {
			if got := readBack(t, d, name); got.Size != size {
				t.Fatalf("%s\nsecret %s on manager %s: size %d, want %d", note, name, d.addr, got.Size, size)
			}
		}
	}
	var newest *cred
	if k.autolock {
		newest = &k.shown[len(k.shown)-1]
	}
	for _, m := range k.ms {
		restartVerified(t, k.rt, m, newest, note)
	}
	for i, m := range k.ms {
		if strings.Contains(m.allLogs(), "panic:") {
			t.Fatalf("%s\nmanager %d panicked", note, i)
		}
	}
}

// finish logs what the trials did.
func (k *kekTrials) finish() {
	k.t.Logf("%d managers: %v, %d keys shown", len(k.ms), k.counts, len(k.shown))
}

// finishKEKChange runs an interrupted change's command again through via
// until it finishes (or says there is nothing to do), for up to 90s, and
// checks that a resumed change shows the key of the first run.
func finishKEKChange(t *testing.T, note string, via *daemon, op kekOp, first result) result {
	t.Helper()
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
	a, f := shownCreds(again.stdout, ""), shownCreds(first.stdout, "")
	if len(f) > 0 && len(a) > 0 && strings.Contains(again.stdout, "Continuing") &&
		(f[0].key != a[0].key || strings.Join(f[0].shares, ",") != strings.Join(a[0].shares, ",")) {
		t.Fatalf("%s\nthe resumed change shows another key:\nfirst: %s\nagain: %s", note, first.stdout, again.stdout)
	}
	return again
}

// waitKEKSettled waits until every manager is unlocked, on the same KEK
// version, without the files of a change in progress.
func waitKEKSettled(t *testing.T, ds []*daemon, autolock bool) {
	t.Helper()
	waitFor(t, "every manager on the same KEK version, with the change's files gone", 60*time.Second, func() bool {
		v := kekVersion(t, ds[0])
		for _, d := range ds {
			if isLocked(t, d) || kekVersion(t, d) != v || !kekFilesDone(d, autolock) {
				return false
			}
		}
		return true
	})
}

// restartVerified stops a manager, runs vault-rafttool verify on its state
// dir with key (nil: autolock is off, the KEK file opens it), starts it
// again and unlocks it with key.
func restartVerified(t *testing.T, rt *rafttool, m kekManager, key *cred, note string) {
	t.Helper()
	d := m.base()
	m.stop()
	verifyState(t, rt, d, key, note)
	m.start()
	if key == nil {
		if isLocked(t, d) {
			t.Fatalf("%s\nmanager %s starts locked with autolock off", note, d.addr)
		}
		return
	}
	if ok, msg := unlockWith(t, d, *key); !ok {
		t.Fatalf("%s\nafter the change, restarted manager %s refuses the newest key shown (%s): %s", note, d.addr, key.label, msg)
	}
}

// verifyState runs vault-rafttool verify on a stopped manager's state dir
// with key: a whole key, or as many of its shares as the threshold (nil:
// autolock is off, the KEK file opens it).
func verifyState(t *testing.T, rt *rafttool, d *daemon, key *cred, note string) {
	t.Helper()
	var args []string
	if key != nil {
		dir := t.TempDir()
		write := func(name, text string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(text+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if key.key != "" {
			args = []string{"--unlock-key-file", write("key", key.key)}
		}
		for i, s := range key.shares[:min(len(key.shares), key.threshold)] {
			args = append(args, "--unlock-share-file", write(fmt.Sprintf("share%d", i), s))
		}
	}
	r := rt.run(t, nil, append(append([]string{"-d", d.stateDir}, args...), "verify")...)
	if r.code != 0 || !strings.Contains(r.stdout, "No integrity failures.") {
		t.Fatalf("%s\nvault-rafttool verify on manager %s: %s", note, d.addr, r)
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
