package api

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// SecretSpec says how one secret appears in a mount, in Swarm's syntax:
//
//	NAME
//	NAME@VERSION
//	source=NAME[@VERSION][,target=FILE][,uid=U][,gid=G][,mode=0400]
//
// Version 0 means the latest version (followed live with --follow).
type SecretSpec struct {
	Source  string `json:"Source"`
	Target  string `json:"Target"`
	UID     uint32 `json:"UID"`
	GID     uint32 `json:"GID"`
	Mode    uint32 `json:"Mode"`
	Version uint32 `json:"Version,omitempty"`
}

// DefaultSecretMode is a mounted secret's mode unless given (Swarm's default).
const DefaultSecretMode = 0o444

// ParseSecretSpec parses a --secret value.
func ParseSecretSpec(s string) (SecretSpec, error) {
	spec := SecretSpec{Mode: DefaultSecretMode}
	if s == "" {
		return spec, fmt.Errorf("empty --secret: give NAME or source=NAME,target=FILE,uid=U,gid=G,mode=0400")
	}
	if !strings.Contains(s, "=") {
		spec.Source = s
	} else {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return spec, fmt.Errorf("--secret %q: %q is not KEY=VALUE", s, kv)
			}
			switch k {
			case "source", "src":
				spec.Source = v
			case "target", "dst":
				spec.Target = v
			case "uid", "gid":
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return spec, fmt.Errorf("--secret %q: %s must be a number", s, k)
				}
				if k == "uid" {
					spec.UID = uint32(n)
				} else {
					spec.GID = uint32(n)
				}
			case "mode":
				n, err := strconv.ParseUint(v, 8, 32)
				if err != nil || n&^0o777 != 0 {
					return spec, fmt.Errorf("--secret %q: mode must be octal permission bits such as 0400", s)
				}
				spec.Mode = uint32(n)
			default:
				return spec, fmt.Errorf("--secret %q: unknown option %q (want source, target, uid, gid, mode)", s, k)
			}
		}
	}
	if name, ver, ok := strings.Cut(spec.Source, "@"); ok {
		n, err := strconv.ParseUint(ver, 10, 32)
		if err != nil || n == 0 {
			return spec, fmt.Errorf("--secret %q: a pinned version looks like NAME@3", s)
		}
		spec.Source, spec.Version = name, uint32(n)
	}
	if spec.Source == "" {
		return spec, fmt.Errorf("--secret %q: no source secret", s)
	}
	if spec.Target == "" {
		spec.Target = spec.Source
	}
	if err := spec.Validate(); err != nil {
		return spec, fmt.Errorf("--secret %q: %v", s, err)
	}
	return spec, nil
}

// String formats s in the syntax ParseSecretSpec reads.
func (s SecretSpec) String() string {
	src := s.Source
	if s.Version != 0 {
		src += "@" + strconv.FormatUint(uint64(s.Version), 10)
	}
	return fmt.Sprintf("source=%s,target=%s,uid=%d,gid=%d,mode=%#o", src, s.Target, s.UID, s.GID, s.Mode)
}

// MaxTargetLen bounds a target file name (Linux's NAME_MAX).
const MaxTargetLen = 255

// ValidateTarget checks the name of a mounted file: one path component of
// letters, digits, '.', '_' and '-', at most MaxTargetLen bytes, and
// neither "." nor "..".
func ValidateTarget(name string) error {
	switch {
	case name == "":
		return Errorf(CodeInvalid, "empty target: give a file name")
	case len(name) > MaxTargetLen:
		return Errorf(CodeInvalid, "target of %d bytes: a file name has at most %d", len(name), MaxTargetLen)
	case name == "." || name == "..":
		return Errorf(CodeInvalid, "target %q: give a file name", name)
	}
	for _, c := range []byte(name) {
		if !safeNameByte(c) {
			return Errorf(CodeInvalid, "target %q: a file name holds only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

func safeNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// Validate checks a spec as a mount request carries it. The daemon checks
// the source further (a secret name or id).
func (s SecretSpec) Validate() error {
	if s.Source == "" {
		return Errorf(CodeInvalid, "no source secret")
	}
	for _, c := range []byte(s.Source) {
		if !safeNameByte(c) {
			return Errorf(CodeInvalid, "source %q: a secret name holds only letters, digits, '.', '_' and '-'", s.Source)
		}
	}
	if err := ValidateTarget(s.Target); err != nil {
		return err
	}
	if s.Mode&^0o777 != 0 {
		return Errorf(CodeInvalid, "secret %s: mode %o has bits other than permissions", s.Source, s.Mode)
	}
	return nil
}

// reservedMountRoots are the kernel's own file systems: a mount over them
// (/proc/self is the daemon's own /proc entry) is never what was meant.
var reservedMountRoots = []string{"/proc", "/sys", "/dev"}

// ValidateMountpoint checks where a mount may go: an absolute, clean path
// without control characters, outside /proc, /sys and /dev. A relative
// path would resolve against the daemon's working directory, not the
// caller's: the client makes it absolute.
func ValidateMountpoint(p string) error {
	switch {
	case p == "":
		return Errorf(CodeInvalid, "no mountpoint: give a directory")
	case !strings.HasPrefix(p, "/"):
		return Errorf(CodeInvalid, "mountpoint %q is relative: give an absolute path", p)
	case path.Clean(p) != p:
		return Errorf(CodeInvalid, "mountpoint %q is not a clean path: give %s", p, path.Clean(p))
	case p == "/":
		return Errorf(CodeInvalid, "mountpoint %q: give a directory below /", p)
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return Errorf(CodeInvalid, "mountpoint %q holds a control character", p)
		}
	}
	for _, root := range reservedMountRoots {
		if p == root || strings.HasPrefix(p, root+"/") {
			return Errorf(CodeInvalid, "mountpoint %s is inside %s, which the kernel serves", p, root).
				WithHint("mount somewhere else, e.g. /run/secrets/APP")
		}
	}
	return nil
}

// MountRequest is POST /v1/mounts.
type MountRequest struct {
	Mountpoint string       `json:"mountpoint"`
	Secrets    []SecretSpec `json:"secrets"`
	Follow     bool         `json:"follow"`
}

// MountInfo describes a mount the daemon serves.
type MountInfo struct {
	Mountpoint string       `json:"Mountpoint"`
	Secrets    []SecretSpec `json:"Secrets"`
	Follow     bool         `json:"Follow"`
	Exec       bool         `json:"Exec"` // a private mount of `vault exec`
	Locked     bool         `json:"Locked"`
	CreatedAt  time.Time    `json:"CreatedAt"`
}

// ExecRequest starts a `vault exec` mount; the mounted /dev/fuse descriptor
// follows on the same connection.
type ExecRequest struct {
	Secrets []SecretSpec `json:"secrets"`
	Follow  bool         `json:"follow"`
}
