//go:build linux

package fuse

import (
	"net"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func unixPair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

func TestSendReceiveFD(t *testing.T) {
	a, b := unixPair(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := SendFD(a, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	fd, err := ReceiveFD(b)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var got, want unix.Stat_t
	unix.Fstat(fd, &got)
	unix.Fstat(int(f.Fd()), &want)
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Errorf("received a different file")
	}
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("received descriptor is not close-on-exec")
	}
}

func TestReceiveFDRejects(t *testing.T) {
	t.Run("two descriptors", func(t *testing.T) {
		a, b := unixPair(t)
		f, _ := os.Open(os.DevNull)
		defer f.Close()
		if _, _, err := a.WriteMsgUnix([]byte{0}, unix.UnixRights(int(f.Fd()), int(f.Fd())), nil); err != nil {
			t.Fatal(err)
		}
		if fd, err := ReceiveFD(b); err == nil {
			unix.Close(fd)
			t.Fatal("ReceiveFD accepted two descriptors")
		}
	})
	t.Run("none", func(t *testing.T) {
		a, b := unixPair(t)
		if _, err := a.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
		if fd, err := ReceiveFD(b); err == nil {
			unix.Close(fd)
			t.Fatal("ReceiveFD accepted a message without a descriptor")
		}
	})
	t.Run("peer gone", func(t *testing.T) {
		a, b := unixPair(t)
		a.Close()
		if fd, err := ReceiveFD(b); err == nil {
			unix.Close(fd)
			t.Fatal("ReceiveFD succeeded on a closed socket")
		}
	})
}

func TestFDsFromOOB(t *testing.T) {
	want := []int{3, 7, 1 << 20}
	got, err := fdsFromOOB(unix.UnixRights(want...))
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("fdsFromOOB(UnixRights(%v)) = %v, %v", want, got, err)
	}
	if got, err := fdsFromOOB(nil); err != nil || len(got) != 0 {
		t.Errorf("fdsFromOOB(nil) = %v, %v", got, err)
	}
}
