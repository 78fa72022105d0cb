package metrics

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
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
	// The probe runs every millisecond: wait for at least three, however
	// many more a poll sees.
	probes := func() int {
		for _, line := range strings.Split(string(exposition(t, m)), "\n") {
			if v, ok := strings.CutPrefix(line, "vaultd_logdb_fsync_duration_seconds_count "); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return 0
	}
	deadline := time.Now().Add(30 * time.Second)
	for probes() < 3 {
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
