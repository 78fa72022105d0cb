// Package fuse serves secrets to tasks from a read-only FUSE file system held
// in the daemon's memory, so plaintext never reaches a disk. It owns the file
// system (one flat directory of files, each with its own name, owner and
// mode), the buffers that hold the plaintext, and the mount plumbing: mounting
// in this namespace ([Mount]), serving a mount made in another namespace
// ([MountFD], [ServeFD]), and cleaning up after a crash ([Unmount],
// [IsMounted]). Which secrets a mount shows, and when they change, is decided
// by the caller.
//
// # Semantics
//
// A mount is made read-only, nosuid, nodev and noexec, with allow_other and
// default_permissions, so the kernel itself enforces each file's uid, gid and
// mode for every process. Writes, creates, mkdir, renames, unlinks, chmod,
// chown and truncation fail with EROFS; the server answers EROFS too, so a
// mount made by other means is no less read-only. The root directory is mode
// 0555 owned by root and lists exactly the files given. A file's size is the
// length of its content and its inode number never changes.
//
// # Versions
//
// Every content a file has had is a separate version, and each version is a
// separate kernel inode (same inode number, new generation) whose bytes never
// change. [Server.Update] installs a new version and then invalidates the
// kernel's directory entry, so every open after Update returns reaches the
// new inode. A process that opened the file earlier keeps reading the old
// inode, from the page cache or from the old version, which is kept until the
// kernel forgets that inode. A reader therefore sees the old bytes or the new
// bytes, never a mix, and the size it sees always matches the bytes. This is
// what renaming a new file over an old one gives on a disk file system, and
// unlike an in-place swap it holds for files larger than one read.
//
// The kernel serializes directory-entry invalidation with lookups that are in
// flight in the same directory, so a lookup answered with the old version
// just before an update cannot leave a stale entry behind.
//
// # Locking
//
// [Server.Lock] marks every version dead, wipes its bytes and invalidates the
// kernel's cached pages and attributes of every inode it may still hold.
// From then on lookups, stat, open and read, including reads on descriptors
// opened before the lock, fail with EACCES. [Server.Unlock] installs fresh
// versions of every file; descriptors opened before the lock keep failing and
// must be reopened.
//
// # Memory
//
// Plaintext lives in anonymous private mappings outside the Go heap, locked
// into RAM with mlock where the kernel allows it (failures are counted, see
// [Server.MlockFailures]) and excluded from core dumps. Reads are zero-copy: a
// READ reply points into the mapping, which holds a reference until the reply
// has been written to the kernel, so a buffer is zeroed and unmapped exactly
// when it is superseded or killed and no reply still points into it. No copy
// is made on the Go heap. The kernel's page cache holds plaintext of files
// that were read, as tmpfs would; those pages are clean and never written to
// swap, and they are dropped on Update (for the old inode), Lock and Close.
// Errors and logs never contain file content, and go-fuse's debug log shows
// only the size of READ replies.
//
// # Speed
//
// A cached read of a secret never leaves the kernel: entries and attributes
// are cached for an hour and invalidated explicitly, OPEN is answered with
// ENOSYS so the kernel stops sending OPEN and RELEASE and keeps the page
// cache across opens, and FLUSH is answered with ENOSYS so close stops
// sending it. open+read+close of a cached file then stays close to what it
// costs on tmpfs (see BenchmarkReadVsTmpfs and TestReadLatencyVsTmpfs).
// Go programs that read a mount with package os pay one more epoll
// registration per open than on tmpfs, which the kernel refuses for tmpfs
// files but accepts for FUSE ones.
//
// # Namespaces
//
// For `vault exec`, a child in a private mount namespace calls [MountFD] to
// mount the file system at its own /run/secrets and hands the returned
// /dev/fuse descriptor to the daemon (see [SendFD] and [ReceiveFD]), which
// serves it with [ServeFD]. Nothing outside that namespace sees the mount; it
// ends when the namespace does, and [Server.Wait] returns then.
//
// # Handoff
//
// A mount can outlive the process serving it. [Server.Conn] returns a new
// /dev/fuse descriptor of the mount's connection ([CloneFD]: a clone, so the
// kernel ends only the requests a dying process had taken, with
// ECONNABORTED, rather than leaving them waiting) and what the kernel said
// at INIT. Whoever keeps it open keeps the mount alive: requests wait in the
// kernel. [Refuse] answers them with an error meanwhile, after making the
// kernel forget the names it cached; [Resume] serves the mount again in
// another process. Node ids carry the serving process's epoch, so a resumed
// server never hands out one the kernel still holds from an earlier one;
// requests on those (a descriptor opened before) fail with EACCES, as after
// Lock. Pages the kernel cached for a descriptor held open across a crash
// stay readable through it.
package fuse
