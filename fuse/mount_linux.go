package fuse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags make every mount of this package read-only, nosuid, nodev and
// noexec.
const mountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// MountFD opens /dev/fuse and mounts it at mountpoint in the current mount
// namespace with the same flags and options as [Mount], and returns the
// descriptor, which a server must then serve (see [ServeFD]). The mount's
// requests wait until it is served. The descriptor is close-on-exec.
func MountFD(mountpoint string) (fd int, err error) {
	return mountFD(mountpoint, DefaultName)
}

func mountFD(mountpoint, name string) (int, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fuse: open /dev/fuse: %w", err)
	}
	// The kernel checks every access against the owner and mode of each
	// file (default_permissions) and lets every user in (allow_other).
	data := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,default_permissions",
		fd, os.Geteuid(), os.Getegid())
	if err := unix.Mount(name, mountpoint, "fuse."+name, mountFlags, data); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("fuse: mount %s: %w", mountpoint, err)
	}
	return fd, nil
}

// Unmount detaches whatever is mounted at path (lazily, so a mount left by a
// crashed server, which fails every access with ENOTCONN, goes too), until
// nothing is. It returns nil if nothing is mounted there. A daemon should
// call it for its mountpoints when it starts: on a mount whose server died,
// pages the kernel had cached stay readable until the mount is gone.
func Unmount(path string) error {
	for range 64 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not a mount point (any more)
		case err != nil:
			return fmt.Errorf("fuse: unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("fuse: unmount %s: still mounted after 64 unmounts", path)
}

// IsMounted reports whether a file system is mounted at path in the current
// mount namespace, according to /proc/self/mountinfo. path is made absolute
// but symbolic links are not followed, so that a dead mount on the way
// cannot make it fail.
func IsMounted(path string) (bool, error) {
	m, err := findMount(path)
	return m != nil, err
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	mountpoint   string
	options      []string // per-mount options: ro, nosuid, ...
	fstype       string
	source       string
	superOptions []string
}

// findMount returns the last (topmost) mount at path, or nil.
func findMount(path string) (*mountEntry, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("fuse: %w", err)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("fuse: %w", err)
	}
	defer f.Close()
	return scanMountInfo(f, abs)
}

func scanMountInfo(r io.Reader, mountpoint string) (*mountEntry, error) {
	var found *mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		m, err := parseMountInfoLine(sc.Text())
		if err != nil {
			return nil, err
		}
		if m.mountpoint == mountpoint {
			found = m
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("fuse: read mountinfo: %w", err)
	}
	return found, nil
}

var errMountInfo = errors.New("fuse: malformed mountinfo line")

// parseMountInfoLine parses a line of /proc/PID/mountinfo (see proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Paths and sources have space, tab, newline and backslash escaped as \ooo.
func parseMountInfoLine(line string) (*mountEntry, error) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+4 {
		return nil, errMountInfo
	}
	return &mountEntry{
		mountpoint:   unescapeMountInfo(fields[4]),
		options:      strings.Split(fields[5], ","),
		fstype:       unescapeMountInfo(fields[sep+1]),
		source:       unescapeMountInfo(fields[sep+2]),
		superOptions: strings.Split(fields[sep+3], ","),
	}, nil
}

// unescapeMountInfo undoes the kernel's octal escaping (\040 for a space).
// Anything that is not a three-digit octal escape is kept as it is.
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// escapeMountInfo escapes s as the kernel does in mountinfo.
func escapeMountInfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// SendFD sends the descriptor fd over c, a Unix socket, with one data byte.
// The caller keeps its copy of fd.
func SendFD(c *net.UnixConn, fd int) error {
	n, oobn, err := c.WriteMsgUnix([]byte{0}, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("fuse: send descriptor: %w", err)
	}
	if n != 1 || oobn == 0 {
		return fmt.Errorf("fuse: send descriptor: short write")
	}
	return nil
}

// ReceiveFD receives one descriptor sent with [SendFD] over c. The
// descriptor is close-on-exec. Extra descriptors the peer sent are closed and
// make it fail.
func ReceiveFD(c *net.UnixConn) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return -1, fmt.Errorf("fuse: receive descriptor: %w", err)
	}
	fds, perr := fdsFromOOB(oob[:oobn])
	if perr == nil && flags&unix.MSG_CTRUNC != 0 {
		perr = errors.New("control message truncated")
	}
	if perr == nil && len(fds) != 1 {
		perr = fmt.Errorf("got %d descriptors, want 1", len(fds))
	}
	if perr != nil {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		return -1, fmt.Errorf("fuse: receive descriptor: %w", perr)
	}
	unix.CloseOnExec(fds[0])
	return fds[0], nil
}

// fdsFromOOB returns the descriptors in SCM_RIGHTS control messages.
func fdsFromOOB(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		// Parsed here rather than with unix.ParseUnixRights, which
		// panics on data that is not a whole number of descriptors.
		data := msgs[i].Data
		for len(data) >= 4 {
			fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
			data = data[4:]
		}
		if len(data) != 0 {
			return fds, errors.New("partial descriptor in control message")
		}
	}
	return fds, nil
}
