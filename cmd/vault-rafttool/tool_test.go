package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/internal/logdb"
	"github.com/vaultd/vault/keys"
)

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// tool runs the command in-process against the fixture's state dir.
func (f *fixture) tool(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{progName, "-d", f.dir, "--temp-dir", t.TempDir()}, args...)
	code := run(full, strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func ok(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("command failed: %s", r)
	}
	return r
}

// fails checks the exit code and that stderr starts with the error line and
// holds every wanted string.
func fails(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d: %s", r.code, code, r)
	}
	if !strings.Contains(r.stderr, progName+": error: ") {
		t.Fatalf("no error line: %s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr lacks %q: %s", w, r)
		}
	}
}

// listing describes every file under dir: name, size and modification time.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		lines = append(lines, fmt.Sprintf("%s %d %d", p, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

var entryRE = regexp.MustCompile(`(?m)^Entry Index=(\d+), Term=\d+, Type=(\S+?)(,|$| )`)

func TestDumpWAL(t *testing.T) {
	f := newFixture(t, false)
	before := listing(t, f.dir)
	r := ok(t, f.tool(t, "", "dump-wal", "--shard", "2"))
	var got []string
	for _, m := range entryRE.FindAllStringSubmatch(r.stdout, -1) {
		got = append(got, m[1]+":"+m[2])
	}
	if want := "1:config-change 2:empty 3:command 4:command 5:command 6:command 7:command 8:command"; strings.Join(got, " ") != want {
		t.Fatalf("entries %v, want %s\n%s", got, want, r.stdout)
	}
	for _, w := range []string{
		"config change AddNode: replica 1 at " + fixtureAddr + " (initial member)",
		"keyring.set", "keyring epoch 1",
		`secret.create`, `secret id=alphaid name="alpha"`, `"ALPHA-ONE"`,
		`secret.update`, `"ALPHA-TWO"`, `expected-gen=4`,
		`secret.rm`, `secret id=betaid name="beta" expected-gen=5`,
		"DEK v1",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("dump-wal lacks %q", w)
		}
	}
	// Operations in index order.
	ops := regexp.MustCompile(`(?m)^    (keyring\.set|secret\.\w+)`).FindAllString(r.stdout, -1)
	if s := strings.Join(ops, ","); s != "    keyring.set,    secret.create,    secret.create,    secret.update,    secret.rm,    secret.create" {
		t.Fatalf("ops %s", s)
	}

	// --redact: names stay, data goes.
	r = ok(t, f.tool(t, "", "dump-wal", "--redact"))
	for _, secret := range []string{"ALPHA-ONE", "ALPHA-TWO", "BETA-ONE", "GAMMA-ONE", "FIXTURE-CA-KEY", "FIXTURE-TOKEN", "4649585455524", "FIXTURE-UNLOCK-KEY"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("--redact printed %s", secret)
		}
	}
	if !strings.Contains(r.stdout, `name="gamma"`) || !strings.Contains(r.stdout, redactedText) {
		t.Errorf("--redact output lacks names or the placeholder:\n%s", r.stdout)
	}

	// JSON, with a range.
	r = ok(t, f.tool(t, "", "dump-wal", "--format", "json", "--shard", "2", "--start", "4", "--end", "6"))
	var logs []shardLogView
	if err := json.Unmarshal([]byte(r.stdout), &logs); err != nil || len(logs) != 1 {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	l := logs[0]
	if l.Commit != 8 || len(l.Entries) != 3 || l.Entries[0].Index != 4 || l.Entries[2].Command.Secret.Data == nil ||
		string(l.Entries[2].Command.Secret.Data.Data) != "ALPHA-TWO" {
		t.Fatalf("json log: %+v", l)
	}
	if after := listing(t, f.dir); after != before {
		t.Fatalf("the state dir changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestDumpObjectReplaysTheLog(t *testing.T) {
	f := newFixture(t, false)
	// The state database stops at index 5: the update of alpha (6), the
	// removal of beta (7) and gamma (8) come from the log.
	r := ok(t, f.tool(t, "", "dump-object", "secret", "--name", "alpha"))
	if !strings.Contains(r.stdout, `data v2 (9 bytes, DEK v1): "ALPHA-TWO"`) || !strings.Contains(r.stdout, "gen=6") {
		t.Fatalf("alpha:\n%s", r.stdout)
	}
	ok(t, f.tool(t, "", "dump-object", "secret", "--name", "gamma"))
	fails(t, f.tool(t, "", "dump-object", "secret", "--name", "beta"), exitError, `no secret named "beta"`, "dump-wal shows")
	r = ok(t, f.tool(t, "", "dump-object", "--format", "json", "--redact", "secret", "--id", "gam"))
	var objs []objectView
	if err := json.Unmarshal([]byte(r.stdout), &objs); err != nil || len(objs) != 1 || objs[0].Secret.Name != "gamma" ||
		!objs[0].Data[0].Redacted || objs[0].Data[0].Data != nil {
		t.Fatalf("json: %v %s", err, r.stdout)
	}
	r = ok(t, f.tool(t, "", "dump-object", "cluster"))
	if !strings.Contains(r.stdout, "FIXTURE-CA-KEY") || !strings.Contains(r.stdout, "unlock key: VLTKEY-1-FIXTURE-UNLOCK-KEY") ||
		!strings.Contains(r.stdout, "member node=fixturenode replica=1") {
		t.Fatalf("cluster:\n%s", r.stdout)
	}
	if r = ok(t, f.tool(t, "", "dump-object", "cluster", "--redact")); strings.Contains(r.stdout, "FIXTURE") {
		t.Fatalf("--redact cluster:\n%s", r.stdout)
	}
	r = ok(t, f.tool(t, "", "dump-object", "node", "--name", fixtureHost))
	if !strings.Contains(r.stdout, "this node (hostname "+fixtureHost+")") || !strings.Contains(r.stdout, "shards 1, 2") {
		t.Fatalf("node:\n%s", r.stdout)
	}
	r = ok(t, f.tool(t, "", "dump-object", "key", "--id", "1"))
	if !strings.Contains(r.stdout, "DEK v1  active") {
		t.Fatalf("key:\n%s", r.stdout)
	}
	fails(t, f.tool(t, "", "dump-object", "key", "--id", "7"), exitError, "no DEK v7")
	fails(t, f.tool(t, "", "dump-object", "task"), exitError, "no task objects")
	fails(t, f.tool(t, "", "dump-object", "widget"), exitError, `unknown object type "widget"`)
	fails(t, f.tool(t, "", "dump-object", "secret", "--name", "a", "--id", "b"), exitError, "both given")
}

func TestDumpSnapshot(t *testing.T) {
	f := newFixture(t, false)
	r := ok(t, f.tool(t, "", "dump-snapshot", "--shard", "2"))
	for _, w := range []string{
		"Raft snapshot: index 4, term 2",
		"Active members:\n    replica 1  " + fixtureAddr,
		"Removed members:\n    replica 3",
		fmt.Sprintf("Objects (state at applied index %d, generation 1):", stateApplied),
		`secret "beta" id=betaid`, `data v1 (8 bytes, its own data key): "BETA-ONE"`,
		"a stream received from a peer, sealed under DEK v1:",
		fmt.Sprintf("applied index %d", snapshotApplied),
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("dump-snapshot lacks %q:\n%s", w, r.stdout)
		}
	}
	// The stream (index 4) has alpha but not beta (5).
	stream := r.stdout[strings.Index(r.stdout, "Snapshot file"):]
	if !strings.Contains(stream, `"ALPHA-ONE"`) || strings.Contains(stream, "beta") {
		t.Errorf("stream contents:\n%s", stream)
	}
	r = ok(t, f.tool(t, "", "dump-snapshot", "--format", "json", "--redact"))
	var views []shardSnapshotView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 2 {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if strings.Contains(r.stdout, "ALPHA") || len(views[1].Files) != 1 || !views[1].Files[0].Stream {
		t.Fatalf("json snapshot: %s", r.stdout)
	}
}

func TestDecrypt(t *testing.T) {
	f := newFixture(t, false)
	out := filepath.Join(t.TempDir(), "plain")
	r := ok(t, f.tool(t, "", "decrypt", "-o", out))
	if !strings.Contains(r.stderr, "plaintext") {
		t.Fatalf("no plaintext warning: %s", r)
	}
	for name, want := range map[string]string{
		"secrets/alpha/v1": "ALPHA-ONE", "secrets/alpha/v2": "ALPHA-TWO", "secrets/gamma/v1": "GAMMA-ONE",
	} {
		if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "secrets/beta")); err == nil {
		t.Error("the removed secret's data was written")
	}
	for _, name := range []string{"README", "node.json", "wal/shard-1.json", "wal/shard-2.json", "state/shard-2.json", "snapshots/shard-2/snapshot-4.json"} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("output dir: %v %v", fi, err)
	}
	fails(t, f.tool(t, "", "decrypt", "-o", out), exitError, "already exists: refusing to overwrite it")
	empty := t.TempDir()
	fails(t, f.tool(t, "", "decrypt", "-o", empty), exitError, "already exists")

	red := filepath.Join(t.TempDir(), "redacted")
	ok(t, f.tool(t, "", "decrypt", "--redact", "-o", red))
	filepath.WalkDir(red, func(p string, e fs.DirEntry, err error) error {
		if b, _ := os.ReadFile(p); e.Type().IsRegular() && (bytes.Contains(b, []byte("ALPHA")) || bytes.Contains(b, []byte("FIXTURE"))) {
			t.Errorf("--redact wrote secret data into %s", p)
		}
		return nil
	})
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*")); len(left) != 0 {
		t.Fatalf("temporary directories left: %v", left)
	}
}

func TestVerify(t *testing.T) {
	f := newFixture(t, false)
	r := ok(t, f.tool(t, "", "verify"))
	// Five stored values, four under DEK v1: gamma's data is under its own
	// data key.
	if !regexp.MustCompile(`(?m)^v1\s+active\s+yes\s+8\s+1\s+4\s+5$`).MatchString(r.stdout) || !strings.Contains(r.stdout, "5 stored values") ||
		!strings.Contains(r.stdout, "No integrity failures.") {
		t.Fatalf("verify:\n%s", r.stdout)
	}
	r = ok(t, f.tool(t, "", "verify", "--format", "json"))
	var rep verifyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Keys) != 1 || rep.Keys[0].Version != 1 ||
		rep.Checked.LogEntries != 12 || rep.Checked.SnapshotStreams != 1 || rep.Checked.Tables == 0 || len(rep.Problems) != 0 {
		t.Fatalf("json: %v %+v", err, rep)
	}

	// A flipped byte in each table in turn: verify names the file.
	tables, _ := filepath.Glob(filepath.Join(f.dir, "*", "*.sst"))
	more, _ := filepath.Glob(filepath.Join(f.dir, "raft", "*", "*", "logdb-*", "*.sst"))
	tables = append(tables, more...)
	if len(tables) < 3 {
		t.Fatalf("only %d tables in the fixture", len(tables))
	}
	for _, table := range tables {
		b, err := os.ReadFile(table)
		if err != nil {
			t.Fatal(err)
		}
		good := bytes.Clone(b)
		b[len(b)/3] ^= 0x20
		write(t, table, b)
		r := f.tool(t, "", "verify")
		if r.code == 0 || !strings.Contains(r.stderr, table) {
			t.Errorf("verify with %s damaged: %s", table, r)
		}
		write(t, table, good)
	}
	ok(t, f.tool(t, "", "verify"))
}

func TestLockedNode(t *testing.T) {
	f := newFixture(t, true)
	fails(t, f.tool(t, "", "dump-wal"), exitError, "this node is locked: pass --unlock-key")
	key := f.unlock.Text()
	keyFile := filepath.Join(t.TempDir(), "key")
	write(t, keyFile, []byte(key+"\n"))
	r := ok(t, f.tool(t, "", "--unlock-key-file", keyFile, "dump-object", "secret", "--name", "alpha"))
	if !strings.Contains(r.stdout, "ALPHA-TWO") {
		t.Fatalf("with the key:\n%s", r.stdout)
	}
	ok(t, f.tool(t, key, "--unlock-key-file", "-", "verify"))
	ok(t, f.tool(t, "", "--unlock-key", key, "dump-snapshot"))

	typo := []byte(key)
	typo[20] = map[bool]byte{true: 'B', false: 'A'}[typo[20] == 'A']
	fails(t, f.tool(t, "", "--unlock-key", string(typo), "verify"), exitError, "typo")
	wrong, _ := keys.GenerateUnlockKey(f.clusterID)
	fails(t, f.tool(t, "", "--unlock-key", wrong.Text(), "verify"), exitError, "wrong unlock key")
	other, _ := keys.GenerateUnlockKey("othercluster")
	fails(t, f.tool(t, "", "--unlock-key", other.Text(), "verify"), exitError, "belongs to another cluster")
	fails(t, f.tool(t, "", "--unlock-key", "hunter2", "verify"), exitError, "malformed")
	fails(t, f.tool(t, "", "--unlock-key", key, "--unlock-key-file", keyFile, "verify"), exitError, "both given")
	for _, r := range []result{f.tool(t, "", "--unlock-key", wrong.Text(), "verify"), f.tool(t, "", "--unlock-key", string(typo), "verify")} {
		if strings.Contains(r.stderr, key[9:20]) || strings.Contains(r.stderr, wrong.Text()[9:20]) {
			t.Fatalf("an error shows key text: %s", r)
		}
	}
}

func TestBadStateDirs(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	if code := run([]string{progName, "-d", dir, "verify"}, nil, &out, &errb); code != exitError ||
		!strings.Contains(errb.String(), dir+" is not a vault state dir: no node.json") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{progName, "-d", filepath.Join(dir, "none"), "verify"}, nil, &out, &errb); code != exitError ||
		!strings.Contains(errb.String(), "does not exist") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	write(t, filepath.Join(dir, "node.json"), []byte(`{"format": 9}`))
	errb.Reset()
	if code := run([]string{progName, "-d", dir, "verify"}, nil, &out, &errb); code != exitError ||
		!strings.Contains(errb.String(), "not a vault node file") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}

	f := newFixture(t, false)
	fails(t, f.tool(t, "", "frobnicate"), exitError, `unknown command "frobnicate"`)
	fails(t, f.tool(t, "", "dump-wal", "--format", "xml"), exitError, `unknown --format "xml"`)
	fails(t, f.tool(t, "", "dump-wal", "--start", "9", "--end", "3"), exitError, "after --end")
	fails(t, f.tool(t, "", "dump-wal", "--shard", "9"), exitError, "no shard 9")
	fails(t, f.tool(t, "", "dump-wal", "extra"), exitError, "takes no arguments")
	fails(t, f.tool(t, "", "decrypt"), exitError, "output-dir")
}

// A damaged entry is reported with its place and the rest still prints;
// the exit status says something was wrong.
func TestDamagedEntries(t *testing.T) {
	f := newFixture(t, false)
	dir := filepath.Join(f.dir, "raft", fixtureHost, fmt.Sprintf("%020d", fixtureDID), "logdb-2")
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	k6 := logdb.Key{Kind: logdb.KindEntry, Shard: 2, Replica: 1, Index: 6}.Encode()
	v, closer, err := db.Get(k6)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(v)
	closer.Close()
	bad[len(bad)-3] ^= 1 // inside the sealed command
	db.Set(k6, bad, nil)
	db.Set(logdb.Key{Kind: logdb.KindEntry, Shard: 2, Replica: 1, Index: 7}.Encode(), []byte{0xff, 0xff}, nil)
	db.Delete(logdb.Key{Kind: logdb.KindEntry, Shard: 2, Replica: 1, Index: 5}.Encode(), nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r := f.tool(t, "", "dump-wal", "--shard", "2")
	fails(t, r, exitProblems,
		dir+": shard 2 (secrets) entry 6: integrity check failed",
		dir+": shard 2 (secrets) entry 7: logdb: malformed record",
		"entries 5 to 5 are missing",
		"3 records could not be read")
	if !strings.Contains(r.stdout, "Entry Index=8") || !strings.Contains(r.stdout, `"GAMMA-ONE"`) {
		t.Fatalf("entries after the damage are missing:\n%s", r.stdout)
	}
	fails(t, f.tool(t, "", "verify"), exitProblems, "entry 6: integrity check failed")
	// The replay stops at the damage, as the state machine would.
	r = f.tool(t, "", "dump-object", "secret", "--name", "alpha")
	fails(t, r, exitProblems, "replay stopped, the state shown is at index 5: entry 6: integrity check failed")
	if !strings.Contains(r.stdout, `"ALPHA-ONE"`) || strings.Contains(r.stdout, "ALPHA-TWO") {
		t.Fatalf("alpha after a stopped replay:\n%s", r.stdout)
	}
}

// A compacted log is whole from its snapshot to its max index record;
// entries around that are dead records, and holes between them are no
// failure. Here shard 2's log is laid out as a follower's after it
// installed its leader's snapshot at 4: the entries it held before (1 and
// 2), the hole up to the snapshot (3 and 4), the entries after it (5 to 8),
// and above the max index the tail a new leader cut off (10 and 12).
func TestCompactedLog(t *testing.T) {
	f := newFixture(t, false)
	dir := filepath.Join(f.dir, "raft", fixtureHost, fmt.Sprintf("%020d", fixtureDID), "logdb-2")
	edit := func(del []uint64, put ...pb.Entry) {
		t.Helper()
		db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range del {
			if err := db.Delete(logdb.Key{Kind: logdb.KindEntry, Shard: 2, Replica: 1, Index: i}.Encode(), nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range put {
			if err := db.Set(logdb.Key{Kind: logdb.KindEntry, Shard: 2, Replica: 1, Index: e.Index}.Encode(), marshal(t, &e), nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	edit([]uint64{3, 4}, pb.Entry{Index: 10, Term: 1}, pb.Entry{Index: 12, Term: 1})

	r := ok(t, f.tool(t, "", "verify"))
	if !strings.Contains(r.stdout, "No integrity failures.") {
		t.Fatalf("verify:\n%s", r.stdout)
	}
	r = ok(t, f.tool(t, "", "dump-wal", "--shard", "2"))
	var got []string
	for _, m := range entryRE.FindAllStringSubmatch(r.stdout, -1) {
		got = append(got, m[1])
	}
	if s := strings.Join(got, " "); s != "1 2 5 6 7 8 10 12" {
		t.Fatalf("dump-wal entries %s:\n%s", s, r.stdout)
	}
	ok(t, f.tool(t, "", "dump-wal", "--shard", "2", "--start", "2", "--end", "7"))

	// Holes between the snapshot and the max index are still failures.
	edit([]uint64{6, 8})
	for _, args := range [][]string{{"verify"}, {"dump-wal", "--shard", "2"}} {
		fails(t, f.tool(t, "", args...), exitProblems,
			dir+": shard 2 (secrets) entry 7: entries 6 to 6 are missing",
			dir+": shard 2 (secrets): entries 8 to 8 are missing (the max index record is 8)")
	}
	fails(t, f.tool(t, "", "dump-wal", "--shard", "2", "--start", "7", "--end", "8"), exitProblems, "entries 8 to 8 are missing")
	ok(t, f.tool(t, "", "dump-wal", "--shard", "2", "--start", "7", "--end", "7"))
}
