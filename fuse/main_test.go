//go:build linux

package fuse

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The test binary is re-executed as a child process for the tests that need
// another process: one that mounts in its own mount namespace (ServeFD), and
// one that is killed while serving (a stale mount).
const (
	childEnv      = "VAULT_FUSE_TEST_CHILD"
	childMountEnv = "VAULT_FUSE_TEST_MOUNTPOINT"
	childFileEnv  = "VAULT_FUSE_TEST_FILE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "servefd":
		os.Exit(childServeFD())
	case "mount":
		os.Exit(childMount())
	case "handoff":
		os.Exit(childHandoff())
	default:
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", os.Getenv(childEnv))
		os.Exit(2)
	}
}

// childServeFD runs in a private mount namespace: it mounts the file system,
// passes the /dev/fuse descriptor to the parent over fd 3, and prints the
// file it then reads through the mount.
func childServeFD() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
		return 1
	}
	mp := os.Getenv(childMountEnv)
	fd, err := MountFD(mp)
	if err != nil {
		return fail("%v", err)
	}
	conn, err := net.FileConn(os.NewFile(3, "socket"))
	if err != nil {
		return fail("%v", err)
	}
	if err := SendFD(conn.(*net.UnixConn), fd); err != nil {
		return fail("%v", err)
	}
	syscall.Close(fd)
	conn.Close()
	if ok, err := IsMounted(mp); err != nil || !ok {
		return fail("mount not visible in its own namespace: %v %v", ok, err)
	}
	data, err := os.ReadFile(filepath.Join(mp, os.Getenv(childFileEnv)))
	if err != nil {
		return fail("%v", err)
	}
	os.Stdout.Write(data)
	return 0
}

// childMount mounts and serves until it is killed.
func childMount() int {
	s, err := Mount(Options{
		Mountpoint: os.Getenv(childMountEnv),
		Name:       "vaulttest",
		Files:      []File{{Name: os.Getenv(childFileEnv), Data: []byte("child")}},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	s.Wait()
	return 0
}

// requireFUSE skips tests that mount when they cannot.
func requireFUSE(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipping: mounting needs root (CAP_SYS_ADMIN)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		tb.Skipf("skipping: no /dev/fuse: %v", err)
	}
}

// mount mounts files on a fresh directory and closes the server at the end
// of the test.
func mount(tb testing.TB, files ...File) (*Server, string) {
	tb.Helper()
	requireFUSE(tb)
	dir := tb.TempDir()
	s, err := Mount(Options{Mountpoint: dir, Files: files, Name: "vaulttest"})
	if err != nil {
		tb.Fatalf("Mount: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		waitStopped(tb, s)
	})
	return s, dir
}

func waitStopped(tb testing.TB, s *Server) {
	tb.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		tb.Fatalf("server did not stop")
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			tb.Fatalf("%s: not true after %v", what, within)
		}
	}
}

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// readLine reads one line from r.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if len(line) > 0 && line[len(line)-1] == '\n' {
		line = line[:len(line)-1]
	}
	return line, err
}
