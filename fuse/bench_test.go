//go:build linux

package fuse

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readFixture mounts a 4 KiB secret through FUSE and writes the same bytes
// to a file on a fresh tmpfs, and returns both paths.
func readFixture(tb testing.TB) (fusePath, tmpfsPath string) {
	tb.Helper()
	data := make([]byte, 4096)
	rand.Read(data)
	_, dir := mount(tb, File{Name: "secret", Mode: 0o400, Data: data})

	tmp := tb.TempDir()
	if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0755"); err != nil {
		tb.Skipf("skipping: cannot mount tmpfs: %v", err)
	}
	tb.Cleanup(func() { unix.Unmount(tmp, unix.MNT_DETACH) })
	tmpfsPath = filepath.Join(tmp, "secret")
	if err := os.WriteFile(tmpfsPath, data, 0o400); err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(dir, "secret"), tmpfsPath
}

// openReadClose is what a task does to read its secret, in raw system calls
// so that the file system is measured, not Go's os package.
func openReadClose(tb testing.TB, path string, buf []byte) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := unix.Read(fd, buf)
	if err != nil || n != 4096 {
		tb.Fatalf("read: %d, %v", n, err)
	}
	unix.Close(fd)
}

// BenchmarkReadVsTmpfs measures open+read+close of a cached 4 KiB secret on
// the FUSE mount and on tmpfs.
func BenchmarkReadVsTmpfs(b *testing.B) {
	fusePath, tmpfsPath := readFixture(b)
	for _, c := range []struct{ name, path string }{{"fuse", fusePath}, {"tmpfs", tmpfsPath}} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 8192)
			openReadClose(b, c.path, buf) // warm the caches
			b.SetBytes(4096)
			b.ReportAllocs()
			for b.Loop() {
				openReadClose(b, c.path, buf)
			}
		})
	}
}

// TestReadLatencyVsTmpfs logs the p50, p90 and p99 of open+read+close of a
// cached 4 KiB secret on the FUSE mount and on tmpfs, measured in
// alternating rounds, and their ratio.
func TestReadLatencyVsTmpfs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping measurement in short mode")
	}
	fusePath, tmpfsPath := readFixture(t)
	const rounds, perRound = 20, 1000
	buf := make([]byte, 8192)
	openReadClose(t, fusePath, buf)
	openReadClose(t, tmpfsPath, buf)
	var fuseNs, tmpfsNs []time.Duration
	measure := func(path string, into *[]time.Duration) {
		for range perRound {
			start := time.Now()
			openReadClose(t, path, buf)
			*into = append(*into, time.Since(start))
		}
	}
	for range rounds {
		measure(fusePath, &fuseNs)
		measure(tmpfsPath, &tmpfsNs)
	}
	pct := func(d []time.Duration, p int) time.Duration {
		slices.Sort(d)
		return d[len(d)*p/100]
	}
	f50, t50 := pct(fuseNs, 50), pct(tmpfsNs, 50)
	t.Logf("open+read+close of 4 KiB, %d samples each:", len(fuseNs))
	t.Logf("  fuse:  p50 %v  p90 %v  p99 %v", f50, pct(fuseNs, 90), pct(fuseNs, 99))
	t.Logf("  tmpfs: p50 %v  p90 %v  p99 %v", t50, pct(tmpfsNs, 90), pct(tmpfsNs, 99))
	t.Logf("  p50 ratio fuse/tmpfs: %.2f", float64(f50)/float64(t50))
}
