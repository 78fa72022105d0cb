package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reader reads a file over and over in another goroutine of the test (a
// process other than the daemon), counting what each read gave.
type reader struct {
	path string
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	errs   map[string]int // errno name -> count
	last   []byte
	lastOK time.Time
	reads  int
}

func startReader(path string) *reader {
	r := &reader{path: path, stop: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			b, err := os.ReadFile(r.path)
			r.mu.Lock()
			r.reads++
			if err != nil {
				var errno syscall.Errno
				name := err.Error()
				if errors.As(err, &errno) {
					name = errno.Error()
				}
				r.errs[name]++
			} else {
				r.last, r.lastOK = b, time.Now()
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// readsNow waits until a read that started after now returns want.
func (r *reader) readsNow(t *testing.T, what string, want []byte, within time.Duration) {
	t.Helper()
	t0 := time.Now()
	waitFor(t, what, within, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.lastOK.After(t0) && bytes.Equal(r.last, want)
	})
}

func (r *reader) tally() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.errs {
		out[k] = v
	}
	return out, r.reads
}

func (r *reader) close() {
	close(r.stop)
	<-r.done
}

// TestMountsOutliveDaemon: a process reading a mounted secret goes on
// reading across kill -9 and SIGTERM restarts of the daemon (reads wait
// or fail with EACCES meanwhile, never ENOTCONN or EIO), follows updates
// after the restart, and a restart while locked serves nothing until
// unlock. The kept specs on disk do not name the secret.
func TestMountsOutliveDaemon(t *testing.T) {
	needFUSE(t)
	d := newDaemon(t, "--keep-mounts", "2m")
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	name := "kept-" + randHex(6)
	v1 := []byte("CANARY-VALUE-kept1-" + randHex(12))
	must(t, d.vaultIn(v1, "secret", "create", name, "-"))
	mp := filepath.Join(t.TempDir(), "secrets")
	os.Mkdir(mp, 0o755)
	must(t, d.vault("mount", "--follow", "--secret", name, mp))
	t.Cleanup(func() {
		exec1("umount", "-l", mp)
	})
	path := filepath.Join(mp, name)
	r := startReader(path)
	defer r.close()
	r.readsNow(t, "the first read", v1, 5*time.Second)

	// kill -9: the mount stays; the next daemon serves it.
	d.kill()
	if got := findmnt(t, mp); !strings.HasPrefix(got, "fuse.vault") {
		t.Fatalf("after kill -9 the mount is %q, want it kept", got)
	}
	t0 := time.Now()
	d.start()
	r.readsNow(t, "reads after the kill -9 restart", v1, 30*time.Second)
	t.Logf("kill -9 restart: reads back %v after the daemon was started", time.Since(t0).Round(time.Millisecond))
	waitFor(t, "mount ls to list the kept mount", 30*time.Second, func() bool {
		return strings.Contains(must(t, d.vault("mount", "ls")).stdout, mp)
	})

	// The resumed mount follows updates.
	v2 := []byte("CANARY-VALUE-kept2-" + randHex(12))
	must(t, d.vaultIn(v2, "secret", "update", name, "-"))
	r.readsNow(t, "the update after the restart", v2, 10*time.Second)

	// SIGTERM restart.
	d.stop()
	d.start()
	r.readsNow(t, "reads after the SIGTERM restart", v2, 30*time.Second)

	// A daemon that stays down: a request (a name never looked up) waits
	// through the holder's grace period, then fails with EACCES (never
	// hangs, never ENOTCONN); from then on cached names are refused too.
	// The next daemon serves them again.
	d.kill()
	t1 := time.Now()
	_, err := os.Stat(filepath.Join(mp, "never-looked-up"))
	waited := time.Since(t1)
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("stat with no daemon: %v, want EACCES after the grace period", err)
	}
	if waited < 3*time.Second || waited > 15*time.Second {
		t.Errorf("a stat with no daemon returned after %v, want the holder's grace period (5s)", waited)
	}
	t.Logf("with no daemon, a lookup waited %v and failed with %v", waited.Round(time.Millisecond), err)
	waitFor(t, "a cached name to be refused after the grace period", 2*time.Second, func() bool {
		_, err := os.ReadFile(path)
		return errors.Is(err, syscall.EACCES)
	})
	d.start()
	r.readsNow(t, "reads after the daemon came back", v2, 30*time.Second)

	// A restart while locked serves nothing until unlock.
	key := unlockKeyRE.FindString(must(t, d.vault("cluster", "update", "--autolock=true")).stdout)
	if key == "" {
		t.Fatal("no unlock key printed")
	}
	d.kill()
	d.start()
	if !strings.Contains(must(t, d.vault("status")).stdout, "Locked:       true") {
		t.Fatalf("daemon not locked after restart")
	}
	lockedAt := time.Now()
	waitFor(t, "reads to fail with EACCES while locked", 10*time.Second, func() bool {
		_, err := os.ReadFile(path)
		return errors.Is(err, syscall.EACCES)
	})
	time.Sleep(time.Second) // a second of reads, all refused
	r.mu.Lock()
	if r.lastOK.After(lockedAt) {
		t.Errorf("a read succeeded while the node was locked")
	}
	r.mu.Unlock()
	must(t, d.vaultIn([]byte(key), "unlock"))
	r.readsNow(t, "reads after unlock", v2, 30*time.Second)

	errs, reads := r.tally()
	t.Logf("%d reads across three kill -9 restarts (one after 5s down, one while locked) and one SIGTERM restart; failures: %v", reads, errs)
	for _, bad := range []syscall.Errno{syscall.ENOTCONN, syscall.EIO} {
		if errs[bad.Error()] > 0 {
			t.Errorf("%d reads failed with %v", errs[bad.Error()], bad)
		}
	}

	// The sealed specs name no secret.
	for _, f := range []string{"mounts.sealed", "mounts.json"} {
		b, _ := os.ReadFile(filepath.Join(d.stateDir, f))
		if bytes.Contains(b, []byte(name)) {
			t.Errorf("%s holds the secret's name", f)
		}
	}
	c := canaries{}
	c.add("v1", v1)
	c.add("v2", v2)
	c.scan(t, d.stateDir)

	// Unmounted, the holder lets go and the mount is gone for good.
	must(t, d.vault("unmount", mp))
	d.stop()
	if got := findmnt(t, mp); got != "" {
		t.Errorf("after unmount and stop: %q still mounted", got)
	}
	waitFor(t, "the holder to exit", 20*time.Second, func() bool {
		_, err := os.Stat(strings.TrimSuffix(d.socket, ".sock") + "-mounts.sock")
		return err != nil
	})
}

func exec1(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s: %v", out, err)
	}
	return string(out)
}
