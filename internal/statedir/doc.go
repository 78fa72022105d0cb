// Package statedir is a vault node's state directory on disk: its layout
// (file names, including the TLS files), the exclusive lock a daemon holds
// on it, node.json (the node's identity, one type: Node), the KEK and
// sealed node key file formats, and the start-up integrity check.
//
// It knows files, not the daemon: opening a state dir for reading (Open)
// needs neither the Raft library's NodeHost nor the vault package, so
// offline tools such as vault-rafttool use it directly.
//
// Invariants:
//   - Every file is written through WriteFileAtomic (temporary file, fsync,
//     rename, fsync of the directory): a crash leaves the old or the new file.
//   - The state dir and every directory under it are 0700 (Mode) once a
//     daemon has started on it (Secure); files are 0600.
//   - Check reads and never writes: a node refused for a damaged file leaves
//     its state dir exactly as it was.
//   - node.json holds no key material; the KEK file exists only while
//     autolock is off.
package statedir
