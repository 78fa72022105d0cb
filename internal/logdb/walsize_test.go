package logdb

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
)

// walFiles lists the LogDB's write-ahead logs of the NodeHost in dir.
func walFiles(t *testing.T, dir string) []string {
	t.Helper()
	out, err := filepath.Glob(filepath.Join(dir, "vm", "*", "logdb-*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWALFileHasItsSizeAtCreation checks the LogDB patch in
// third_party/dragonboat (noReuseFS): a new WAL file gets its full size
// when it is created, so that the fdatasync after each write does not also
// have to commit a new file size (on ext4, a second synchronous write).
// Pebble's own preallocation keeps the size (FALLOC_FL_KEEP_SIZE). The
// first WAL is created at open; later ones, once flushes have made old ones
// obsolete, come through ReuseForWrite (the patch's removal of the old file
// and creation of a new one): the test writes through six WAL switches and
// looks at each new WAL as soon as it appears.
func TestWALFileHasItsSizeAtCreation(t *testing.T) {
	quietDragonboat()
	dir := t.TempDir()
	nh := flushTestHost(t, dir)
	defer nh.Close()
	want := int64(config.GetTinyMemLogDBConfig().KVWriteBufferSize)
	newest := func() (string, int64) {
		wals := walFiles(t, dir)
		if len(wals) == 0 {
			t.Fatalf("no WAL file under %s", dir)
		}
		slices.Sort(wals) // Pebble numbers them in order, zero-padded
		p := wals[len(wals)-1]
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, st.Size()
	}
	proposeCmd(t, nh, []byte("x"))
	first, size := newest()
	if size < want {
		t.Fatalf("%s is %d bytes after one small entry; want the memtable's size (%d) or more from its creation", first, size, want)
	}
	entry := bytes.Repeat([]byte{'w'}, 16<<10)
	seen, last := 1, first
	for i := 0; seen < 7; i++ {
		if i > 20000 {
			t.Fatalf("only %d WAL files after %d entries of 16 KiB", seen, i)
		}
		proposeCmd(t, nh, entry)
		p, size := newest()
		if p == last {
			continue
		}
		seen, last = seen+1, p
		if size < want {
			t.Errorf("WAL %d, %s, is %d bytes just after it appeared; want %d or more from its creation", seen, filepath.Base(p), size, want)
		}
	}
}

// TestWALFromZeroedSpare checks the other half of the patch (walSpare): a
// spare WAL file, as large as a WAL and written with zeros, is made in the
// background in the LogDB's directory, and the next WAL is that very file
// renamed (the same inode), so a write into it allocates nothing. After each
// switch a new spare is made for the WAL after it. A spare found at start
// that is not all zeros (here: damaged while the host was stopped) is
// never made a WAL: it is written again first.
func TestWALFromZeroedSpare(t *testing.T) {
	quietDragonboat()
	dir, addr := t.TempDir(), freeAddr(t)
	nh, err := oneReplicaHost(dir, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { nh.Close() }()
	want := int64(config.GetTinyMemLogDBConfig().KVWriteBufferSize)
	want += want / 10
	proposeCmd(t, nh, []byte("x"))
	wals := walFiles(t, dir)
	if len(wals) != 1 {
		t.Fatalf("WAL files after one entry: %v; want one", wals)
	}
	spare := filepath.Join(filepath.Dir(wals[0]), "WAL.spare")
	ino := waitSpare(t, spare, want, 0)
	for round := 1; round <= 3; round++ {
		if got := inode(t, nextWAL(t, nh, dir)); got != ino {
			t.Fatalf("round %d: the new WAL is inode %d; want the spare's, %d", round, got, ino)
		}
		ino = waitSpare(t, spare, want, ino)
	}

	nh.Close()
	damage := bytes.Repeat([]byte{'X'}, int(want))
	if err := os.WriteFile(spare, damage, 0o644); err != nil {
		t.Fatal(err)
	}
	if nh, err = oneReplicaHost(dir, addr); err != nil {
		t.Fatal(err)
	}
	ino = waitSpare(t, spare, want, ino)
	for round := 1; round <= 2; round++ {
		if got := inode(t, nextWAL(t, nh, dir)); got != ino {
			t.Fatalf("after the restart, round %d: the new WAL is inode %d; want the spare's, %d", round, got, ino)
		}
		ino = waitSpare(t, spare, want, ino)
	}
	for _, p := range walFiles(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, damage[:4096]) {
			t.Fatalf("%s holds the damaged spare's bytes", p)
		}
	}
}

// waitSpare waits for the spare WAL file to be a file other than inode not,
// checks it holds want bytes of zeros and returns its inode.
func waitSpare(t *testing.T, spare string, want int64, not uint64) uint64 {
	t.Helper()
	for range 500 {
		if st, err := os.Stat(spare); err == nil && st.Sys().(*syscall.Stat_t).Ino != not {
			b, err := os.ReadFile(spare)
			if err != nil {
				t.Fatal(err)
			}
			if zeros := strings.Trim(string(b), "\x00") == ""; int64(len(b)) != want || !zeros {
				t.Fatalf("the spare WAL file is %d bytes, zeros only: %v; want %d bytes of zeros", len(b), zeros, want)
			}
			return st.Sys().(*syscall.Stat_t).Ino
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new spare WAL file %s after 10 s", spare)
	return 0
}

// nextWAL writes entries of 16 KiB until the LogDB starts a new WAL file
// and returns its path.
func nextWAL(t *testing.T, nh *dragonboat.NodeHost, dir string) string {
	t.Helper()
	entry := bytes.Repeat([]byte{'s'}, 16<<10)
	prev := slices.Max(walFiles(t, dir)) // Pebble numbers them in order, zero-padded
	for i := 0; i < 5000; i++ {
		proposeCmd(t, nh, entry)
		if p := slices.Max(walFiles(t, dir)); p != prev {
			return p
		}
	}
	t.Fatalf("no new WAL file after 5000 entries of 16 KiB")
	return ""
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// The child of TestZeroedWALTailAfterKill: it starts the host of
// walKillDir, proposes walKillCount entries, says how many it applied, and
// waits to be killed.
const (
	walKillDir   = "VAULT_TEST_WAL_KILL_DIR"
	walKillCount = "VAULT_TEST_WAL_KILL_COUNT"
	walKillAddr  = "VAULT_TEST_WAL_KILL_ADDR"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(walKillDir); dir != "" {
		walKillChild(dir)
		return
	}
	os.Exit(m.Run())
}

func walKillChild(dir string) {
	quietDragonboat()
	n, _ := strconv.Atoi(os.Getenv(walKillCount))
	nh, err := oneReplicaHost(dir, os.Getenv(walKillAddr))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	var applied uint64
	for range n {
		r, err := proposeRetry(nh, []byte("entry"))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		applied = r.Value
	}
	fmt.Println("APPLIED", applied)
	select {} // killed here, the host never closed
}

// TestZeroedWALTailAfterKill kills a process whose LogDB's WAL ends in the
// zeros of its preallocated size, three times in a row, each new process
// starting on what the last one left, and checks every entry applied before
// a kill is still in the log. From the second process on, the WAL a killed
// process wrote is replayed at start and a new one started, and that process
// is killed in turn: Pebble reads every WAL but the last strictly, so a
// zeroed tail left anywhere but in the last WAL would stop the LogDB from
// opening. (A process restarted here replays the whole log into a counting
// state machine, so the count it reports after its own entries covers
// every entry before them.)
func TestZeroedWALTailAfterKill(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	total := uint64(0)
	for round := 1; round <= 3; round++ {
		const n = 40
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), walKillDir+"="+dir, walKillCount+"="+strconv.Itoa(n), walKillAddr+"="+addr)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "APPLIED ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: the child said %q (%v)", round, line, err)
		}
		applied, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "APPLIED ")), 10, 64)
		// Kill it once its spare WAL file is made (walSpare), so that the
		// next process starts beside a spare left by a killed process.
		for i := 0; ; i++ {
			if m, _ := filepath.Glob(filepath.Join(dir, "vm", "*", "logdb-*", "WAL.spare")); len(m) > 0 {
				break
			}
			if i == 500 {
				t.Fatalf("round %d: no spare WAL file after 10 s", round)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		total += n
		if applied != total {
			t.Fatalf("round %d: the process counted %d entries after its own, want %d", round, applied, total)
		}
		// The WAL the process wrote into ends in zeros: its size was set at
		// creation and the entries fill a small part of it.
		zeroed := false
		for _, p := range walFiles(t, dir) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 1<<20 && strings.Trim(string(b[len(b)-4096:]), "\x00") == "" {
				zeroed = true
			}
		}
		if !zeroed {
			t.Fatalf("round %d: no WAL file ends in zeros; the test would not prove a zeroed tail is read", round)
		}
	}
	nh, err := oneReplicaHost(dir, addr)
	if err != nil {
		t.Fatalf("the LogDB did not open after the last kill: %v", err)
	}
	defer nh.Close()
	waitApplied(t, nh, total)
}
