package api

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
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
	if strings.ContainsAny(spec.Target, "/\x00") || spec.Target == "." || spec.Target == ".." || path.Clean(spec.Target) != spec.Target {
		return spec, fmt.Errorf("--secret %q: target must be a plain file name", s)
	}
	return spec, nil
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
