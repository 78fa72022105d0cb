package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble"
)

type quiet struct{}

func (quiet) Infof(string, ...interface{})         {}
func (quiet) Fatalf(f string, args ...interface{}) { panic(fmt.Sprintf(f, args...)) }

func key(i uint64) []byte { return binary.BigEndian.AppendUint64([]byte("k"), i) }

// listing describes every file under dir: name, size, modification time.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
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

// countPrefix opens a copy read-only and checks that it holds keys 0..n-1
// and nothing else: a prefix of the writer's history.
func countPrefix(t *testing.T, dir string) uint64 {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: quiet{}})
	if err != nil {
		t.Fatalf("open copy: %v", err)
	}
	defer db.Close()
	it := db.NewIter(nil)
	var n uint64
	for it.First(); it.Valid(); it.Next() {
		if string(it.Key()) != string(key(n)) {
			t.Fatalf("copy holds %x where key %d belongs: not a prefix", it.Key(), n)
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// Copies taken while another Pebble instance writes, flushes and compacts
// each hold a prefix of its writes.
func TestTakeWhileWriting(t *testing.T) {
	src := filepath.Join(t.TempDir(), "db")
	db, err := pebble.Open(src, &pebble.Options{Logger: quiet{}, MemTableSize: 256 << 10, L0CompactionThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const total, batch = 16384, 64
	var written atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		val := make([]byte, 512)
		for i := uint64(0); i < total; i += batch {
			b := db.NewBatch()
			for j := i; j < i+batch; j++ {
				b.Set(key(j), val, nil)
			}
			// Synced: a batch counted below is in the log file, not only
			// in Pebble's buffer.
			if err := b.Commit(pebble.Sync); err != nil {
				t.Error(err)
				return
			}
			written.Store(i + batch)
		}
	}()
	var last uint64
	copies, linked, busy := 0, 0, 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		before := written.Load()
		dst := filepath.Join(t.TempDir(), "copy")
		st, err := Take(src, dst)
		if errors.Is(err, ErrBusy) {
			busy++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n := countPrefix(t, dst)
		if n < before || n < last || n%batch != 0 {
			t.Fatalf("copy %d holds %d keys; %d were written before it began, %d in the copy before", copies, n, before, last)
		}
		last = n
		copies++
		if st.Linked > 0 {
			linked++
		}
		os.RemoveAll(dst)
	}
	t.Logf("%d copies (%d with linked tables, %d busy), last with %d keys", copies, linked, busy, last)
	if copies < 3 || linked == 0 {
		t.Fatalf("%d copies, %d with linked tables: the test did not exercise flushes", copies, linked)
	}
	dst := filepath.Join(t.TempDir(), "final")
	if _, err := Take(src, dst); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, dst); n != total {
		t.Fatalf("final copy holds %d keys, want %d", n, total)
	}
}

// A quiet database is copied exactly, and the source is left as it was. A
// LogDB's spare WAL files are not copied.
func TestTakeLeavesSourceAlone(t *testing.T) {
	src := filepath.Join(t.TempDir(), "db")
	db, err := pebble.Open(src, &pebble.Options{Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 100; i++ {
		db.Set(key(i), []byte("v"), pebble.Sync)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := uint64(100); i < 150; i++ {
		db.Set(key(i), []byte("v"), pebble.Sync) // in the log only
	}
	defer db.Close()
	for _, n := range []string{walSpare, walSpareTemp} {
		if err := os.WriteFile(filepath.Join(src, n), make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := listing(t, src)
	dst := filepath.Join(t.TempDir(), "copy")
	st, err := Take(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{walSpare, walSpareTemp} {
		if _, err := os.Stat(filepath.Join(dst, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the copy holds %s (%v); a spare WAL file is not part of the database", n, err)
		}
	}
	if st.Linked == 0 || st.Attempts != 1 {
		t.Fatalf("stats %+v: want linked tables and one attempt", st)
	}
	if n := countPrefix(t, dst); n != 150 {
		t.Fatalf("copy holds %d keys, want 150", n)
	}
	if after := listing(t, src); after != before {
		t.Fatalf("source changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := Take(filepath.Join(t.TempDir(), "none"), filepath.Join(t.TempDir(), "c")); err == nil {
		t.Fatal("Take of a missing database succeeded")
	}
}
