//go:build linux

package fuse

import (
	"fmt"
	"os"
	"strings"
)

// DefaultName is the mount source and file system subtype ("fuse.vault") used
// when [Options.Name] is empty, and by [MountFD].
const DefaultName = "vault"

// DefaultMode is the mode of a file whose [File.Mode] is zero.
const DefaultMode os.FileMode = 0o444

// pollHackName is answered by go-fuse itself on every mount, so no file may
// be called that.
const pollHackName = ".go-fuse-epoll-hack"

// File is one secret as it appears in a mount.
type File struct {
	// Name is the file name in the mount: one path element, no '/' or NUL,
	// not "." or "..", at most 255 bytes.
	Name     string
	UID, GID uint32
	// Mode holds permission bits only, e.g. 0400; zero means DefaultMode.
	Mode os.FileMode
	// Data is copied in; the caller may wipe its copy once Mount or
	// ServeFD returns.
	Data []byte
}

// Options configures a mount. The zero value of every field but Mountpoint
// is valid.
type Options struct {
	// Mountpoint is the directory to mount on. [ServeFD] only reports it.
	Mountpoint string
	// Files are the files of the mount, in the order they are listed.
	Files []File
	// Name is the source shown in /proc/mounts and the subtype of the file
	// system type ("fuse.NAME"): letters, digits, '.', '_' and '-', at most
	// 32 bytes. Empty means DefaultName.
	Name string
	// Debug logs every FUSE request and reply with go-fuse's logger. File
	// content is never logged, only the size of READ replies.
	Debug bool
}

// Validate reports whether o can be mounted. It does not look at Mountpoint,
// which only [Mount] needs.
func (o *Options) Validate() error {
	if o.Name != "" {
		if err := validateMountName(o.Name); err != nil {
			return err
		}
	}
	if len(o.Files) > maxFiles {
		return fmt.Errorf("%w: %d files, at most %d fit one mount", ErrInvalidOptions, len(o.Files), maxFiles)
	}
	seen := make(map[string]bool, len(o.Files))
	for i, f := range o.Files {
		if err := validateFileName(f.Name); err != nil {
			return fmt.Errorf("%w: file %d: %v", ErrInvalidOptions, i, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: file %d: duplicate name %q", ErrInvalidOptions, i, f.Name)
		}
		seen[f.Name] = true
		if f.Mode&^os.ModePerm != 0 {
			return fmt.Errorf("%w: file %q: mode %v has bits other than permissions", ErrInvalidOptions, f.Name, f.Mode)
		}
	}
	return nil
}

func (o *Options) name() string {
	if o.Name == "" {
		return DefaultName
	}
	return o.Name
}

func validateFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case name == "." || name == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case name == pollHackName:
		return fmt.Errorf("name %q is reserved", name)
	case len(name) > 255:
		return fmt.Errorf("name longer than 255 bytes")
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name %q contains '/' or NUL", name)
	}
	return nil
}

func validateMountName(name string) error {
	if len(name) > 32 {
		return fmt.Errorf("%w: name longer than 32 bytes", ErrInvalidOptions)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: name %q may only hold letters, digits, '.', '_' and '-'", ErrInvalidOptions, name)
		}
	}
	return nil
}

func (f *File) mode() uint32 {
	if f.Mode == 0 {
		return uint32(DefaultMode)
	}
	return uint32(f.Mode.Perm())
}
