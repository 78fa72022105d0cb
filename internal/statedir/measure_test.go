//go:build measure

package statedir

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

// TestMeasureTableCheck times the start-up check of a state database of
// incompressible values, without and with the table record:
//
//	go test -tags measure -run TestMeasureTableCheck -v ./internal/statedir -keys 300000
func TestMeasureTableCheck(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, StoreDir)
	d, err := pebble.Open(db, &pebble.Options{Logger: panicLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 1024)
	b := d.NewBatch()
	for i := 0; i < *measureKeys; i++ {
		rand.Read(v)
		b.Set([]byte(fmt.Sprintf("key-%09d", i)), v, nil)
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			b = d.NewBatch()
		}
	}
	b.Commit(pebble.NoSync)
	d.Flush()
	d.Close()
	st := &Node{Hostname: "h", DeploymentID: 1}
	manifest := manifestOf(t, db)
	t0 := time.Now()
	read, _, err := checkTables(dir, db, manifest, nil)
	full := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	RecordTables(dir, st)
	t0 = time.Now()
	_, skipped, err := checkTables(dir, db, manifest, readTableRecord(dir))
	rec := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := dirSize(db)
	t.Logf("%d keys, %d MiB of tables: every table read (%d): %v; recorded and unchanged (%d skipped): %v (%.0fx)",
		*measureKeys, size>>20, read, full, skipped, rec, float64(full)/float64(rec))
}

var measureKeys = flag.Int("keys", 100000, "keys of 1 KiB in the measured database")

func dirSize(dir string) (int64, error) {
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	var n int64
	for _, p := range ssts {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n, err
}
