package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// floorFileSize is the preallocated size of the fsync-floor file, as a WAL
// segment: etcd preallocates 64 MiB segments so that fdatasync need not
// write the file's size.
const floorFileSize = 64 << 20

// fsyncFloor measures the disk's floor for a durable write: one client
// writing size bytes at the end of a preallocated file and calling
// fdatasync, in dir. No replicated write that waits for its own fsync can be
// faster than this on the same disk.
func fsyncFloor(ctx context.Context, dir string, dur time.Duration, size int) (*Measure, error) {
	path := filepath.Join(dir, "fsync-floor")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	defer f.Close()
	fd := int(f.Fd())
	if err := syscall.Fallocate(fd, 0, 0, floorFileSize); err != nil {
		return nil, fmt.Errorf("fsync floor: preallocate: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	rand.Read(buf)
	var off int64
	m := runLoad(ctx, 1, dur, 0, nil, func(context.Context, int, int) error {
		if _, err := syscall.Pwrite(fd, buf, off); err != nil {
			return err
		}
		if err := syscall.Fdatasync(fd); err != nil {
			return err
		}
		off += int64(size)
		if off+int64(size) > floorFileSize {
			off = 0
		}
		return nil
	})
	if m.Errors > 0 {
		return nil, fmt.Errorf("fsync floor: %s", m.FirstError)
	}
	return m, nil
}

// fileSystem describes the file system dir is on, from /proc/mounts: its
// type, device and mount options.
func fileSystem(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "unknown"
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	best, desc := "", "unknown"
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		mp := f[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, desc = mp, fmt.Sprintf("%s on %s (%s, mounted at %s)", f[2], f[0], f[3], mp)
		}
	}
	return desc
}

// isTmpfs reports whether dir is on tmpfs.
func isTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && uint32(st.Type) == 0x01021994 // TMPFS_MAGIC
}
