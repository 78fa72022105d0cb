//go:build linux

package fuse

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childHandoff mounts, hands a Conn of the mount to the parent over fd 3
// (the descriptor, then "EPOCH INIT" on stdout), and serves until killed.
func childHandoff() int {
	s, err := Mount(Options{
		Mountpoint: os.Getenv(childMountEnv),
		Name:       "vaulttest",
		Files:      []File{{Name: os.Getenv(childFileEnv), Data: []byte("first")}},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		return 1
	}
	c, err := s.Conn()
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		return 1
	}
	conn, err := net.FileConn(os.NewFile(3, "socket"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		return 1
	}
	if err := SendFD(conn.(*net.UnixConn), c.FD); err != nil {
		fmt.Fprintf(os.Stderr, "child: %v\n", err)
		return 1
	}
	fmt.Printf("%d %s\n", c.Epoch, base64.StdEncoding.EncodeToString(c.Init))
	s.Wait()
	return 0
}

// startHandoffChild starts a child serving dir/name and returns the Conn it
// handed over and the child.
func startHandoffChild(t *testing.T, dir, name string) (Conn, *exec.Cmd) {
	t.Helper()
	a, b := unixPair(t)
	bf, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=handoff", childMountEnv+"="+dir, childFileEnv+"="+name)
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{bf}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	fd, err := ReceiveFD(a)
	if err != nil {
		t.Fatal(err)
	}
	line, err := readLine(bufio.NewReader(out))
	var epoch int
	var init string
	if _, serr := fmt.Sscanf(line, "%d %s", &epoch, &init); err != nil || serr != nil {
		t.Fatalf("child said %q: %v %v", line, err, serr)
	}
	raw, err := base64.StdEncoding.DecodeString(init)
	if err != nil {
		t.Fatal(err)
	}
	return Conn{FD: fd, Init: raw, Epoch: uint16(epoch)}, cmd
}

// TestResumeAfterKill kills the process serving a mount while another holds
// a clone of its connection: the mount stays, a read waits instead of
// failing, and a new server resumes it with new content.
func TestResumeAfterKill(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	c, child := startHandoffChild(t, dir, "token")
	defer unix.Close(c.FD)
	defer Unmount(dir)
	if got, err := os.ReadFile(path); err != nil || string(got) != "first" {
		t.Fatalf("read through the child's mount: %q, %v", got, err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(path, &before); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path) // held across the handoff
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	child.Process.Kill()
	child.Wait()

	// A lookup the kernel cannot answer from its cache waits for a server.
	read := make(chan string, 1)
	go func() {
		b, err := os.ReadFile(filepath.Join(dir, "other"))
		read <- fmt.Sprintf("%q %v", b, err)
	}()
	select {
	case got := <-read:
		t.Fatalf("a read while no process serves returned at once: %s", got)
	case <-time.After(300 * time.Millisecond):
	}

	s, err := Resume(c, Options{Mountpoint: dir, Name: "vaulttest", Files: []File{{Name: "token", Data: []byte("second")}}})
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	defer func() { s.Close(); Unmount(dir) }()
	if s.Epoch() != c.Epoch+1 {
		t.Errorf("epoch %d after %d", s.Epoch(), c.Epoch)
	}
	select {
	case got := <-read:
		if want := fmt.Sprintf("%q %v", []byte(nil), "open "+filepath.Join(dir, "other")+": no such file or directory"); got != want {
			t.Errorf("waiting read: %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting read did not return after Resume")
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "second" {
		t.Errorf("read after Resume: %q, %v", got, err)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(path, &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino || after.Size != int64(len("second")) {
		t.Errorf("stat after Resume: ino %d size %d, want ino %d size 6", after.Ino, after.Size, before.Ino)
	}
	// The descriptor opened under the dead server is refused, not served
	// from the new one (its size is the old content's).
	buf := make([]byte, 16)
	n, err := old.ReadAt(buf, 0)
	if errnoOf(err) != syscall.EACCES && string(buf[:n]) != "first" {
		t.Errorf("read on a descriptor from before: %q, %v; want EACCES or the old bytes the kernel cached", buf[:n], err)
	}
	// And a second handoff works from the resumed server.
	c2, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c2.FD)
	if c2.Epoch != s.Epoch() {
		t.Errorf("Conn epoch %d, server %d", c2.Epoch, s.Epoch())
	}
}

// TestRefuse answers a mount whose server is gone with EACCES until
// stopped; then requests wait again.
func TestRefuse(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	c, child := startHandoffChild(t, dir, "token")
	defer unix.Close(c.FD)
	defer Unmount(dir)
	if b, err := os.ReadFile(filepath.Join(dir, "token")); err != nil || string(b) != "first" {
		t.Fatalf("read through the child: %q, %v", b, err)
	}
	child.Process.Kill()
	child.Wait()

	r, err := Refuse(c.FD, syscall.EACCES, []string{"token"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := os.ReadFile(filepath.Join(dir, "f"+strconv.Itoa(i))); errnoOf(err) != syscall.EACCES {
			t.Errorf("read while refused: %v, want EACCES", err)
		}
	}
	// The name the kernel had cached (with its pages) is asked for again.
	if b, err := os.ReadFile(filepath.Join(dir, "token")); errnoOf(err) != syscall.EACCES {
		t.Errorf("read of a cached name while refused: %q, %v, want EACCES", b, err)
	}
	r.Stop()
	done := make(chan error, 1)
	go func() { _, err := os.Stat(filepath.Join(dir, "x")); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("stat after Stop returned at once: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	s, err := Resume(c, Options{Mountpoint: dir, Files: []File{{Name: "x", Data: []byte("y")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := <-done; err != nil {
		t.Errorf("stat after Resume: %v", err)
	}
}
