package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/internal/metrics"
)

// Corruption: bytes of each kind of file in a stopped manager's state dir
// are flipped or cut off, and the manager is started on it. It must refuse
// to start with an error that names the damaged file and leave the
// directory exactly as it was, or (where the damage is of a kind Raft
// repairs) start and catch up with its peers. Then the node is replaced
// the way an operator would: `vault node rm`, a fresh state dir, a join.

// fileKind is a kind of file in a state dir.
type fileKind struct {
	name string
	re   *regexp.Regexp // matches the path relative to the state dir
}

var stateFileKinds = []fileKind{
	{"Raft log WAL", regexp.MustCompile(`^raft/.*/logdb-\d+/\d+\.log$`)},
	{"Raft log SST", regexp.MustCompile(`^raft/.*/logdb-\d+/\d+\.sst$`)},
	{"Raft log MANIFEST", regexp.MustCompile(`^raft/.*/logdb-\d+/MANIFEST-\d+$`)},
	{"Raft log CURRENT", regexp.MustCompile(`^raft/.*/logdb-\d+/CURRENT$`)},
	{"Raft snapshot", regexp.MustCompile(`^raft/.*\.gbsnap$`)},
	{"Raft snapshot metadata", regexp.MustCompile(`^raft/.*/snapshot\.metadata$`)},
	{"Raft node host id", regexp.MustCompile(`^raft/NODEHOST\.ID$`)},
	{"Raft address file", regexp.MustCompile(`^raft/dragonboat\.ds$`)},
	{"state WAL", regexp.MustCompile(`^state/\d+\.log$`)},
	{"state SST", regexp.MustCompile(`^state/\d+\.sst$`)},
	{"state MANIFEST", regexp.MustCompile(`^state/MANIFEST-\d+$`)},
	{"state CURRENT", regexp.MustCompile(`^state/CURRENT$`)},
	{"KEK", regexp.MustCompile(`^kek$`)},
	{"CA certificate", regexp.MustCompile(`^tls/ca\.crt$`)},
	{"node certificate", regexp.MustCompile(`^tls/node\.crt$`)},
	{"sealed node key", regexp.MustCompile(`^tls/node\.key\.sealed$`)},
	{"node identity", regexp.MustCompile(`^node\.json$`)},
}

// pickFile returns the largest file of a kind under root (relative path).
// Of MANIFEST files, only the ones CURRENT names count. A write-ahead log
// counts by the bytes written into it: the Raft log's WAL files have their
// full size from creation, and one that holds nothing but zeros holds no
// record to damage.
func pickFile(t *testing.T, root string, k fileKind) string {
	t.Helper()
	best, size := "", int64(-1)
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(e.Name(), "MANIFEST-") {
			// Only the MANIFEST that CURRENT names is read; Pebble keeps
			// the one before it too.
			cur, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "CURRENT"))
			if strings.TrimSpace(string(cur)) != e.Name() {
				return nil
			}
		}
		if !k.re.MatchString(rel) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		n := fi.Size()
		if strings.HasSuffix(e.Name(), ".log") {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			n = int64(writtenLen(b))
		}
		if n > size {
			best, size = rel, n
		}
		return nil
	})
	return best
}

// treeDigest describes every file and directory under root: path, mode,
// size and the SHA-256 of its contents.
func treeDigest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if e.Name() == metrics.ProbeFileName {
			return nil // rewritten by a running node's fsync probe
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if e.IsDir() {
			out[rel] = fmt.Sprintf("dir %v", fi.Mode())
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = fmt.Sprintf("%v %d %s", fi.Mode(), len(b), hex.EncodeToString(sum[:8]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeDiff lists what differs between two digests.
func treeDiff(a, b map[string]string) []string {
	var d []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			d = append(d, "removed "+p)
		} else if v != w {
			d = append(d, fmt.Sprintf("changed %s: %s -> %s", p, v, w))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "added "+p)
		}
	}
	sort.Strings(d)
	return d
}

// copyDir copies a stopped node's state dir, modes included.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if e.IsDir() {
			return os.MkdirAll(to, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writtenLen is how much of a write-ahead log's bytes were written: the
// Raft log's WAL files have their full size from creation, zeros after
// what was written.
func writtenLen(b []byte) int { return len(bytes.TrimRight(b, "\x00")) }

// damage flips one byte in the middle of a file (of a snapshot's payload;
// in the first record of a log), or cuts off its second half.
func damage(t *testing.T, path, how string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	switch how {
	case "flip":
		at := len(b) / 2
		switch base := filepath.Base(path); {
		case strings.HasSuffix(base, ".gbsnap") && len(b) > 1024:
			at = 1024 + (len(b)-1024)/2 // the payload, not the header's padding
		case strings.HasSuffix(base, ".log") || strings.HasPrefix(base, "MANIFEST-"):
			// The first record, which others follow: damage to the last one
			// looks like a torn write (see allowedOutcomes).
			at = min(len(b)/2, 16)
		}
		b[at] ^= 0x5a
	case "truncate":
		end := len(b)
		if strings.HasSuffix(filepath.Base(path), ".log") {
			// A WAL file has its full size from creation: cut what was
			// written, not the zeros after it.
			end = writtenLen(b)
		}
		b = b[:end/2]
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startOutcome starts nd on its state dir and reports whether it refused
// to start (with its output) or serves.
func startOutcome(t *testing.T, nd *node) (refused bool, out string) {
	t.Helper()
	before := len(nd.log())
	if err := nd.launch(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-nd.exited:
			nd.cmd, nd.down = nil, true
			return true, nd.log()[before:]
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := nd.client.Status(ctx)
		cancel()
		if err == nil && st.Initialized {
			return false, nd.log()[before:]
		}
		if time.Now().After(deadline) {
			return false, nd.log()[before:]
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// outcome is what a damaged state dir did to a starting manager.
type outcome string

const (
	refused outcome = "refused" // exited with an error naming the file, nothing changed
	healed  outcome = "healed"  // started, and Raft repaired what was lost
	crashed outcome = "crashed" // started, then stopped on damage it could not see at start
)

// allowedOutcomes says what damage of a kind may do. A write-ahead log or
// MANIFEST cut short looks like a crash in the middle of a write, which the
// storage engine recovers from by dropping the torn tail: the node starts
// with less than it had. If what it lost was acknowledged to a leader,
// Raft cannot repair it (the leader remembers the entries as stored there)
// and the node stops on the first heartbeat; the operator replaces it.
// Everything else is detected at start.
func allowedOutcomes(kind, how string) []outcome {
	if how == "truncate" && (strings.HasSuffix(kind, " WAL") || strings.HasSuffix(kind, " MANIFEST")) {
		return []outcome{refused, healed, crashed}
	}
	return []outcome{refused}
}

// TestCorruption damages each kind of file in a stopped manager's state
// dir (a byte flipped, the file cut in half) and starts it; then replaces
// the manager with a fresh one, the way an operator would.
func TestCorruption(t *testing.T) {
	f := newFleet(t, 3, false, "--snapshot-entries", "20")
	c := canaries{}
	victim := f.nodes[2]
	total := 0
	write := func(prefix string, n int) {
		for i := range n {
			name := fmt.Sprintf("%s%d-%s", prefix, i, randHex(3))
			val := []byte("CANARY-VALUE-" + randHex(12))
			c.add("name "+name, []byte(name))
			c.add("value "+name, val)
			must(t, f.nodes[i%2].vaultIn(val, "secret", "create", name, "-"))
			total++
		}
	}
	caughtUp := func(nd *node) bool {
		r := nd.vault("secret", "ls", "-q")
		return r.code == 0 && len(strings.Fields(r.stdout)) == total
	}
	// Enough writes for snapshots and compaction; the victim misses some
	// and catches up from a snapshot, so it holds a received snapshot; a
	// full rotation compacts the state database into tables.
	write("before", 40)
	victim.kill()
	write("down", 80)
	victim.start()
	waitFor(t, "the victim to catch up", 60*time.Second, func() bool { return caughtUp(victim) })
	must(t, f.nodes[0].vault("key", "rotate", "--full"))
	write("after", 10)
	waitFor(t, "the victim to catch up", 60*time.Second, func() bool { return caughtUp(victim) })
	victim.stop()
	pristine := filepath.Join(t.TempDir(), "pristine")
	copyDir(t, victim.stateDir, pristine)

	// replace removes the victim from the cluster and joins it again on an
	// empty state dir: a healthy peer brings it back.
	replace := func() {
		t.Helper()
		victim.kill()
		for _, n := range nodes(t, f.nodes[0].daemon) {
			if n.Addr == victim.addr {
				removeNode(t, f.nodes[0], n.ID)
			}
		}
		victim.wipe()
		victim.start()
		f.join(victim, f.nodes[1])
		waitFor(t, "the replaced node to catch up", 60*time.Second, func() bool { return caughtUp(victim) })
	}

	// Damage the start must detect first: those runs never reach the
	// peers. A node that starts runs with its peers, and later cases start
	// from its new state (restoring an older copy would roll back entries
	// it acknowledged).
	type dcase struct {
		k   fileKind
		how string
	}
	var cases, last []dcase
	for _, k := range stateFileKinds {
		for _, how := range []string{"flip", "truncate"} {
			if len(allowedOutcomes(k.name, how)) == 1 {
				cases = append(cases, dcase{k, how})
			} else {
				last = append(last, dcase{k, how})
			}
		}
	}
	var report []string
	for _, dc := range append(cases, last...) {
		k, how := dc.k, dc.how
		rel := pickFile(t, pristine, k)
		if rel == "" {
			t.Errorf("%s: no such file in the state dir", k.name)
			continue
		}
		{
			copyDir(t, pristine, victim.stateDir)
			damage(t, filepath.Join(victim.stateDir, rel), how)
			before := treeDigest(t, victim.stateDir)
			gaveUp, out := startOutcome(t, victim)
			got, detail := refused, ""
			if gaveUp && strings.Contains(out, "panic: ") {
				// It stopped on damage it could not see before starting.
				got, detail = crashed, firstLine(panicLines(out))
				replace()
				victim.stop()
				copyDir(t, victim.stateDir, pristine)
			} else if gaveUp {
				detail = strings.TrimSpace(lastLine(out))
				named := filepath.Join(victim.stateDir, rel)
				if len(allowedOutcomes(k.name, how)) > 1 {
					named = filepath.Dir(named) // a database cut short: its directory
				}
				if !strings.Contains(out, named) {
					t.Errorf("%s (%s %s): the error does not name the file:\n%s", k.name, how, rel, out)
				}
				if !strings.Contains(out, "integrity check failed") {
					t.Errorf("%s (%s %s): not reported as an integrity failure:\n%s", k.name, how, rel, out)
				}
				if diff := treeDiff(before, treeDigest(t, victim.stateDir)); len(diff) > 0 {
					t.Errorf("%s (%s %s): the refused start changed the state dir:\n%s", k.name, how, rel, strings.Join(diff, "\n"))
				}
			} else {
				// It started: it must catch up with its peers and stay up.
				got = healed
				deadline := time.Now().Add(30 * time.Second)
				for !caughtUp(victim) {
					if !victim.running() || time.Now().After(deadline) {
						got, detail = crashed, firstLine(panicLines(victim.log()))
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				if got == healed {
					victim.stop()
				} else {
					replace()
					victim.stop()
				}
				copyDir(t, victim.stateDir, pristine)
			}
			if !slices.Contains(allowedOutcomes(k.name, how), got) {
				t.Errorf("%s (%s %s): %s, want %v: %s", k.name, how, rel, got, allowedOutcomes(k.name, how), detail)
			}
			report = append(report, fmt.Sprintf("%-22s %-8s %-8s %s  %s", k.name, how, got, rel, detail))
		}
	}
	t.Logf("damaged state dirs:\n%s", strings.Join(report, "\n"))

	// A healthy peer brings a replaced node back.
	copyDir(t, pristine, victim.stateDir)
	victim.start()
	replace()
	for _, nd := range f.nodes {
		nd.stop()
	}
	files, size := c.scan(t, f.roots()...)
	t.Logf("canary scan: %d canaries, %d files, %d bytes: none found", len(c), files, size)
}

func panicLines(log string) string {
	i := strings.LastIndex(log, "panic: ")
	if i < 0 {
		lines := strings.Split(strings.TrimSpace(log), "\n")
		return strings.Join(lines[max(0, len(lines)-3):], "\n")
	}
	return firstLines(log[i:], 3)
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
