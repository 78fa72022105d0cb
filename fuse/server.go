//go:build linux

package fuse

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// cacheTimeout is how long the kernel may trust an entry or attributes
// without asking. Every change is invalidated explicitly, so it only bounds
// the damage of an invalidation that could not be delivered.
const cacheTimeout = time.Hour

// rootIno is the inode number of the root directory; file i has rootIno+1+i.
const rootIno = 1

// Server serves one mount: a directory of files held in memory. Its methods
// are safe for concurrent use.
type Server struct {
	mountpoint string
	unmount    bool // Close unmounts: false for ServeFD, whose mount is elsewhere
	started    time.Time
	files      []*file
	byName     map[string]*file
	dirents    []gofuse.DirEntry
	root       *rootNode
	noOpen     bool // the kernel can skip OPEN (set before serving)
	done       chan struct{}
	counters   counters
	epoch      uint16 // see nodeID
	fd         int    // the /dev/fuse descriptor go-fuse serves, or -1
	kernelInit []byte // the kernel's INIT request (see Conn)

	// lookupMu orders the kernel gaining and dropping references to nodes
	// (read side: LOOKUP; write side: FORGET) against changes of the
	// current versions (write side: Update, Unlock, Lock, Close). See rawFS.
	lookupMu sync.RWMutex

	mu     sync.Mutex // guards the fields below and the Server.mu fields of file and version
	gen    uint64     // last generation handed out
	locked bool
	closed bool
}

// file is one name of the mount.
type file struct {
	name     string
	ino      uint64
	uid, gid uint32
	mode     uint32

	// Guarded by Server.mu.
	cur      *version
	retained []*version // superseded versions the kernel still holds
}

// Mount mounts a file system holding opts.Files at opts.Mountpoint, read-only,
// nosuid, nodev and noexec, with allow_other and default_permissions, and
// serves it until Close or until it is unmounted from outside. It needs
// CAP_SYS_ADMIN and /dev/fuse.
func Mount(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Mountpoint == "" {
		return nil, fmt.Errorf("%w: no mountpoint", ErrInvalidOptions)
	}
	mp, err := filepath.Abs(opts.Mountpoint)
	if err != nil {
		return nil, fmt.Errorf("fuse: mountpoint: %w", err)
	}
	fd, err := mountFD(mp, opts.name())
	if err != nil {
		return nil, err
	}
	s := newServer(opts, mp)
	s.unmount = true
	if err := s.serveAfter(fd, opts, nil); err != nil {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
		return nil, err
	}
	disablePoll(mp)
	return s, nil
}

// ServeFD serves opts.Files on fd, a /dev/fuse descriptor already mounted
// somewhere, typically by [MountFD] in another mount namespace. It takes
// ownership of fd (closing it on error) unless fd is not positive, which is
// rejected. opts.Mountpoint is only reported. The mount
// lives as long as its namespace: Close wipes the data and makes every
// request fail, but cannot unmount it; Wait returns when it goes away.
func ServeFD(fd int, opts Options) (*Server, error) {
	if fd <= 0 {
		return nil, fmt.Errorf("%w: bad file descriptor %d", ErrInvalidOptions, fd)
	}
	if err := opts.Validate(); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	s := newServer(opts, opts.Mountpoint)
	if err := s.serveAfter(fd, opts, nil); err != nil {
		return nil, err
	}
	return s, nil
}

func newServer(opts Options, mountpoint string) *Server {
	s := &Server{
		mountpoint: mountpoint,
		started:    time.Now(),
		byName:     make(map[string]*file, len(opts.Files)),
		done:       make(chan struct{}),
		epoch:      1,
		fd:         -1,
	}
	for i, in := range opts.Files {
		f := &file{
			name: in.Name,
			ino:  rootIno + 1 + uint64(i),
			uid:  in.UID,
			gid:  in.GID,
			mode: in.mode(),
		}
		s.gen++
		f.cur = newVersion(f, s.gen, newBuffer(in.Data, &s.counters), &s.counters)
		s.files = append(s.files, f)
		s.byName[f.name] = f
		s.dirents = append(s.dirents, gofuse.DirEntry{Name: f.name, Ino: f.ino, Mode: syscall.S_IFREG})
	}
	s.root = &rootNode{s: s}
	return s
}

// serveAfter starts serving the mounted descriptor fd, which it takes over;
// before, if not nil, runs once go-fuse has answered INIT, before it reads
// any other request.
func (s *Server) serveAfter(fd int, opts Options, before func() error) error {
	timeout := cacheTimeout
	bridge := fs.NewNodeFS(s.root, &fs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout, // the set of names never changes
		NullPermissions: true,
		RootStableAttr:  &fs.StableAttr{Ino: rootIno},
		ExternalNodeID:  true, // see nodeID
	})
	mo := &gofuse.MountOptions{
		FsName: opts.name(),
		Name:   opts.name(),
		Debug:  opts.Debug,
		// The kernel takes attributes from READDIRPLUS entries as they
		// are; without it every entry goes through Lookup, which rawFS
		// fixes up (see nodeID).
		DisableReadDirPlus: true,
	}
	// go-fuse takes over an already mounted descriptor named /dev/fd/N.
	srv, err := gofuse.NewServer(&rawFS{RawFileSystem: bridge, s: s}, fmt.Sprintf("/dev/fd/%d", fd), mo)
	if err != nil {
		s.stopped()
		return fmt.Errorf("fuse: serve %s: %w", s.mountpoint, err)
	}
	if before != nil {
		if err := before(); err != nil {
			_ = unix.Close(fd)
			s.stopped()
			return err
		}
	}
	s.fd = fd
	s.kernelInit = kernelInitBytes(srv.KernelSettings())
	s.noOpen = srv.KernelSettings().Flags64()&gofuse.CAP_NO_OPEN_SUPPORT != 0
	go func() {
		srv.Serve()
		s.stopped()
	}()
	return nil
}

// disablePoll makes the kernel stop forwarding poll(2) on the mount. Go's
// runtime registers every file it opens with epoll, and the kernel asks the
// server about each such file while holding the runtime's P, so a process
// that reads its own mount could otherwise stall every P waiting on itself.
// go-fuse answers POLL on its reserved file with ENOSYS, which the kernel
// remembers for the whole mount.
func disablePoll(mountpoint string) {
	fd, err := unix.Open(filepath.Join(mountpoint, pollHackName), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	_ = unix.Close(fd)
}

// Mountpoint returns the directory the server was mounted on (as given to
// ServeFD, for a descriptor served from elsewhere).
func (s *Server) Mountpoint() string { return s.mountpoint }

// MlockFailures returns how many buffers could not be locked into memory
// (RLIMIT_MEMLOCK, or no CAP_IPC_LOCK). Such buffers are served and wiped
// like the others but could be swapped out.
func (s *Server) MlockFailures() uint64 { return s.counters.mlockFailures.Load() }

// lookup returns the version a lookup of f resolves to and records that the
// kernel holds its node. Called with lookupMu held for reading.
func (s *Server) lookup(ctx context.Context, f *file) (*version, syscall.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return nil, syscall.EACCES
	}
	v := f.cur
	if v.node == nil {
		v.node = &fileNode{s: s, v: v}
		s.root.NewInode(ctx, v.node, fs.StableAttr{Mode: syscall.S_IFREG, Ino: nodeID(s.epoch, int(f.ino-rootIno-1), v.gen), Gen: v.gen})
	}
	v.kernelRef = true
	return v, 0
}

// forgotten records that the kernel dropped its last reference to v's node.
// Called with lookupMu held for writing (see rawFS.Forget).
func (s *Server) forgotten(v *version) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.kernelRef = false
	if v.current {
		return
	}
	f := v.file
	f.retained = slices.DeleteFunc(f.retained, func(r *version) bool { return r == v })
	v.retire()
}

// install makes a new version of f current and retires or retains the old
// one. It returns the old version's node if the kernel may hold it. Called
// with lookupMu and mu held.
func (s *Server) install(f *file, buf buffer) *fileNode {
	s.gen++
	old := f.cur
	f.cur = newVersion(f, s.gen, buf, &s.counters)
	old.current = false
	if !old.kernelRef {
		old.retire()
		return nil
	}
	f.retained = append(f.retained, old)
	return old.node
}

// Update atomically replaces the content of the file name with a copy of
// data. Every open of the file that starts after Update returns reads data;
// a file opened before keeps reading the old content, whole. It returns
// [ErrNotFound], [ErrLocked] or [ErrClosed].
func (s *Server) Update(name string, data []byte) error {
	f := s.byName[name]
	if f == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	buf := newBuffer(data, &s.counters)
	s.lookupMu.Lock()
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		s.lookupMu.Unlock()
		buf.wipe(&s.counters)
		return err
	}
	old := s.install(f, buf)
	s.mu.Unlock()
	s.lookupMu.Unlock()

	// Drop the kernel's entry so the next open looks the name up again,
	// and the old inode's pages: a reader still holding it reads them
	// again from the old version.
	_ = s.root.NotifyEntry(name)
	if old != nil {
		_ = old.NotifyContent(0, 0)
	}
	return nil
}

func (s *Server) usableLocked() error {
	switch {
	case s.closed:
		return ErrClosed
	case s.locked:
		return ErrLocked
	}
	return nil
}

// Lock wipes the content of every file and makes every lookup, stat, open
// and read of the files fail with EACCES, including reads on descriptors
// opened before. It takes effect before Lock returns, except for READ
// replies already being written. Locking a locked or closed server does
// nothing.
func (s *Server) Lock() {
	s.lookupMu.Lock()
	s.mu.Lock()
	if s.locked || s.closed {
		s.mu.Unlock()
		s.lookupMu.Unlock()
		return
	}
	s.locked = true
	nodes := s.killLocked()
	s.mu.Unlock()
	s.lookupMu.Unlock()
	s.invalidate(nodes)
}

// killLocked kills every version and returns the nodes the kernel holds.
func (s *Server) killLocked() []*fileNode {
	var nodes []*fileNode
	for _, f := range s.files {
		for _, v := range append(slices.Clip(f.retained), f.cur) {
			v.kill()
			if v.kernelRef {
				nodes = append(nodes, v.node)
			}
		}
	}
	return nodes
}

// invalidate drops the kernel's entries for every name, so the next open
// looks it up (and fails), and the cached pages and attributes of nodes, so
// the next stat or read on a descriptor already open asks the server (and
// fails). The kernel invalidates an entry only once the lookups in flight in
// the directory are done, so none of them can leave an entry behind.
func (s *Server) invalidate(nodes []*fileNode) {
	for _, f := range s.files {
		_ = s.root.NotifyEntry(f.name)
	}
	for _, n := range nodes {
		_ = n.NotifyContent(0, 0)
	}
}

// Unlock restores serving after Lock with a copy of the content of every
// file, given by name. It returns [ErrNotFound] for a name that is not a
// file of the mount, [ErrMissingFile] if a file has no content,
// [ErrNotLocked] or [ErrClosed]; on error the server stays as it was.
func (s *Server) Unlock(files map[string][]byte) error {
	for name := range files {
		if s.byName[name] == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		}
	}
	for _, f := range s.files {
		if _, ok := files[f.name]; !ok {
			return fmt.Errorf("%w: %q", ErrMissingFile, f.name)
		}
	}
	bufs := make([]buffer, len(s.files))
	for i, f := range s.files {
		bufs[i] = newBuffer(files[f.name], &s.counters)
	}

	s.lookupMu.Lock()
	s.mu.Lock()
	var err error
	switch {
	case s.closed:
		err = ErrClosed
	case !s.locked:
		err = ErrNotLocked
	}
	if err != nil {
		s.mu.Unlock()
		s.lookupMu.Unlock()
		for i := range bufs {
			bufs[i].wipe(&s.counters)
		}
		return err
	}
	for i, f := range s.files {
		s.install(f, bufs[i])
	}
	s.locked = false
	s.mu.Unlock()
	s.lookupMu.Unlock()

	// Entries still point at the killed inodes; make lookups find the new
	// ones.
	for _, f := range s.files {
		_ = s.root.NotifyEntry(f.name)
	}
	return nil
}

// Close wipes all content, makes every request fail and unmounts the file
// system, lazily if it is busy. A server from ServeFD is not unmounted (its
// mount is in another namespace) and goes on answering every request with
// an error until that mount goes away. Close does not wait for the server
// to stop; see Wait. Closing a closed or stopped server does nothing (a
// mount whose server died is cleaned up with Unmount).
func (s *Server) Close() error {
	s.lookupMu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.lookupMu.Unlock()
		return nil
	}
	s.closed, s.locked = true, true
	nodes := s.killLocked()
	s.mu.Unlock()
	s.lookupMu.Unlock()

	// A lazily detached mount stays readable through open descriptors:
	// empty its page cache first.
	s.invalidate(nodes)
	if !s.unmount {
		return nil
	}
	return unmount(s.mountpoint)
}

// Wait returns when the server has stopped: when the mount was unmounted (by
// Close or from outside) and no descriptor, lazily detached mount or bind
// mount of it remains, or when the namespace of a ServeFD mount died.
func (s *Server) Wait() { <-s.done }

// stopped runs when the serve loop has ended: no handler can run any more,
// so every buffer is wiped whatever replies were in flight.
func (s *Server) stopped() {
	s.lookupMu.Lock()
	s.mu.Lock()
	s.closed, s.locked = true, true
	for _, f := range s.files {
		for _, v := range append(slices.Clip(f.retained), f.cur) {
			v.forceWipe()
		}
	}
	s.mu.Unlock()
	s.lookupMu.Unlock()
	close(s.done)
}

// unmount detaches the mount at path, lazily if it is busy.
func unmount(path string) error {
	err := unix.Unmount(path, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(path, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("fuse: unmount %s: %w", path, err)
	}
	return nil
}
