package metrics

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ProbeFileName is the file ProbeFsync writes in the directory it probes.
const ProbeFileName = ".fsync-probe"

// probeBlock is what one probe writes: one page, like a small Raft step.
const probeBlock = 4096

// ProbeFsync measures the fsync latency of the disk under dir into
// vaultd_logdb_fsync_duration_seconds: every interval it rewrites one page
// of dir/.fsync-probe and fdatasyncs it, until ctx ends. Give it the
// directory of the Raft log database.
//
// It is a probe, not a timing of the LogDB's own syncs: Dragonboat keeps
// its LogDB internal and accepts no file system of ours outside its
// error-injection mode, so its syncs cannot be timed from outside. A probe
// shares the disk and its queue with the LogDB, which is what the alert on
// this histogram is about (a disk too slow for Raft), at the cost of one
// page written per interval.
func (m *Metrics) ProbeFsync(ctx context.Context, dir string, interval time.Duration) error {
	f, err := os.OpenFile(filepath.Join(dir, ProbeFileName), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	var page [probeBlock]byte
	probe := func() error {
		start := time.Now()
		if _, err := f.WriteAt(page[:], 0); err != nil {
			return err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
		m.Fsynced(time.Since(start))
		return nil
	}
	go func() {
		defer f.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				page[0]++
				_ = probe() // a failing disk shows in the LogDB's own errors
			}
		}
	}()
	return nil
}
