package fuse

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fuseDevIocClone is FUSE_DEV_IOC_CLONE, _IOR(229, 0, uint32_t): it attaches
// a freshly opened /dev/fuse descriptor to the connection of another.
const fuseDevIocClone = 0x8004e500

// Node ids: the kernel names every inode of a mount by a node id the server
// chose, and holds on to them across a change of server (see [Resume]). So
// that a server never hands out an id an earlier server of the same mount
// handed out, a file version's node id carries the server's epoch, the
// file's index and the version's generation:
//
//	epoch (16 bits) | file index + 1 (16 bits) | generation (32 bits)
//
// The root is node id 1 (epoch 0). The kernel reports a file's inode number
// as rootIno+1+index whatever its node id (rawFS fixes up the attributes).
const (
	// MaxEpoch is the largest epoch: go-fuse reserves node id 2^64-1.
	MaxEpoch = 0xfffe
	// maxFiles bounds the files of one mount so the index fits its field.
	maxFiles = 0xfffe
)

func nodeID(epoch uint16, index int, gen uint64) uint64 {
	return uint64(epoch)<<48 | uint64(index+1)<<32 | gen&0xffffffff
}

func nodeEpoch(id uint64) uint16 { return uint16(id >> 48) }

// nodeIno is the inode number of the file a node id belongs to.
func nodeIno(id uint64) uint64 { return rootIno + (id>>32)&0xffff }

// ErrHandoff means a connection could not be handed over or taken over.
var ErrHandoff = errors.New("fuse: connection handoff failed")

// Conn describes a mount's kernel connection, so that another process can
// serve it later with [Resume]: a /dev/fuse descriptor attached to it, and
// what the kernel said when the connection started.
type Conn struct {
	// FD is a /dev/fuse descriptor of its own (see [CloneFD]), owned by
	// whoever holds the Conn. While it is open the mount stays alive:
	// requests wait in the kernel until some descriptor of the connection
	// is read.
	FD int
	// Init is the kernel's INIT request, as [Server.Conn] recorded it.
	Init []byte
	// Epoch is the epoch of the last server of the mount; [Resume] picks
	// the next.
	Epoch uint16
}

// CloneFD opens /dev/fuse and attaches the new descriptor to the connection
// fd belongs to (FUSE_DEV_IOC_CLONE). Each descriptor has its own queue of
// requests being answered, so when the process reading one dies, the kernel
// fails only the requests that process had taken (ECONNABORTED), and the
// mount lives on as long as any descriptor of it is open. A copy of the same
// descriptor (dup, SCM_RIGHTS) would instead keep those requests waiting
// forever. The result is close-on-exec.
func CloneFD(fd int) (int, error) {
	nfd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("%w: open /dev/fuse: %v", ErrHandoff, err)
	}
	src := uint32(fd)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(nfd), fuseDevIocClone, uintptr(unsafe.Pointer(&src))); errno != 0 {
		_ = unix.Close(nfd)
		return -1, fmt.Errorf("%w: clone /dev/fuse descriptor: %v", ErrHandoff, errno)
	}
	return nfd, nil
}

// Conn returns a Conn for the server's mount with a new descriptor of its
// own (the caller owns Conn.FD). Keeping it open in another process keeps
// the mount alive when this one dies; [Resume] serves it again.
func (s *Server) Conn() (Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.fd < 0 || len(s.kernelInit) == 0 {
		return Conn{}, fmt.Errorf("%w: this server cannot hand its mount over", ErrHandoff)
	}
	fd, err := CloneFD(s.fd)
	if err != nil {
		return Conn{}, err
	}
	return Conn{FD: fd, Init: append([]byte(nil), s.kernelInit...), Epoch: s.epoch}, nil
}

// Epoch returns the server's epoch (see [Conn]).
func (s *Server) Epoch() uint16 { return s.epoch }

// kernelInitBytes encodes the kernel's INIT request as it arrived.
func kernelInitBytes(in *gofuse.InitIn) []byte {
	b := unsafe.Slice((*byte)(unsafe.Pointer(in)), unsafe.Sizeof(*in))
	return append([]byte(nil), b...)
}

// Resume serves opts.Files on the mount c belongs to, whose previous server
// is gone, as if it had been mounted now: every name the kernel has cached
// is invalidated, so the next open of each reaches this server. The kernel
// still holds the inodes the earlier servers gave it: requests on them
// (stat or read through a descriptor opened before) fail with EACCES, as
// after [Server.Lock], and must be reopened. Resume serves a new clone of
// c.FD; the caller keeps c.FD. Close unmounts opts.Mountpoint if it is an
// absolute path (the mount must be there, in this mount namespace); with a
// relative or empty one, Close cannot end the kernel's mount while another
// descriptor of it is open.
//
// The kernel sends INIT only once per connection, and go-fuse will not serve
// without one: Resume hands go-fuse a socket holding c.Init and, once it has
// answered it, puts the clone in the socket's place.
func Resume(c Conn, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if int(unsafe.Sizeof(gofuse.InitIn{})) != len(c.Init) {
		return nil, fmt.Errorf("%w: INIT record is %d bytes, want %d", ErrHandoff, len(c.Init), unsafe.Sizeof(gofuse.InitIn{}))
	}
	fd, err := CloneFD(c.FD)
	if err != nil {
		return nil, err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%w: socketpair: %v", ErrHandoff, err)
	}
	front, back := pair[0], pair[1]
	defer unix.Close(back)
	init := append([]byte(nil), c.Init...)
	binary.NativeEndian.PutUint32(init[0:4], uint32(len(init))) // InHeader.Length
	binary.NativeEndian.PutUint64(init[8:16], 1)                // InHeader.Unique
	if _, err := unix.Write(back, init); err != nil {
		_ = unix.Close(fd)
		_ = unix.Close(front)
		return nil, fmt.Errorf("%w: %v", ErrHandoff, err)
	}
	s := newServer(opts, opts.Mountpoint)
	s.epoch = c.Epoch%MaxEpoch + 1
	s.unmount = filepath.IsAbs(opts.Mountpoint)
	swap := func() error {
		// go-fuse answered the INIT on front and reads nothing more
		// before Serve: read its answer, then make front the clone.
		buf := make([]byte, 4096)
		_ = unix.SetsockoptTimeval(back, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
		if _, err := unix.Read(back, buf); err != nil {
			return fmt.Errorf("%w: no INIT answer: %v", ErrHandoff, err)
		}
		if err := unix.Dup3(fd, front, unix.O_CLOEXEC); err != nil {
			return fmt.Errorf("%w: dup3: %v", ErrHandoff, err)
		}
		_ = unix.Close(fd)
		return nil
	}
	if err := s.serveAfter(front, opts, swap); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	for _, f := range s.files {
		_ = s.root.NotifyEntry(f.name)
	}
	return s, nil
}

// Refuser answers every request of a mount with one error, for a process
// that holds a mount it cannot serve (locked, or not ready yet) and must
// not leave its readers waiting.
type Refuser struct {
	fd    int
	errno syscall.Errno
	stop  atomic.Bool
	done  chan struct{}
	once  sync.Once
}

// Refuse starts answering every request on a new clone of fd with errno
// (FORGET and INTERRUPT, which take no answer, are dropped), and drops the
// kernel's cached entries for names in the mount's root, so that opening
// them asks (and is refused) rather than reaching a cached inode. The
// caller keeps fd.
func Refuse(fd int, errno syscall.Errno, names []string) (*Refuser, error) {
	nfd, err := CloneFD(fd)
	if err != nil {
		return nil, err
	}
	r := &Refuser{fd: nfd, errno: errno, done: make(chan struct{})}
	go r.loop()
	// The kernel waits for lookups in flight in the directory before it
	// drops an entry: the loop answers them meanwhile.
	for _, name := range names {
		if r.stop.Load() || validateFileName(name) != nil {
			continue
		}
		_ = notifyInvalEntry(nfd, rootIno, name)
	}
	return r, nil
}

// notifyInvalEntry writes FUSE_NOTIFY_INVAL_ENTRY for parent/name to fd.
func notifyInvalEntry(fd int, parent uint64, name string) error {
	const notifyInvalEntry = 3
	msg := make([]byte, 16+16+len(name)+1)
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint32(msg[4:8], notifyInvalEntry) // error field: the notify code
	binary.NativeEndian.PutUint64(msg[16:24], parent)
	binary.NativeEndian.PutUint32(msg[24:28], uint32(len(name)))
	copy(msg[32:], name)
	_, err := unix.Write(fd, msg)
	return err
}

// Stop stops answering, within a tenth of a second, and returns when no
// request will be taken any more. Requests then wait for another reader.
func (r *Refuser) Stop() {
	r.once.Do(func() {
		r.stop.Store(true)
		<-r.done
		_ = unix.Close(r.fd)
	})
}

// Done is closed when the refuser stopped, by Stop or because the mount
// went away.
func (r *Refuser) Done() <-chan struct{} { return r.done }

func (r *Refuser) loop() {
	defer close(r.done)
	buf := make([]byte, 256*1024) // a request never exceeds max_write plus headers
	for !r.stop.Load() {
		pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n == 0 || r.stop.Load() {
			continue
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return // unmounted
		}
		m, err := unix.Read(r.fd, buf)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOENT):
			continue // ENOENT: the request was interrupted meanwhile
		case err != nil:
			return // ENODEV: unmounted
		case m < 40:
			continue
		}
		opcode := binary.NativeEndian.Uint32(buf[4:8])
		unique := binary.NativeEndian.Uint64(buf[8:16])
		switch opcode {
		case 2, 42, 36: // FORGET, BATCH_FORGET, INTERRUPT
			continue
		}
		var out [16]byte
		binary.NativeEndian.PutUint32(out[0:4], 16)
		binary.NativeEndian.PutUint32(out[4:8], uint32(-int32(r.errno)))
		binary.NativeEndian.PutUint64(out[8:16], unique)
		_, _ = unix.Write(r.fd, out[:])
	}
}

// WaitGone polls fd, a /dev/fuse descriptor, until its mount is gone or stop is
// closed, and reports whether the mount is gone.
func WaitGone(fd int, stop <-chan struct{}) bool {
	for {
		select {
		case <-stop:
			return false
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: 0}}
		n, err := unix.Poll(pfd, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return true
		}
		if n > 0 && pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			return true
		}
	}
}

// foreign reports whether the kernel names a node an earlier server of the
// mount handed out: go-fuse's bridge does not know it (and would panic).
func (r *rawFS) foreign(id uint64) bool {
	return id != rootIno && nodeEpoch(id) != r.s.epoch
}

// The requests below can name a file's node. A foreign node is answered as
// a version Lock killed: EACCES (FORGET is dropped, see rawFS.Forget).

func (r *rawFS) GetAttr(cancel <-chan struct{}, in *gofuse.GetAttrIn, out *gofuse.AttrOut) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EACCES
	}
	st := r.RawFileSystem.GetAttr(cancel, in, out)
	if st.Ok() && in.NodeId != rootIno {
		out.Ino = nodeIno(in.NodeId)
	}
	return st
}

func (r *rawFS) Statx(cancel <-chan struct{}, in *gofuse.StatxIn, out *gofuse.StatxOut) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EACCES
	}
	st := r.RawFileSystem.Statx(cancel, in, out)
	if st.Ok() && in.NodeId != rootIno {
		out.Ino = nodeIno(in.NodeId)
	}
	return st
}

func (r *rawFS) SetAttr(cancel <-chan struct{}, in *gofuse.SetAttrIn, out *gofuse.AttrOut) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EROFS
	}
	return r.RawFileSystem.SetAttr(cancel, in, out)
}

func (r *rawFS) Open(cancel <-chan struct{}, in *gofuse.OpenIn, out *gofuse.OpenOut) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EACCES
	}
	return r.RawFileSystem.Open(cancel, in, out)
}

func (r *rawFS) Read(cancel <-chan struct{}, in *gofuse.ReadIn, buf []byte) (gofuse.ReadResult, gofuse.Status) {
	if r.foreign(in.NodeId) {
		return nil, gofuse.EACCES
	}
	return r.RawFileSystem.Read(cancel, in, buf)
}

func (r *rawFS) Lseek(cancel <-chan struct{}, in *gofuse.LseekIn, out *gofuse.LseekOut) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EACCES
	}
	return r.RawFileSystem.Lseek(cancel, in, out)
}

func (r *rawFS) Access(cancel <-chan struct{}, in *gofuse.AccessIn) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EACCES
	}
	return r.RawFileSystem.Access(cancel, in)
}

func (r *rawFS) GetXAttr(cancel <-chan struct{}, h *gofuse.InHeader, attr string, dest []byte) (uint32, gofuse.Status) {
	if r.foreign(h.NodeId) {
		return 0, gofuse.EACCES
	}
	return r.RawFileSystem.GetXAttr(cancel, h, attr, dest)
}

func (r *rawFS) ListXAttr(cancel <-chan struct{}, h *gofuse.InHeader, dest []byte) (uint32, gofuse.Status) {
	if r.foreign(h.NodeId) {
		return 0, gofuse.EACCES
	}
	return r.RawFileSystem.ListXAttr(cancel, h, dest)
}

func (r *rawFS) SetXAttr(cancel <-chan struct{}, in *gofuse.SetXAttrIn, attr string, data []byte) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EROFS
	}
	return r.RawFileSystem.SetXAttr(cancel, in, attr, data)
}

func (r *rawFS) RemoveXAttr(cancel <-chan struct{}, h *gofuse.InHeader, attr string) gofuse.Status {
	if r.foreign(h.NodeId) {
		return gofuse.EROFS
	}
	return r.RawFileSystem.RemoveXAttr(cancel, h, attr)
}

func (r *rawFS) Flush(cancel <-chan struct{}, in *gofuse.FlushIn) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.ENOSYS
	}
	return r.RawFileSystem.Flush(cancel, in)
}

func (r *rawFS) Fsync(cancel <-chan struct{}, in *gofuse.FsyncIn) gofuse.Status {
	if r.foreign(in.NodeId) {
		return gofuse.EACCES
	}
	return r.RawFileSystem.Fsync(cancel, in)
}

func (r *rawFS) Release(cancel <-chan struct{}, in *gofuse.ReleaseIn) {
	if r.foreign(in.NodeId) {
		return
	}
	r.RawFileSystem.Release(cancel, in)
}

func (r *rawFS) Write(cancel <-chan struct{}, in *gofuse.WriteIn, data []byte) (uint32, gofuse.Status) {
	return 0, gofuse.EROFS
}

func (r *rawFS) Fallocate(cancel <-chan struct{}, in *gofuse.FallocateIn) gofuse.Status {
	return gofuse.EROFS
}

func (r *rawFS) GetLk(cancel <-chan struct{}, in *gofuse.LkIn, out *gofuse.LkOut) gofuse.Status {
	return gofuse.ENOSYS
}

func (r *rawFS) SetLk(cancel <-chan struct{}, in *gofuse.LkIn) gofuse.Status { return gofuse.ENOSYS }

func (r *rawFS) SetLkw(cancel <-chan struct{}, in *gofuse.LkIn) gofuse.Status { return gofuse.ENOSYS }

func (r *rawFS) Writev(cancel <-chan struct{}, in *gofuse.WriteIn, data [][]byte) (uint32, gofuse.Status) {
	return 0, gofuse.EROFS
}

func (r *rawFS) CopyFileRange(cancel <-chan struct{}, in *gofuse.CopyFileRangeIn) (uint32, gofuse.Status) {
	return 0, gofuse.EROFS
}

func (r *rawFS) Ioctl(cancel <-chan struct{}, in *gofuse.IoctlIn, inbuf []byte, out *gofuse.IoctlOut, outbuf []byte) gofuse.Status {
	return gofuse.ENOSYS
}
