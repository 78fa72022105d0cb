package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/record"
	"github.com/cockroachdb/pebble/sstable"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/keys"
)

// diskContents calls f with the bytes of every regular file under root, as
// stored, and then (decoded set) with what Pebble's own formats hold: every
// value of every table (*.sst) of every Pebble database under root, and
// every batch of its write-ahead logs (*.log). place names where b is.
//
// A scan of the raw bytes alone misses data Pebble holds: table blocks are
// snappy-compressed, and snappy stores a byte string that repeats an earlier
// one in the block as a back-reference. Every envelope under one key starts
// with the same seven bytes, and a keyring's wrapped DEKs each follow the
// same length prefix, so in a compressed block only the first envelope keeps
// a literal header: the wrapped DEKs after it have none. Log records are
// split at 32 KiB block boundaries, which can cut an envelope in two.
//
// The daemons may be running: a database's tables and logs are opened as of
// one MANIFEST (see pebbleFiles), so a compaction or flush cannot move data
// out of sight between listing the files and reading them.
func diskContents(t *testing.T, root string, f func(place string, decoded bool, b []byte)) {
	t.Helper()
	var dbs []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() || e.Name() == metrics.ProbeFileName {
			return nil // the fsync probe's page holds nothing of the node's
		}
		if strings.HasPrefix(e.Name(), "MANIFEST-") && !slices.Contains(dbs, filepath.Dir(p)) {
			dbs = append(dbs, filepath.Dir(p))
		}
		if b, err := os.ReadFile(p); err == nil { // a live database deletes obsolete files
			f(p, false, b)
		}
		return nil
	})
	for _, dir := range dbs {
		files, err := pebbleFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, pf := range files {
			if err := decodePebbleFile(pf, f); err != nil {
				t.Fatalf("%s: %v", pf.path, err)
			}
		}
	}
}

// pebbleFile is a table or log of a Pebble database, opened.
type pebbleFile struct {
	path string
	num  uint64
	f    *os.File
}

// pebbleFiles opens every table and log of the Pebble database in dir while
// its MANIFEST stays the same (a file that a flush or compaction replaced
// is deleted only after a MANIFEST edit), retrying when it moved. An open
// file stays readable after the database deletes it.
func pebbleFiles(dir string) ([]pebbleFile, error) {
	// manifest sums up the MANIFEST files and what says which one is current.
	manifest := func() string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return ""
		}
		var b strings.Builder
		for _, e := range ents {
			if n := e.Name(); n == "CURRENT" || strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "marker.") {
				fi, err := e.Info()
				if err != nil {
					return ""
				}
				fmt.Fprintf(&b, "%s:%d ", n, fi.Size())
			}
		}
		return b.String()
	}
	for range 20 {
		before := manifest()
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		var files []pebbleFile
		vanished := false
		for _, e := range ents {
			base, ext, _ := strings.Cut(e.Name(), ".")
			num, err := strconv.ParseUint(base, 10, 64)
			if err != nil || (ext != "sst" && ext != "log") {
				continue
			}
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				vanished = true
				continue
			}
			if err != nil {
				return nil, err
			}
			files = append(files, pebbleFile{path: f.Name(), num: num, f: f})
		}
		if !vanished && before != "" && manifest() == before {
			return files, nil
		}
		for _, pf := range files {
			pf.f.Close()
		}
	}
	return nil, fmt.Errorf("%s: the database kept changing while its files were opened", dir)
}

// decodePebbleFile calls f with every value of a table (shadowed versions
// too), or every batch of a log, and closes the file.
func decodePebbleFile(pf pebbleFile, f func(place string, decoded bool, b []byte)) error {
	if strings.HasSuffix(pf.path, ".log") {
		defer pf.f.Close()
		rr := record.NewReader(pf.f, pebble.FileNum(pf.num))
		for i := 0; ; i++ {
			rec, err := rr.Next()
			if err != nil {
				return nil // the end, or the torn tail of a log still written to
			}
			b, err := io.ReadAll(rec)
			if err != nil {
				return nil
			}
			f(fmt.Sprintf("%s: batch %d", pf.path, i), true, b)
		}
	}
	r, err := sstable.NewReader(pf.f, sstable.ReaderOptions{}) // closes pf.f
	if err != nil {
		pf.f.Close()
		return err
	}
	defer r.Close()
	it, err := r.NewIter(nil, nil)
	if err != nil {
		return err
	}
	for k, v := it.First(); k != nil; k, v = it.Next() {
		f(fmt.Sprintf("%s: value of %x", pf.path, k.UserKey), true, v)
	}
	if err := it.Close(); err != nil {
		return err
	}
	return nil
}

// TestDiskContentsDecodesTables: a flushed table holding every shard's copy
// of a keyring is snappy-compressed, and its wrapped DEKs are no longer in
// the file as such; diskContents still finds each in every copy.
func TestDiskContentsDecodesTables(t *testing.T) {
	kek, err := crypto.GenerateKey(1)
	if err != nil {
		t.Fatal(err)
	}
	w, r, err := keys.NewKeyring(kek, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.Wipe()
	for v := uint32(2); v <= 4; v++ {
		d, dek, err := keys.NewDEK(kek, v, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dek.Wipe()
		if err := w.AddDEK(d); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	const shards = 5
	for s := range shards {
		if err := db.Set(fmt.Appendf(nil, "D%08dk", s), w.Marshal(), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	found := map[bool]int{}
	diskContents(t, dir, func(place string, decoded bool, b []byte) {
		if file, _, _ := strings.Cut(place, ": "); !strings.HasSuffix(file, ".sst") {
			return // the flushed log holds them too, as written
		}
		for _, d := range w.DEKs {
			found[decoded] += bytes.Count(b, d.Wrapped)
		}
	})
	t.Logf("wrapped DEKs in the table: %d as stored, %d decoded", found[false], found[true])
	if want := shards * len(w.DEKs); found[true] < want {
		t.Fatalf("decoded tables hold %d wrapped DEKs, want at least %d", found[true], want)
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }
