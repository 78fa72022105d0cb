package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/keys"
)

// ackedWrite is a secret write the CLI acknowledged.
type ackedWrite struct {
	name  string
	value []byte
	acked time.Time
}

// writer creates secrets through the managers in turn until stopped,
// recording each acknowledged write.
type writer struct {
	mu    sync.Mutex
	acked []ackedWrite
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(t *testing.T, prefix string, ds []*daemon) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			name := fmt.Sprintf("%s-%d", prefix, i)
			val := []byte(fmt.Sprintf("CANARY-VALUE-%s-%d-%s", prefix, i, randHex(8)))
			d := ds[i%len(ds)]
			if d.vaultIn(val, "secret", "create", name, "-").code == 0 {
				w.mu.Lock()
				w.acked = append(w.acked, ackedWrite{name, val, time.Now()})
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *writer) halt() []ackedWrite {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ackedWrite(nil), w.acked...)
}

// readSecret reads a secret's data the way a task does: through a private
// /run/secrets of `vault exec`.
func readSecret(t *testing.T, d *daemon, name string) []byte {
	t.Helper()
	r := must(t, d.vault("exec", "--secret", "source="+name+",target=s", "--", "cat", "/run/secrets/s"))
	return []byte(r.stdout)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type snapshotInspect struct {
	ClusterID string
	KeySource string
	Groups    []struct {
		Shard             uint64
		Secrets, Versions uint64
	}
	Integrity string
	KeyOpens  *bool
}

// TestSnapshotSaveRestore: three autolocked managers under writes; a
// snapshot saved on a follower while writing; a damaged, cut, foreign or
// wrongly keyed snapshot each refused with its own error, changing
// nothing; every manager destroyed; the snapshot restored onto new state
// dirs at new addresses; every write acknowledged before the save is there
// byte for byte with its version; the old unlock key opens the restored
// cluster; two new managers join it.
func TestSnapshotSaveRestore(t *testing.T) {
	needFUSE(t)
	ds := startCluster(t, 3)
	out := must(t, ds[0].vault("cluster", "update", "--autolock=true")).stdout
	key := unlockKeyRE.FindString(out)
	if key == "" {
		t.Fatalf("no unlock key in:\n%s", out)
	}
	cid := clusterID(t, ds[0])
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "unlock.key", key+"\n")

	// Secrets with labels and several versions, then writes while saving.
	must(t, ds[0].vaultIn([]byte("CANARY-VALUE-v1"), "secret", "create", "--label", "env=prod", "versioned", "-"))
	must(t, ds[1].vaultIn([]byte("CANARY-VALUE-v2"), "secret", "update", "versioned", "-"))
	must(t, ds[2].vaultIn([]byte("CANARY-VALUE-v3-latest"), "secret", "update", "versioned", "-"))
	wr := startWriter(t, "snapw", ds)
	waitFor(t, "some writes", 30*time.Second, func() bool {
		wr.mu.Lock()
		defer wr.mu.Unlock()
		return len(wr.acked) >= 5
	})
	file := filepath.Join(dir, "cluster.vsnap")
	saveStart := time.Now()
	r := must(t, ds[1].vault("snapshot", "save", file))
	if !strings.Contains(r.stderr, "saved to "+file) || strings.Contains(r.stderr, "Snapshot key") {
		t.Fatalf("save output: %s", r)
	}
	acked := wr.halt()
	var before []ackedWrite
	for _, a := range acked {
		if a.acked.Before(saveStart) {
			before = append(before, a)
		}
	}
	t.Logf("%d writes acknowledged, %d before the save", len(acked), len(before))
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".cluster.vsnap.tmp-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
	for _, d := range ds {
		if left, _ := filepath.Glob(filepath.Join(d.stateDir, "snapshot-tmp-*")); len(left) != 0 {
			t.Fatalf("working files left in %s: %v", d.stateDir, left)
		}
	}
	versions := map[string]inspected{}
	for _, a := range append(before, ackedWrite{name: "versioned"}) {
		versions[a.name] = inspect(t, ds[0], a.name)
	}

	// The canary scan: no name, no value in the snapshot file.
	c := canaries{}
	for _, a := range acked {
		c.add("value of "+a.name, a.value)
		c.add("name "+a.name, []byte(a.name))
	}
	for _, v := range []string{"CANARY-VALUE-v1", "CANARY-VALUE-v2", "CANARY-VALUE-v3-latest", "versioned", "env=prod"} {
		c.add(v, []byte(v))
	}
	if files, size := c.scan(t, file); files != 1 || size == 0 {
		t.Fatalf("scanned %d files, %d bytes", files, size)
	}

	// Inspect: counts without a key; with the key, the key opens it.
	var ins snapshotInspect
	r = must(t, runVault("", nil, "snapshot", "inspect", "--format", "json", file))
	if err := json.Unmarshal([]byte(r.stdout), &ins); err != nil {
		t.Fatal(err)
	}
	var secrets uint64
	for _, g := range ins.Groups {
		secrets += g.Secrets
	}
	if ins.ClusterID != cid || len(ins.Groups) != 5 || secrets < uint64(len(before)+1) || ins.KeyOpens != nil {
		t.Fatalf("inspect: %+v (%d secrets, %d written before the save)", ins, secrets, len(before))
	}
	r = must(t, runVault("", nil, "snapshot", "inspect", "--unlock-key-file", keyFile, file))
	if !strings.Contains(r.stdout, "the key opens the keyring") {
		t.Fatalf("inspect with key: %s", r)
	}

	// Every way a snapshot or key can be wrong, against a fresh node: a
	// distinct error, and the node stays out of any cluster.
	fresh := newDaemon(t)
	fresh.start()
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), orig...)
	flipped[len(flipped)/2] ^= 0x01
	other := newDaemon(t)
	other.start()
	must(t, other.vault("cluster", "init", "--shards", "1"))
	otherFile := filepath.Join(dir, "other.vsnap")
	must(t, other.vault("snapshot", "save", otherFile))
	otherOut := must(t, other.vault("snapshot", "save", "-"))
	if !strings.HasPrefix(otherOut.stdout, "VLTSNAP\n") || !strings.Contains(otherOut.stderr, "Snapshot key (autolock is off): VLTKEY-1-") {
		t.Fatalf("save to stdout: stderr %s", otherOut.stderr)
	}
	wrong, _ := keys.GenerateUnlockKey(cid)
	cases := []struct {
		name, file, key, want string
	}{
		{"truncated", writeFile(t, dir, "cut.vsnap", string(orig[:len(orig)*2/3])), keyFile, "snapshot file is truncated"},
		{"bit-flipped", writeFile(t, dir, "flip.vsnap", string(flipped)), keyFile, "snapshot file is corrupt: checksum mismatch"},
		{"another cluster", otherFile, keyFile, "the key and the snapshot belong to different clusters"},
		{"wrong key", file, writeFile(t, dir, "wrong.key", wrong.Text()), "wrong key for this snapshot"},
		{"not a snapshot", keyFile, keyFile, "not a vault snapshot file"},
	}
	for _, tc := range cases {
		mustFail(t, fresh.vault("cluster", "restore", "--unlock-key-file", tc.key, tc.file), tc.want)
		mustFail(t, runVault("", nil, "snapshot", "inspect", "--unlock-key-file", tc.key, tc.file), tc.want)
		var st struct{ Initialized bool }
		json.Unmarshal([]byte(must(t, fresh.vault("status", "--format", "json")).stdout), &st)
		if st.Initialized {
			t.Fatalf("%s: the refused restore initialized the node", tc.name)
		}
	}

	// Every manager destroyed; the snapshot restored onto new state dirs.
	for _, d := range ds {
		d.kill()
		os.RemoveAll(d.stateDir)
	}
	rs := []*daemon{fresh, newDaemon(t), newDaemon(t)}
	start := time.Now()
	r = must(t, fresh.vault("cluster", "restore", "--unlock-key-file", keyFile, file))
	t.Logf("restore took %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.stdout))
	if clusterID(t, fresh) != cid {
		t.Fatal("the restored cluster has another cluster id: the unlock key would not open it")
	}
	tok := strings.TrimSpace(must(t, fresh.vault("cluster", "join-token", "-q", "manager")).stdout)
	for _, d := range rs[1:] {
		d.start()
		must(t, d.vault("cluster", "join", "--token", tok, fresh.apiAddr))
	}
	if got := len(nodes(t, fresh)); got != 3 {
		t.Fatalf("restored cluster has %d managers, want 3", got)
	}
	for _, a := range before {
		for _, d := range []*daemon{rs[0], rs[2]} {
			if got := inspect(t, d, a.name); got.ID != versions[a.name].ID || got.Version != versions[a.name].Version {
				t.Fatalf("%s after restore: %+v, before %+v", a.name, got, versions[a.name])
			}
		}
		if got := readSecret(t, rs[1], a.name); string(got) != string(a.value) {
			t.Fatalf("%s after restore reads %q, want %q", a.name, got, a.value)
		}
	}
	v := inspect(t, rs[1], "versioned")
	if v.Version != 3 || v.ID != versions["versioned"].ID || v.Labels["env"] != "prod" || len(v.Versions) != 3 {
		t.Fatalf("versioned after restore: %+v", v)
	}
	if got := readSecret(t, rs[2], "versioned"); string(got) != "CANARY-VALUE-v3-latest" {
		t.Fatalf("versioned reads %q", got)
	}
	// Versions go on from where they were.
	must(t, rs[2].vaultIn([]byte("CANARY-VALUE-v4"), "secret", "update", "versioned", "-"))
	if v := inspect(t, rs[0], "versioned"); v.Version != 4 {
		t.Fatalf("update after restore made version %d, want 4", v.Version)
	}
	// The old unlock key opens a restarted manager of the restored cluster.
	restart(rs[0])
	if !isLocked(t, rs[0]) {
		t.Fatal("a restarted manager of the restored (autolocked) cluster is not locked")
	}
	must(t, rs[0].vaultIn([]byte(key+"\n"), "unlock"))
	inspect(t, rs[0], "versioned")
	c.scanLive(t, rs[0].stateDir, rs[1].stateDir, rs[2].stateDir)
}

// TestClusterRecover: three autolocked managers under writes, two killed
// for good; the survivor, restarted and so locked, refuses to recover
// until unlocked, then recovers with every write it had applied and takes
// two new managers.
func TestClusterRecover(t *testing.T) {
	needFUSE(t)
	ds := startCluster(t, 3)
	out := must(t, ds[0].vault("cluster", "update", "--autolock=true")).stdout
	key := unlockKeyRE.FindString(out)
	if key == "" {
		t.Fatalf("no unlock key in:\n%s", out)
	}
	wr := startWriter(t, "recw", ds)
	waitFor(t, "some writes", 30*time.Second, func() bool {
		wr.mu.Lock()
		defer wr.mu.Unlock()
		return len(wr.acked) >= 10
	})
	acked := wr.halt()
	survivor := ds[0]
	// Every acknowledged write is applied on the survivor before the others go.
	for _, a := range acked {
		inspect(t, survivor, a.name)
	}
	ds[1].kill()
	ds[2].kill()
	os.RemoveAll(ds[1].stateDir)
	os.RemoveAll(ds[2].stateDir)
	restart(survivor)
	if !isLocked(t, survivor) {
		t.Fatal("restarted survivor is not locked")
	}
	mustFail(t, survivor.vault("cluster", "recover", "--force"), "locked")
	must(t, survivor.vaultIn([]byte(key+"\n"), "unlock"))
	mustFail(t, survivor.vault("secret", "create", "noquorum", "-"), "")
	// Without a terminal to confirm on, it says what would be lost and stops.
	if r := survivor.vault("cluster", "recover"); r.code == 0 || !strings.Contains(r.stderr, "are lost") || !strings.Contains(r.stderr, "vault: error: not asking for confirmation") {
		t.Fatalf("recover without --force: %s", r)
	}
	r := must(t, survivor.vault("cluster", "recover", "--force"))
	if !strings.Contains(r.stderr, "are lost") || !strings.Contains(r.stdout, "2 managers removed") {
		t.Fatalf("recover output: %s", r)
	}
	for _, a := range acked {
		if got := readSecret(t, survivor, a.name); string(got) != string(a.value) {
			t.Fatalf("%s after recover reads %q, want %q", a.name, got, a.value)
		}
	}
	must(t, survivor.vaultIn([]byte("CANARY-VALUE-after-recover"), "secret", "create", "after-recover", "-"))
	tok := strings.TrimSpace(must(t, survivor.vault("cluster", "join-token", "-q", "manager")).stdout)
	var news []*daemon
	for range 2 {
		d := newDaemon(t)
		d.start()
		must(t, d.vault("cluster", "join", "--token", tok, survivor.apiAddr))
		news = append(news, d)
	}
	if got := len(nodes(t, survivor)); got != 3 {
		t.Fatalf("recovered cluster has %d managers, want 3", got)
	}
	for _, a := range acked[:3] {
		if got := readSecret(t, news[1], a.name); string(got) != string(a.value) {
			t.Fatalf("%s on a new manager reads %q", a.name, got)
		}
	}
	inspect(t, news[0], "after-recover")
	// Quorum is back: one of the three may go.
	news[1].kill()
	must(t, survivor.vaultIn([]byte("CANARY-VALUE-two-of-three"), "secret", "create", "two-of-three", "-"))
}

// TestSnapshotAutolockOff: with autolock off a snapshot is sealed for a
// snapshot key the save prints (or reads from a file), never for the KEK
// stored on the managers; that key restores it, and the restored cluster
// keeps autolock off.
func TestSnapshotAutolockOff(t *testing.T) {
	needFUSE(t)
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "2"))
	val := []byte("CANARY-VALUE-autolock-off-" + randHex(8))
	must(t, d.vaultIn(val, "secret", "create", "--label", "team=a", "offsecret", "-"))
	dir := t.TempDir()
	file := filepath.Join(dir, "off.vsnap")
	r := must(t, d.vault("snapshot", "save", file))
	key := unlockKeyRE.FindString(r.stderr)
	if key == "" || !strings.Contains(r.stderr, "Snapshot key (autolock is off)") {
		t.Fatalf("save printed no snapshot key: %s", r)
	}
	keyFile := writeFile(t, dir, "snap.key", key)
	// The same key again, from a file: no new key is printed.
	file2 := filepath.Join(dir, "off2.vsnap")
	r = must(t, d.vault("snapshot", "save", "--key-file", keyFile, file2))
	if strings.Contains(r.stderr, "VLTKEY-") {
		t.Fatalf("save with --key-file printed a key: %s", r)
	}
	must(t, runVault("", nil, "snapshot", "inspect", "--unlock-key-file", keyFile, file2))
	c := canaries{}
	c.add("value", val)
	c.add("name", []byte("offsecret"))
	c.add("snapshot key", []byte(key))
	c.scan(t, file, file2)

	restored := newDaemon(t)
	restored.start()
	must(t, restored.vault("cluster", "restore", "--unlock-key-file", keyFile, file2))
	if got := readSecret(t, restored, "offsecret"); string(got) != string(val) {
		t.Fatalf("restored secret reads %q", got)
	}
	if v := inspect(t, restored, "offsecret"); v.Labels["team"] != "a" {
		t.Fatalf("labels after restore: %+v", v)
	}
	// The old cluster still runs: neither side accepts the other's
	// certificate, on the manager API or the Raft port.
	oldCert, _ := nodeTLS(t, d)
	newCert, _ := nodeTLS(t, restored)
	for _, tc := range []struct {
		cert  tls.Certificate
		addrs []string
	}{{oldCert, []string{restored.apiAddr, restored.addr}}, {newCert, []string{d.apiAddr, d.addr}}} {
		for _, addr := range tc.addrs {
			conn, err := tls.Dial("tcp", addr, &tls.Config{Certificates: []tls.Certificate{tc.cert}, InsecureSkipVerify: true})
			if err != nil {
				continue
			}
			// TLS 1.3 reports a rejected client certificate on first use.
			conn.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprintf(conn, "GET /v1/peer/status HTTP/1.0\r\nHost: x\r\n\r\n")
			buf := make([]byte, 512)
			n, rerr := conn.Read(buf)
			conn.Close()
			if rerr == nil && n > 0 {
				t.Fatalf("%s answered the other cluster's certificate: %q", addr, buf[:n])
			}
		}
	}
	inspect(t, d, "offsecret")
	restart(restored)
	if isLocked(t, restored) {
		t.Fatal("a restored cluster with autolock off starts locked")
	}
	inspect(t, restored, "offsecret")
	c.scanLive(t, restored.stateDir)
}

// TestScheduledSnapshots: a daemon with --snapshot-interval saves snapshot
// files on its own, keeps the newest --snapshot-keep, seals them for the
// key file (autolock off), and each restores.
func TestScheduledSnapshots(t *testing.T) {
	dir := t.TempDir()
	snapDir := filepath.Join(dir, "snapshots")
	// A snapshot key is any unlock key of the cluster: made from the first
	// manual save below, then given to the daemon at its restart.
	d := newDaemon(t)
	mustFail(t, runVault(d.socket, nil, "daemon", "--state-dir", d.stateDir, "--snapshot-dir", snapDir), "need --snapshot-interval")
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	val := []byte("CANARY-VALUE-scheduled-" + randHex(8))
	must(t, d.vaultIn(val, "secret", "create", "scheduled", "-"))
	r := must(t, d.vault("snapshot", "save", filepath.Join(dir, "manual.vsnap")))
	keyFile := writeFile(t, dir, "snap.key", unlockKeyRE.FindString(r.stderr))
	d.stop()
	d.extra = []string{"--snapshot-interval", "1s", "--snapshot-dir", snapDir, "--snapshot-keep", "2", "--snapshot-key-file", keyFile}
	d.start()
	var files []string
	waitFor(t, "three scheduled snapshots, two kept", 30*time.Second, func() bool {
		files, _ = filepath.Glob(filepath.Join(snapDir, "vault-snapshot-*.vsnap"))
		return len(files) == 2 && strings.Contains(d.logs.String(), "scheduled snapshot saved") &&
			strings.Count(d.logs.String(), "scheduled snapshot saved") >= 3
	})
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
		must(t, runVault("", nil, "snapshot", "inspect", "--unlock-key-file", keyFile, f))
	}
	c := canaries{}
	c.add("value", val)
	c.add("name", []byte("scheduled"))
	c.scan(t, snapDir)
	restored := newDaemon(t)
	restored.start()
	must(t, restored.vault("cluster", "restore", "--unlock-key-file", keyFile, files[len(files)-1]))
	inspect(t, restored, "scheduled")
}
