package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldConn is a connection a slow client holds open; closed records when
// the server closed it.
type heldConn struct {
	net.Conn
	opened time.Time
	closed chan time.Duration
}

// holdOpen reads from c until the server closes it (or 90 s pass) and reports
// how long it stayed open; a read timeout reports -1.
func holdOpen(c net.Conn) *heldConn {
	h := &heldConn{Conn: c, opened: time.Now(), closed: make(chan time.Duration, 1)}
	go func() {
		c.SetReadDeadline(time.Now().Add(90 * time.Second))
		buf := make([]byte, 4096)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				h.closed <- -1
			} else {
				h.closed <- time.Since(h.opened)
			}
			return
		}
	}()
	return h
}

// longest waits for every held connection and returns the longest any
// stayed open; it fails the test if one was never closed.
func longest(t *testing.T, what string, hs []*heldConn) time.Duration {
	t.Helper()
	var max time.Duration
	for _, h := range hs {
		d := <-h.closed
		h.Close()
		if d < 0 {
			t.Errorf("%s: a connection stayed open for 90 s", what)
			continue
		}
		if d > max {
			max = d
		}
	}
	return max
}

func rssKB(t *testing.T, pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// TestSlowClients: connections that never start TLS on the Raft port,
// join requests whose body never comes on the manager API, and local
// requests whose body never comes are all closed by the daemon after its
// deadlines; the manager API completes at most 16 handshakes at once of
// strangers from one host, and still handshakes with another host; the
// daemon serves throughout.
func TestSlowClients(t *testing.T) {
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	rssBefore := rssKB(t, d.cmd.Process.Pid)

	const raftConns, joinConns, localConns = 200, 300, 100
	var raft, join, local []*heldConn
	var mu sync.Mutex
	var wg sync.WaitGroup

	// The Raft port: TCP connections that never start TLS.
	for range raftConns {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		raft = append(raft, holdOpen(c))
	}

	// The manager API: strangers that complete TLS (without a certificate)
	// and send a join request's headers, then nothing.
	var handshakes atomic.Int64
	for range joinConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := net.Dial("tcp", d.apiAddr)
			if err != nil {
				return
			}
			c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if err := c.Handshake(); err != nil {
				raw.Close()
				return
			}
			handshakes.Add(1)
			c.SetDeadline(time.Time{})
			fmt.Fprintf(c, "POST /v1/peer/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"token\":")
			mu.Lock()
			join = append(join, holdOpen(c))
			mu.Unlock()
		}()
	}

	// The local socket: requests whose body never comes.
	for range localConns {
		c, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /v1/unlock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		local = append(local, holdOpen(c))
	}
	wg.Wait()
	rssHeld := rssKB(t, d.cmd.Process.Pid)

	if n := handshakes.Load(); n > 16 {
		t.Errorf("%d TLS handshakes of strangers from one host completed at once on the manager API, want at most 16", n)
	}
	// Another host (a manager elsewhere) is not kept out by them.
	other := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 2 * time.Second}
	oc, err := tls.DialWithDialer(other, "tcp", d.apiAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Errorf("a connection from another host while strangers hold their share: %v", err)
	} else {
		oc.Close()
	}
	// The daemon still answers its operator while slow clients hold slots.
	must(t, d.vault("status"))

	raftMax := longest(t, "Raft port", raft)
	joinMax := longest(t, "manager API", join)
	localMax := longest(t, "local socket", local)
	t.Logf("open for at most: Raft port %s (%d connections), manager API %s (%d of %d handshaked), local socket %s (%d); RSS %d kB before, %d kB while held",
		raftMax.Round(time.Second), raftConns, joinMax.Round(time.Second), handshakes.Load(), joinConns, localMax.Round(time.Second), localConns, rssBefore, rssHeld)
	for _, c := range []struct {
		what      string
		got, want time.Duration
	}{
		{"Raft port (handshake deadline 5 s)", raftMax, 15 * time.Second},
		{"manager API (read timeout 10 s)", joinMax, 25 * time.Second},
		{"local socket (read timeout 30 s)", localMax, 45 * time.Second},
	} {
		if c.got > c.want {
			t.Errorf("%s: a connection stayed open %s, want at most %s", c.what, c.got, c.want)
		}
	}
	must(t, d.vault("status"))
	must(t, d.vaultIn([]byte("x"), "secret", "create", "after-slow", "-"))

	// The manager API: connections that never start TLS.
	var silent []*heldConn
	for range 50 {
		c, err := net.Dial("tcp", d.apiAddr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, holdOpen(c))
	}
	if got := longest(t, "manager API, no TLS", silent); got > 15*time.Second {
		t.Errorf("manager API (handshake deadline 5 s): a connection that never started TLS stayed open %s", got)
	}
}

// TestStateDirMode: a state dir made 0755, with directories in it made
// 0755, is 0700 throughout once the daemon starts.
func TestStateDirMode(t *testing.T) {
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	d.stop()
	var dirs []string
	filepath.WalkDir(d.stateDir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, p := range dirs {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d.start()
	for _, p := range dirs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v after start, want 0700", p, fi.Mode().Perm())
		}
	}
	must(t, d.vault("secret", "ls"))
}
