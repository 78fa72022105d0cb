//go:build linux

package fuse

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
)

// rootNode is the mount's only directory. It answers lookups and listings
// from the Server's table rather than from go-fuse's tree, so that which
// version a name resolves to is decided in one place, under Server.mu.
type rootNode struct {
	fs.Inode
	s *Server
}

var (
	_ fs.NodeGetattrer     = (*rootNode)(nil)
	_ fs.NodeLookuper      = (*rootNode)(nil)
	_ fs.NodeReaddirer     = (*rootNode)(nil)
	_ fs.NodeSetattrer     = (*rootNode)(nil)
	_ fs.NodeCreater       = (*rootNode)(nil)
	_ fs.NodeMkdirer       = (*rootNode)(nil)
	_ fs.NodeMknoder       = (*rootNode)(nil)
	_ fs.NodeSymlinker     = (*rootNode)(nil)
	_ fs.NodeLinker        = (*rootNode)(nil)
	_ fs.NodeUnlinker      = (*rootNode)(nil)
	_ fs.NodeRmdirer       = (*rootNode)(nil)
	_ fs.NodeRenamer       = (*rootNode)(nil)
	_ fs.NodeSetxattrer    = (*rootNode)(nil)
	_ fs.NodeRemovexattrer = (*rootNode)(nil)
)

func (r *rootNode) Getattr(ctx context.Context, fh fs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	out.Mode = 0o555
	out.Nlink = 2
	out.Uid, out.Gid = 0, 0
	out.SetTimes(&r.s.started, &r.s.started, &r.s.started)
	return 0
}

func (r *rootNode) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := r.s.byName[name]
	if f == nil {
		return nil, syscall.ENOENT
	}
	v, errno := r.s.lookup(ctx, f)
	if errno != 0 {
		return nil, errno
	}
	v.fill(&out.Attr)
	return &v.node.Inode, 0
}

func (r *rootNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return fs.NewListDirStream(r.s.dirents), 0
}

func (r *rootNode) Setattr(context.Context, fs.FileHandle, *gofuse.SetAttrIn, *gofuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (r *rootNode) Create(context.Context, string, uint32, uint32, *gofuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (r *rootNode) Mkdir(context.Context, string, uint32, *gofuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (r *rootNode) Mknod(context.Context, string, uint32, uint32, *gofuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (r *rootNode) Symlink(context.Context, string, string, *gofuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (r *rootNode) Link(context.Context, fs.InodeEmbedder, string, *gofuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (r *rootNode) Unlink(context.Context, string) syscall.Errno { return syscall.EROFS }

func (r *rootNode) Rmdir(context.Context, string) syscall.Errno { return syscall.EROFS }

func (r *rootNode) Rename(context.Context, string, fs.InodeEmbedder, string, uint32) syscall.Errno {
	return syscall.EROFS
}

func (r *rootNode) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.EROFS
}

func (r *rootNode) Removexattr(context.Context, string) syscall.Errno { return syscall.EROFS }

// fileNode is the kernel inode of one version of one file.
type fileNode struct {
	fs.Inode
	s *Server
	v *version
}

var (
	_ fs.NodeGetattrer     = (*fileNode)(nil)
	_ fs.NodeOpener        = (*fileNode)(nil)
	_ fs.NodeReader        = (*fileNode)(nil)
	_ fs.NodeFlusher       = (*fileNode)(nil)
	_ fs.NodeOnForgetter   = (*fileNode)(nil)
	_ fs.NodeSetattrer     = (*fileNode)(nil)
	_ fs.NodeWriter        = (*fileNode)(nil)
	_ fs.NodeAllocater     = (*fileNode)(nil)
	_ fs.NodeSetxattrer    = (*fileNode)(nil)
	_ fs.NodeRemovexattrer = (*fileNode)(nil)
)

func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	if n.v.killed.Load() {
		return syscall.EACCES
	}
	n.v.fill(&out.Attr)
	return 0
}

// Open answers ENOSYS where the kernel supports it: the kernel then treats
// every open of the mount as successful without asking, keeps the page
// cache (FOPEN_KEEP_CACHE), and sends no RELEASE.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.v.killed.Load() {
		return nil, 0, syscall.EACCES
	}
	if n.s.noOpen {
		return nil, 0, syscall.ENOSYS
	}
	return nil, gofuse.FOPEN_KEEP_CACHE, 0
}

func (n *fileNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (gofuse.ReadResult, syscall.Errno) {
	data, errno := n.v.acquire(off, len(dest))
	if errno != 0 {
		return nil, errno
	}
	if data == nil {
		return gofuse.ReadResultData(nil), 0
	}
	return &readResult{v: n.v, data: data}, 0
}

// Flush answers ENOSYS so the kernel stops sending FLUSH on close.
func (n *fileNode) Flush(context.Context, fs.FileHandle) syscall.Errno { return syscall.ENOSYS }

// OnForget runs when the kernel has dropped its last reference to the
// inode. It is called only from Forget, which rawFS runs with lookupMu held,
// so no lookup can revive the node concurrently.
func (n *fileNode) OnForget() { n.s.forgotten(n.v) }

func (n *fileNode) Setattr(context.Context, fs.FileHandle, *gofuse.SetAttrIn, *gofuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (n *fileNode) Write(context.Context, fs.FileHandle, []byte, int64) (uint32, syscall.Errno) {
	return 0, syscall.EROFS
}

func (n *fileNode) Allocate(context.Context, fs.FileHandle, uint64, uint64, uint32) syscall.Errno {
	return syscall.EROFS
}

func (n *fileNode) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.EROFS
}

func (n *fileNode) Removexattr(context.Context, string) syscall.Errno { return syscall.EROFS }

// rawFS wraps go-fuse's node bridge so that handing a node to the kernel
// (LOOKUP, READDIRPLUS: our Lookup plus go-fuse's registration of the node)
// and the kernel dropping it (FORGET: go-fuse's bookkeeping plus OnForget)
// are atomic with respect to each other and to Update, Unlock, Lock and
// Close, which take lookupMu exclusively. That makes Server.mu's view of
// which versions the kernel holds exact.
type rawFS struct {
	gofuse.RawFileSystem
	s *Server
}

func (r *rawFS) Lookup(cancel <-chan struct{}, h *gofuse.InHeader, name string, out *gofuse.EntryOut) gofuse.Status {
	r.s.lookupMu.RLock()
	defer r.s.lookupMu.RUnlock()
	st := r.RawFileSystem.Lookup(cancel, h, name, out)
	if st.Ok() && out.NodeId != rootIno {
		out.Attr.Ino = nodeIno(out.NodeId)
	}
	return st
}

func (r *rawFS) ReadDirPlus(cancel <-chan struct{}, in *gofuse.ReadIn, out *gofuse.DirEntryList) gofuse.Status {
	r.s.lookupMu.RLock()
	defer r.s.lookupMu.RUnlock()
	return r.RawFileSystem.ReadDirPlus(cancel, in, out)
}

func (r *rawFS) Forget(nodeid, nlookup uint64) {
	if r.foreign(nodeid) {
		return
	}
	r.s.lookupMu.Lock()
	defer r.s.lookupMu.Unlock()
	r.RawFileSystem.Forget(nodeid, nlookup)
}
