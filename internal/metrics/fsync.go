package metrics

import (
	"strings"
	"time"

	"github.com/lni/vfs"
	"golang.org/x/sys/unix"
)

// SyncTimingFS returns fs with every Sync of a Pebble write-ahead log file
// (a name ending in ".log") timed and reported to observe (Metrics.Fsynced):
// the durable write Dragonboat's LogDB makes for each Raft step. Set it as
// NodeHostConfig.Expert.FS; Dragonboat hands it to Pebble for the LogDB.
// Other files (tables, manifests, snapshots) pass through untouched.
//
// Dragonboat keeps its LogDB internal, so the file system is the one
// place outside it where the sync is seen. The cost: a timed WAL file does
// not show Pebble its descriptor, so Pebble does not preallocate it (Pebble
// recycles WAL files, so most are already full size) and syncs it through
// File.Sync, which this wrapper turns into the same fdatasync Pebble would
// make. Measure with `vault bench` before enabling it by default.
func SyncTimingFS(fs vfs.FS, observe func(time.Duration)) vfs.FS {
	return syncTimingFS{FS: fs, observe: observe}
}

type syncTimingFS struct {
	vfs.FS
	observe func(time.Duration)
}

func (f syncTimingFS) wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return &syncTimedFile{File: file, observe: f.observe}, nil
}

func (f syncTimingFS) Create(name string) (vfs.File, error) {
	file, err := f.FS.Create(name)
	return f.wrap(name, file, err)
}

func (f syncTimingFS) OpenForAppend(name string) (vfs.File, error) {
	file, err := f.FS.OpenForAppend(name)
	return f.wrap(name, file, err)
}

func (f syncTimingFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname)
	return f.wrap(newname, file, err)
}

// syncTimedFile times Sync. It has no Fd method on purpose: with one,
// Pebble would call fdatasync on the descriptor itself, unseen.
type syncTimedFile struct {
	vfs.File
	observe func(time.Duration)
}

func (f *syncTimedFile) Sync() error {
	start := time.Now()
	var err error
	if fd, ok := f.File.(interface{ Fd() uintptr }); ok {
		err = unix.Fdatasync(int(fd.Fd()))
	} else {
		err = f.File.Sync()
	}
	f.observe(time.Since(start))
	return err
}
