package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/keys"
)

// rafttool is the vault-rafttool binary, built for the test that uses it.
type rafttool struct {
	bin string
	tmp string // its TMPDIR: must be empty after every run
}

func buildRafttool(t *testing.T) *rafttool {
	t.Helper()
	dir := t.TempDir()
	rt := &rafttool{bin: filepath.Join(dir, "vault-rafttool"), tmp: filepath.Join(dir, "tmp")}
	if err := os.Mkdir(rt.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", rt.bin, "../cmd/vault-rafttool")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building vault-rafttool: %v\n%s", err, out)
	}
	return rt
}

// run runs the tool with stdin and checks that it left no temporary files.
func (rt *rafttool) run(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rt.bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+rt.tmp)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	r := result{}
	if err := cmd.Run(); err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	r.stdout, r.stderr = out.String(), errb.String()
	if left, _ := os.ReadDir(rt.tmp); len(left) != 0 {
		t.Fatalf("vault-rafttool %v left %d files in its temporary directory", args, len(left))
	}
	return r
}

// toolFail fails the test unless r failed with an error line holding want.
func toolFail(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("vault-rafttool succeeded, want failure: %s", r)
	}
	if !strings.Contains(r.stderr, "vault-rafttool: error: ") {
		t.Fatalf("no 'vault-rafttool: error:' line: %s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr lacks %q: %s", w, r)
		}
	}
}

// dirListing describes every file and directory under root: path, size and
// modification time.
func dirListing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// waitQuiet waits until a state dir's listing has not changed for a second,
// and returns it.
func waitQuiet(t *testing.T, dir string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last, same := dirListing(t, dir), 0
	for same < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%s kept changing for 30s", dir)
		}
		time.Sleep(200 * time.Millisecond)
		l := dirListing(t, dir)
		if l == last {
			same++
		} else {
			last, same = l, 0
		}
	}
	return last
}

// copyTree copies a stopped node's state dir.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var walEntryRE = regexp.MustCompile(`^Entry Index=(\d+), Term=\d+, Type=`)

// checkIndexOrder checks that every shard's entries in a text dump-wal
// follow each other without gaps, and returns how many there are.
func checkIndexOrder(t *testing.T, out string) int {
	t.Helper()
	n, prev := 0, 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "shard ") {
			prev = 0
			continue
		}
		m := walEntryRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[1])
		if prev != 0 && idx != prev+1 {
			t.Fatalf("entry %d follows entry %d", idx, prev)
		}
		prev = idx
		n++
	}
	return n
}

// TestRafttool runs vault-rafttool against a live node's state dir the way
// an operator would: dumps in index order with the right operations, with
// and without --redact, objects as they stand, a decrypted copy, verify;
// then the node's autolock, the locked node and bad keys, and damage.
func TestRafttool(t *testing.T) {
	rt := buildRafttool(t)
	d := newDaemon(t, "--snapshot-entries", "25")
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "2"))
	// Enough entries for snapshots and log compaction in both secret shards.
	var values []string
	for i := range 60 {
		v := fmt.Sprintf("RAFTTOOL-VALUE-%d-%s", i, randHex(8))
		values = append(values, v)
		must(t, d.vaultIn([]byte(v), "secret", "create", fmt.Sprintf("rt%02d", i), "-"))
	}
	must(t, d.vaultIn([]byte("RAFTTOOL-VALUE-updated"), "secret", "update", "rt00", "-"))
	must(t, d.vault("secret", "rm", "rt01"))
	// A restart: the databases replay their logs into tables.
	d.stop()
	d.start()
	// The newest entries, whose operations the dump must show.
	tail1, tail2 := "RAFTTOOL-TAIL-"+randHex(8), "RAFTTOOL-TAIL-"+randHex(8)
	values = append(values, tail1, tail2)
	tailID := strings.TrimSpace(must(t, d.vaultIn([]byte(tail1), "secret", "create", "tailsecret", "-")).stdout)
	must(t, d.vaultIn([]byte(tail2), "secret", "update", "tailsecret", "-"))
	rmID := inspect(t, d, "rt02").ID
	must(t, d.vault("secret", "rm", "rt02"))

	dir := []string{"-d", d.stateDir}
	// The node's own writes settle first (a group whose leader is elected
	// late after the restart persists its vote then); from here on only
	// the tool runs, and it must change nothing.
	before := waitQuiet(t, d.stateDir)

	// dump-wal: every entry of every shard, in index order.
	r := must(t, rt.run(t, nil, append(dir, "dump-wal")...))
	if n := checkIndexOrder(t, r.stdout); n < 20 {
		t.Fatalf("dump-wal printed %d entries:\n%s", n, r.stdout)
	}
	create := strings.Index(r.stdout, "secret id="+tailID+` name="tailsecret"`)
	update := strings.LastIndex(r.stdout, "secret id="+tailID+` name="tailsecret"`)
	remove := strings.Index(r.stdout, "secret id="+rmID+` name="rt02"`)
	if create < 0 || update <= create || remove < 0 {
		t.Fatalf("dump-wal lacks the tail operations (create %d, update %d, rm %d):\n%s", create, update, remove, r.stdout)
	}
	for _, w := range []struct {
		at   int
		want string
	}{{create, "secret.create"}, {update, "secret.update"}, {remove, "secret.rm"}} {
		if op := lastOp(r.stdout[:w.at]); op != w.want {
			t.Fatalf("the entry at %d is %q, want %q", w.at, op, w.want)
		}
	}
	if !strings.Contains(r.stdout[create:], strconv.Quote(tail1)) || !strings.Contains(r.stdout[update:], strconv.Quote(tail2)) {
		t.Fatal("dump-wal does not show the data")
	}
	for _, op := range []string{"keyring.set", "cluster.set", "config change AddNode", "Type=empty"} {
		if !strings.Contains(r.stdout, op) {
			t.Errorf("dump-wal shows no %s", op)
		}
	}
	// KEK versions as `vault status` shows them, from 1.
	if !strings.Contains(r.stdout, "keyring: wrapped under KEK v1,") || strings.Contains(r.stdout, "KEK v2147483") {
		t.Errorf("dump-wal does not show the KEK as v1:\n%s", r.stdout)
	}

	// --redact: the same entries, no data.
	r = must(t, rt.run(t, nil, append(dir, "dump-wal", "--redact")...))
	for _, v := range values {
		if strings.Contains(r.stdout, v) {
			t.Fatalf("dump-wal --redact printed %s", v)
		}
	}
	if !strings.Contains(r.stdout, "[REDACTED]") || !strings.Contains(r.stdout, `name="tailsecret"`) {
		t.Fatalf("dump-wal --redact:\n%s", r.stdout)
	}

	// JSON.
	r = must(t, rt.run(t, nil, append(dir, "dump-wal", "--format", "json", "--shard", "1")...))
	var logs []struct {
		Shard   uint64
		Entries []struct {
			Index   uint64
			Type    string
			Command *struct{ Op string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &logs); err != nil || len(logs) != 1 || logs[0].Shard != 1 || len(logs[0].Entries) < 4 {
		t.Fatalf("dump-wal json: %v\n%s", err, r.stdout)
	}

	// dump-object: the current object, replayed from the state and the log.
	r = must(t, rt.run(t, nil, append(dir, "dump-object", "secret", "--name", "tailsecret")...))
	if !strings.Contains(r.stdout, "version 2:") || !strings.Contains(r.stdout, strconv.Quote(tail2)) {
		t.Fatalf("dump-object:\n%s", r.stdout)
	}
	toolFail(t, rt.run(t, nil, append(dir, "dump-object", "secret", "--name", "rt02")...), `no secret named "rt02"`)
	if r = must(t, rt.run(t, nil, append(dir, "dump-object", "secret", "--redact", "--name", "rt00")...)); strings.Contains(r.stdout, "RAFTTOOL-VALUE") {
		t.Fatalf("dump-object --redact:\n%s", r.stdout)
	}

	// dump-snapshot: members, then objects.
	r = must(t, rt.run(t, nil, append(dir, "dump-snapshot")...))
	if !strings.Contains(r.stdout, "Active members:\n    replica 1  "+d.addr) || !strings.Contains(r.stdout, `secret "rt03"`) {
		t.Fatalf("dump-snapshot:\n%s", r.stdout)
	}

	// decrypt: a new directory, never an existing one.
	out := filepath.Join(t.TempDir(), "decrypted")
	r = must(t, rt.run(t, nil, append(dir, "decrypt", "-o", out)...))
	if !strings.Contains(r.stderr, "plaintext") {
		t.Fatalf("decrypt gave no plaintext warning: %s", r)
	}
	if b, err := os.ReadFile(filepath.Join(out, "secrets", "tailsecret", "v2")); err != nil || string(b) != tail2 {
		t.Fatalf("decrypted tailsecret v2 = %q, %v", b, err)
	}
	toolFail(t, rt.run(t, nil, append(dir, "decrypt", "-o", out)...), "already exists: refusing to overwrite it")

	// verify: everything opens; the report names the key versions.
	r = must(t, rt.run(t, nil, append(dir, "verify")...))
	if !regexp.MustCompile(`(?m)^v1\s+active\s+yes\s+\d+`).MatchString(r.stdout) || !strings.Contains(r.stdout, "No integrity failures.") {
		t.Fatalf("verify:\n%s", r.stdout)
	}

	if after := dirListing(t, d.stateDir); after != before {
		t.Fatalf("the tool changed the live state dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The daemon serves while the tool reads its state dir.
	var wg sync.WaitGroup
	var failed []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 15 {
			if r := d.vaultIn([]byte("RAFTTOOL-CONCURRENT"), "secret", "create", fmt.Sprintf("during%d", i), "-"); r.code != 0 {
				mu.Lock()
				failed = append(failed, r.String())
				mu.Unlock()
			}
		}
	}()
	for range 2 {
		must(t, rt.run(t, nil, append(dir, "verify")...))
		must(t, rt.run(t, nil, append(dir, "dump-wal", "--redact")...))
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("the daemon failed while the tool ran: %s", failed[0])
	}
	for i := range 15 {
		inspect(t, d, fmt.Sprintf("during%d", i))
	}

	// Autolock on: the node keeps no KEK file; the tool needs the key.
	outAL := must(t, d.vault("cluster", "update", "--autolock=true")).stdout
	key := unlockKeyRE.FindString(outAL)
	if key == "" {
		t.Fatalf("no unlock key in:\n%s", outAL)
	}
	if _, err := os.Stat(filepath.Join(d.stateDir, "kek")); err == nil {
		t.Fatal("the KEK file is still there with autolock on")
	}
	keyFile := filepath.Join(t.TempDir(), "unlock-key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	toolFail(t, rt.run(t, nil, append(dir, "dump-wal")...), "this node is locked: pass --unlock-key")
	// The new KEK is v2 in the tool, in status and in the daemon's log.
	r = must(t, rt.run(t, nil, append(dir, "--unlock-key-file", keyFile, "dump-wal", "--redact")...))
	if !strings.Contains(r.stdout, "keyring: wrapped under KEK v2,") || strings.Contains(r.stdout, "KEK v2147483") {
		t.Errorf("dump-wal after autolock does not show the KEK as v2:\n%s", r.stdout)
	}
	if v := kekVersion(t, d); v != 2 {
		t.Errorf("status shows KEK v%d, want 2", v)
	}
	if log := d.logs.String(); !strings.Contains(log, "kek_version=2 ") || strings.Contains(log, "kek_version=2147483") {
		t.Errorf("the daemon's log does not show the KEK as v2:\n%s", log)
	}
	r = must(t, rt.run(t, nil, append(dir, "--unlock-key-file", keyFile, "verify")...))
	if !regexp.MustCompile(`(?m)^v1\s+old\s+yes`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^v2\s+active\s+yes`).MatchString(r.stdout) {
		t.Fatalf("verify after autolock (a new DEK):\n%s", r.stdout)
	}
	r = must(t, rt.run(t, []byte(key), append(dir, "--unlock-key-file", "-", "dump-object", "secret", "--name", "tailsecret")...))
	if !strings.Contains(r.stdout, strconv.Quote(tail2)) {
		t.Fatalf("dump-object with the unlock key:\n%s", r.stdout)
	}
	typo := []byte(key)
	typo[20] = map[bool]byte{true: 'B', false: 'A'}[typo[20] == 'A']
	toolFail(t, rt.run(t, nil, append(dir, "--unlock-key", string(typo), "dump-wal")...), "typo")
	wrong, _ := keys.GenerateUnlockKey(clusterID(t, d))
	toolFail(t, rt.run(t, nil, append(dir, "--unlock-key", wrong.Text(), "dump-wal")...), "wrong unlock key")
	foreign, _ := keys.GenerateUnlockKey("another-cluster")
	toolFail(t, rt.run(t, nil, append(dir, "--unlock-key", foreign.Text(), "dump-wal")...), "belongs to another cluster")
	toolFail(t, rt.run(t, nil, "-d", t.TempDir(), "dump-wal"), "is not a vault state dir: no node.json")
	must(t, d.vault("status"))

	// Damage: a flipped byte in a table makes verify fail and name the file.
	d.stop()
	var tables []string
	for _, db := range []string{"state", "raft"} {
		filepath.WalkDir(filepath.Join(d.stateDir, db), func(p string, e fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".sst") {
				rel, _ := filepath.Rel(d.stateDir, p)
				tables = append(tables, rel)
				return fs.SkipAll // one table of each kind of database
			}
			return nil
		})
	}
	if len(tables) != 2 {
		t.Fatalf("want a table in state/ and in raft/, found %v", tables)
	}
	for _, table := range tables {
		cp := filepath.Join(t.TempDir(), "state")
		copyTree(t, d.stateDir, cp)
		p := filepath.Join(cp, table)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x10
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r := rt.run(t, nil, "-d", cp, "--unlock-key-file", keyFile, "verify")
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, p) {
			t.Fatalf("verify with %s damaged: %s", table, r)
		}
	}
}

// lastOp returns the operation of the last command entry in s.
func lastOp(s string) string {
	i := strings.LastIndex(s, "\nEntry Index=")
	if i < 0 {
		return ""
	}
	lines := strings.SplitN(s[i+1:], "\n", 3)
	if len(lines) < 2 {
		return ""
	}
	return strings.Fields(lines[1])[0]
}
