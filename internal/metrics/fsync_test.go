package metrics

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lni/vfs"
)

func TestSyncTimingFS(t *testing.T) {
	var synced []time.Duration
	fs := SyncTimingFS(vfs.Default, func(d time.Duration) { synced = append(synced, d) })
	dir := t.TempDir()
	tests := []struct {
		name  string
		open  func() (vfs.File, error)
		timed bool
	}{
		{"create wal", func() (vfs.File, error) { return fs.Create(filepath.Join(dir, "000001.log")) }, true},
		{"append wal", func() (vfs.File, error) { return fs.OpenForAppend(filepath.Join(dir, "000001.log")) }, true},
		{"reuse wal", func() (vfs.File, error) {
			return fs.ReuseForWrite(filepath.Join(dir, "000001.log"), filepath.Join(dir, "000002.log"))
		}, true},
		{"table", func() (vfs.File, error) { return fs.Create(filepath.Join(dir, "000003.sst")) }, false},
		{"manifest", func() (vfs.File, error) { return fs.Create(filepath.Join(dir, "MANIFEST-000001")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synced = nil
			f, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("entry")); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := len(synced) == 1; got != tt.timed {
				t.Errorf("timed syncs: %d, want timed=%v", len(synced), tt.timed)
			}
			if _, hasFd := f.(interface{ Fd() uintptr }); hasFd == tt.timed {
				t.Errorf("Fd exposed: %v; a timed file must hide it, others keep it", hasFd)
			}
		})
	}
}
