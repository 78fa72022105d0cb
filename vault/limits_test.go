package vault

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLimitListener: Accept waits while the limit is reached and resumes
// when a connection closes or gives its slot back; a host over its share
// is closed at once while others are accepted.
func TestLimitListener(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(tcp, 3, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	none := func(why string) {
		t.Helper()
		select {
		case <-accepted:
			t.Fatal(why)
		case <-time.After(200 * time.Millisecond):
		}
	}
	closedByServer := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var nerr net.Error
		return err != nil && !(errors.As(err, &nerr) && nerr.Timeout())
	}

	a1, a2 := dial("127.0.0.1"), dial("127.0.0.1")
	got := []net.Conn{<-accepted, <-accepted}
	// Over its host's share: closed, and its slot given back.
	if a3 := dial("127.0.0.1"); !closedByServer(a3) {
		t.Fatal("a third connection from one host was not closed with a share of 2")
	}
	none("a connection over its host's share was accepted")
	dial("127.0.0.2")
	got = append(got, <-accepted)
	// Over the total: waits.
	dial("127.0.0.3")
	none("a fourth connection was accepted over a limit of 3")
	got[0].Close()
	fourth := <-accepted
	none("a closed connection gave back more than its slot")
	// A released connection's slots are free even while it stays open; a
	// second release or close gives nothing more back.
	fourth.(*limitedConn).release()
	fourth.(*limitedConn).release()
	fourth.Close()
	dial("127.0.0.1") // host 127.0.0.1 has one connection left open (a2)
	<-accepted
	_, _ = a1, a2
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Fatal("accepted after close")
	}
}

// TestLocalServerLimits: the local API closes a connection whose body
// never arrives, and Accept waits while maxLocalConns are open.
func TestLocalServerLimits(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 1)) // waits for the body
	})}
	gated := limitLocalServer(srv, ln)
	if srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Fatalf("timeouts not set: %+v", srv)
	}
	g := gated.(*gate)
	go srv.Serve(gated)
	defer srv.Shutdown(context.Background())
	var conns []net.Conn
	for range maxLocalConns + 5 {
		c, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(g.sem) < maxLocalConns {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections accepted, want %d", len(g.sem), maxLocalConns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // would a connection over the limit be accepted?
	if n := len(g.sem); n != maxLocalConns {
		t.Fatalf("%d connections accepted, want %d", n, maxLocalConns)
	}
	for _, c := range conns {
		c.Close()
	}
	// The next Accept holds a slot while it waits for a connection.
	deadline = time.Now().Add(5 * time.Second)
	for len(g.sem) > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still held after every connection closed", len(g.sem))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSecureStateDir: a state dir made 0755, and directories in it, are
// 0700 after Start; files keep their modes.
func TestSecureStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	sub := filepath.Join(dir, "raft", "host")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // umask may have taken bits off
		t.Fatal(err)
	}
	file := filepath.Join(dir, "raft", "f")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), Config{StateDir: dir, SocketPath: filepath.Join(t.TempDir(), "sock"), ListenAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o700)
		if !d.IsDir() {
			want = fi.Mode().Perm()
			if p == file {
				want = 0o640
			}
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
