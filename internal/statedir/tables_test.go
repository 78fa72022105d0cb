package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

// tableDir makes a state dir whose state database holds a few tables.
func tableDir(t *testing.T) (dir, db string, st *Node) {
	t.Helper()
	dir = t.TempDir()
	db = filepath.Join(dir, StoreDir)
	d, err := pebble.Open(db, &pebble.Options{Logger: panicLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		for i := 0; i < 2000; i++ {
			k := fmt.Sprintf("key-%d-%06d", round, i)
			if err := d.Set([]byte(k), []byte(strings.Repeat(k, 8)), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, db, &Node{Hostname: "h", DeploymentID: 1}
}

func manifestOf(t *testing.T, db string) string {
	b, err := os.ReadFile(filepath.Join(db, "CURRENT"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(db, strings.TrimSpace(string(b)))
}

func largestTable(t *testing.T, db string) string {
	ssts, _ := filepath.Glob(filepath.Join(db, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no tables")
	}
	best, size := "", int64(-1)
	for _, p := range ssts {
		if fi, _ := os.Stat(p); fi.Size() > size {
			best, size = p, fi.Size()
		}
	}
	return best
}

// TestCheckSkipsOnlyUnchangedTables: a table recorded as known good is not
// read again while it is unchanged; any write to it, even one that puts
// back its size and modification time, makes the check read it and find
// the damage.
func TestCheckSkipsOnlyUnchangedTables(t *testing.T) {
	dir, db, st := tableDir(t)
	manifest := manifestOf(t, db)
	read, skipped, err := checkTables(dir, db, manifest, readTableRecord(dir))
	if err != nil || read == 0 || skipped != 0 {
		t.Fatalf("no record: read %d, skipped %d, %v", read, skipped, err)
	}
	if err := RecordTables(dir, st); err != nil {
		t.Fatal(err)
	}
	read2, skipped, err := checkTables(dir, db, manifest, readTableRecord(dir))
	if err != nil || read2 != 0 || skipped != read {
		t.Fatalf("recorded: read %d, skipped %d of %d, %v", read2, skipped, read, err)
	}

	victim := largestTable(t, db)
	fi, _ := os.Stat(victim)
	f, err := os.OpenFile(victim, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 100)
	b[0] ^= 0x40
	f.WriteAt(b, 100)
	f.Close()
	time.Sleep(10 * time.Millisecond)
	if err := os.Chtimes(victim, fi.ModTime(), fi.ModTime()); err != nil { // size and mtime as recorded
		t.Fatal(err)
	}
	_, _, err = checkTables(dir, db, manifest, readTableRecord(dir))
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Path != victim {
		t.Fatalf("flipped byte in a recorded table: %v, want an integrity error naming %s", err, victim)
	}

	// A record that does not decode is no record: every table is read.
	if err := os.WriteFile(filepath.Join(dir, TablesFile), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkTables(dir, db, manifest, readTableRecord(dir)); !errors.As(err, &ie) {
		t.Fatalf("unreadable record: %v", err)
	}
}

func TestCheckTableCutOrMissing(t *testing.T) {
	dir, db, st := tableDir(t)
	manifest := manifestOf(t, db)
	if err := RecordTables(dir, st); err != nil {
		t.Fatal(err)
	}
	victim := largestTable(t, db)
	fi, _ := os.Stat(victim)
	if err := os.Truncate(victim, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, _, err := checkTables(dir, db, manifest, readTableRecord(dir))
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Path != victim {
		t.Fatalf("table cut in half: %v", err)
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	_, _, err = checkTables(dir, db, manifest, readTableRecord(dir))
	if !errors.As(err, &ie) || ie.Path != manifest || !strings.Contains(ie.Reason, filepath.Base(victim)) {
		t.Fatalf("missing table: %v", err)
	}
}
