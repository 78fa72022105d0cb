//go:build linux

package fuse

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// buffer holds plaintext outside the Go heap: an anonymous private mapping,
// locked into RAM where the kernel allows it and left out of core dumps. The
// mapping is the only copy this package makes, so zeroing and unmapping it
// removes the plaintext from the process.
type buffer struct {
	mem    []byte // whole mapping, or a heap slice if mmap failed
	n      int    // content length
	mapped bool
}

// counters are the per-server statistics the buffers update.
type counters struct {
	mlockFailures atomic.Uint64
	live          atomic.Int64 // buffers not yet wiped
}

func newBuffer(data []byte, c *counters) buffer {
	c.live.Add(1)
	if len(data) == 0 {
		return buffer{}
	}
	page := unix.Getpagesize()
	size := (len(data) + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		// Without a mapping the bytes cannot be locked, but they are
		// still zeroed when the version dies.
		c.mlockFailures.Add(1)
		mem = make([]byte, len(data))
		copy(mem, data)
		return buffer{mem: mem, n: len(data)}
	}
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)
	if err := unix.Mlock(mem); err != nil {
		// ENOMEM (RLIMIT_MEMLOCK) or EPERM: serve anyway, unlocked.
		c.mlockFailures.Add(1)
	}
	copy(mem, data)
	return buffer{mem: mem, n: len(data), mapped: true}
}

func (b *buffer) bytes() []byte { return b.mem[:b.n] }

func (b *buffer) wipe(c *counters) {
	if b.mem != nil {
		clear(b.mem)
		if b.mapped {
			_ = unix.Munlock(b.mem)
			_ = unix.Munmap(b.mem)
		}
	}
	*b = buffer{}
	c.live.Add(-1)
}

// version is one content of one file, served as one kernel inode. Its bytes
// never change; they are wiped when the version dies:
//
//   - killed by Lock or Close: reads fail with EACCES at once;
//   - retired: superseded by a newer version and forgotten by the kernel.
//
// Either way the buffer is wiped as soon as no READ reply points into it.
type version struct {
	file  *file
	gen   uint64
	size  int
	mtime time.Time
	c     *counters

	killed atomic.Bool

	mu       sync.Mutex
	buf      buffer
	inflight int // READ replies pointing into buf
	retired  bool
	wiped    bool

	// Guarded by Server.mu.
	node      *fileNode // created at the first lookup
	kernelRef bool      // node handed to the kernel and not forgotten since
	current   bool      // the file's version for new lookups
}

func newVersion(f *file, gen uint64, buf buffer, c *counters) *version {
	return &version{
		file:    f,
		gen:     gen,
		size:    buf.n,
		mtime:   time.Now(),
		c:       c,
		buf:     buf,
		current: true,
	}
}

// acquire returns content[off:off+n] and holds the buffer until release.
// It returns nil, without holding, when the range is empty.
func (v *version) acquire(off int64, n int) ([]byte, syscall.Errno) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.killed.Load():
		return nil, syscall.EACCES
	case v.retired || v.wiped:
		// The kernel forgot this inode; it cannot read it.
		return nil, syscall.ESTALE
	}
	if off < 0 || off >= int64(v.size) || n <= 0 {
		return nil, 0
	}
	end := min(int64(v.size), off+int64(n))
	v.inflight++
	return v.buf.bytes()[off:end], 0
}

func (v *version) release() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inflight--
	v.maybeWipe()
}

// kill makes every further read fail and wipes the buffer once no reply
// points into it.
func (v *version) kill() {
	v.killed.Store(true)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.maybeWipe()
}

// retire wipes the buffer once no reply points into it.
func (v *version) retire() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.retired = true
	v.maybeWipe()
}

// forceWipe wipes the buffer now. Only for when no request handler can run.
func (v *version) forceWipe() {
	v.killed.Store(true)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.inflight = 0
	v.maybeWipe()
}

func (v *version) maybeWipe() {
	if v.wiped || v.inflight > 0 || !(v.retired || v.killed.Load()) {
		return
	}
	v.buf.wipe(v.c)
	v.wiped = true
}

// fill sets the attributes of the version's inode.
func (v *version) fill(a *gofuse.Attr) {
	f := v.file
	a.Mode = f.mode
	a.Size = uint64(v.size)
	a.Uid, a.Gid = f.uid, f.gid
	a.Nlink = 1
	a.Blksize = 4096
	a.SetTimes(&v.mtime, &v.mtime, &v.mtime)
}

// readResult is a zero-copy READ reply. go-fuse writes Slices to the kernel
// and calls Done afterwards; Bytes is never used on Linux for a result with
// Slices, and returns the same bytes if it is.
type readResult struct {
	v    *version
	data []byte
}

func (r *readResult) Size() int { return len(r.data) }

func (r *readResult) Bytes([]byte) ([]byte, gofuse.Status) { return r.data, gofuse.OK }

// Slices makes go-fuse write the reply with writev straight from the buffer
// and call Done only after the write (and print only the reply's size in its
// debug log).
func (r *readResult) Slices() ([][]byte, gofuse.Status) { return [][]byte{r.data}, gofuse.OK }

func (r *readResult) Done() { r.v.release() }

var _ gofuse.ReadResult = (*readResult)(nil)
