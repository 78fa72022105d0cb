package raftsm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"
)

// TestPurgeLeavesNoOldValues: after values are overwritten and the store is
// purged, no file of the database holds the old bytes (no recycled WAL, no
// old table).
func TestPurgeLeavesNoOldValues(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(v string) {
		s.with(func(db *pebble.DB) error {
			for i := range 200 {
				if err := db.Set(dataKey(2, 1, subObject, byte(i)), []byte(v), pebble.NoSync); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
	}
	write("OLD-SEALED-VALUE")
	if err := s.Purge(); err != nil { // old values now in a table
		t.Fatal(err)
	}
	write("OLD-SEALED-VALUE-TWO") // and in the WAL
	write("new-value")
	if err := s.Purge(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, []byte("OLD-SEALED-VALUE")) {
			t.Errorf("%s still holds an overwritten value", e.Name())
		}
	}
	got, _ := s.get(dataKey(2, 1, subObject, 7))
	if string(got) != "new-value" {
		t.Fatalf("value after purge: %q", got)
	}
}
