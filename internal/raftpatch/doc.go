// Package raftpatch holds the tests of the patches vault carries in
// third_party/dragonboat (PATCHES.md there) that are not the LogDB's (those
// are in internal/logdb) or the transport's (internal/raftnet): they run
// real NodeHosts of the patched library in one process, or the library's
// initialization in a process of their own.
package raftpatch
