//go:build linux

package fuse

import "errors"

// Errors returned by this package. They may be wrapped with context (a file
// name, a path, an errno) but never with file content. Test with [errors.Is].
var (
	// ErrInvalidOptions means [Options] failed validation: a bad file name,
	// a duplicate name, mode bits other than permissions, a bad mount name.
	ErrInvalidOptions = errors.New("fuse: invalid options")
	// ErrNotFound means a name given to Update or Unlock is not a file of the
	// mount.
	ErrNotFound = errors.New("fuse: no such file in mount")
	// ErrMissingFile means Unlock was not given content for every file.
	ErrMissingFile = errors.New("fuse: no content for a file of the mount")
	// ErrLocked means the mount is locked: Update needs Unlock first.
	ErrLocked = errors.New("fuse: mount is locked")
	// ErrNotLocked means Unlock was called on a mount that is not locked.
	ErrNotLocked = errors.New("fuse: mount is not locked")
	// ErrClosed means the server was closed or has stopped serving.
	ErrClosed = errors.New("fuse: server is closed")
)
