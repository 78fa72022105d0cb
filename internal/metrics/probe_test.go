package metrics

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbeFsync(t *testing.T) {
	m := New(Options{NoProcess: true, NoDragonboat: true})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.ProbeFsync(ctx, dir, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(exposition(t, m)), "vaultd_logdb_fsync_duration_seconds_count 3\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no three probes in 30s:\n%s", exposition(t, m))
		}
		time.Sleep(time.Millisecond)
	}
	fi, err := os.Stat(filepath.Join(dir, ProbeFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != probeBlock {
		t.Errorf("probe file: mode %v, size %d", fi.Mode(), fi.Size())
	}
	if err := m.ProbeFsync(ctx, filepath.Join(dir, "missing"), time.Second); err == nil {
		t.Error("a missing directory: no error")
	}
}
