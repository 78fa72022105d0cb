package mountkeep

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startHolder(t *testing.T, cfg Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "holder.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Socket = path
	h := NewHolder(cfg)
	done := make(chan error, 1)
	go func() { done <- h.Run(l) }()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return path
}

func noStart() error { return errors.New("no holder should be started") }

func sameFile(t *testing.T, a, b int) bool {
	t.Helper()
	var sa, sb unix.Stat_t
	if unix.Fstat(a, &sa) != nil || unix.Fstat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// TestHoldAcrossDaemons: what one daemon hands over, the next gets back
// (descriptor, mountpoint, names); a dropped mount is not handed back.
func TestHoldAcrossDaemons(t *testing.T) {
	path := startHolder(t, Config{Grace: time.Hour})
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	d1, err := Connect(path, noStart)
	if err != nil {
		t.Fatal(err)
	}
	if h := d1.Held(); len(h) != 0 {
		t.Fatalf("a new holder holds %v", h)
	}
	if err := d1.Keep("m1", "/run/secrets/a b", []string{"token", "db-password"}, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := d1.Keep("m2", "/run/other", nil, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := d1.Drop("m2"); err != nil {
		t.Fatal(err)
	}
	if err := d1.Keep("bad id", "/x", nil, int(f.Fd())); err == nil {
		t.Error("Keep accepted an id with a space")
	}
	d1.Close()

	d2, err := Connect(path, noStart)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	held := d2.Held()
	if len(held) != 1 {
		t.Fatalf("held %v, want m1 only", held)
	}
	h := held[0]
	defer unix.Close(h.FD)
	if h.ID != "m1" || h.Mountpoint != "/run/secrets/a b" || !slices.Equal(h.Names, []string{"token", "db-password"}) {
		t.Errorf("held %+v", h)
	}
	if !sameFile(t, h.FD, int(f.Fd())) {
		t.Errorf("the held descriptor is another file")
	}
	if again := d2.Held(); len(again) != 0 {
		t.Errorf("Held returned the mounts twice")
	}
}

// TestConnectStartsHolder: with no holder, Connect runs start and waits for
// the holder to answer.
func TestConnectStartsHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "holder.sock")
	started := false
	var l *holderRun
	start := func() error {
		started = true
		l = runHolderAt(t, path)
		return nil
	}
	c, err := Connect(path, start)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !started || l == nil {
		t.Error("start was not called")
	}
	if _, err := Listen(path); !errors.Is(err, ErrRunning) {
		t.Errorf("Listen on a served socket: %v, want ErrRunning", err)
	}
}

type holderRun struct{ done chan error }

func runHolderAt(t *testing.T, path string) *holderRun {
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &holderRun{done: make(chan error, 1)}
	go func() { r.done <- NewHolder(Config{Socket: path, Grace: 50 * time.Millisecond}).Run(l) }()
	return r
}

// TestHolderExitsWhenIdle: a holder with nothing to hold and no daemon
// exits after the grace period.
func TestHolderExitsWhenIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "holder.sock")
	r := runHolderAt(t, path)
	c, err := Connect(path, noStart)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an idle holder did not exit")
	}
}

// TestOneDaemonAtATime: a second daemon is told BUSY (after retrying a
// little); once the first has gone, the next one connects.
func TestOneDaemonAtATime(t *testing.T) {
	path := startHolder(t, Config{Grace: time.Hour})
	d1, err := Connect(path, noStart)
	if err != nil {
		t.Fatal(err)
	}
	defer func(w time.Duration) { busyWait = w }(busyWait)
	busyWait = 200 * time.Millisecond
	t0 := time.Now()
	if _, err := Connect(path, noStart); !errors.Is(err, ErrBusy) || time.Since(t0) > 5*time.Second {
		t.Errorf("second daemon: %v after %v, want ErrBusy after busyWait", err, time.Since(t0))
	}
	d1.Close()
	waitConnect := time.Now().Add(5 * time.Second)
	for {
		d2, err := Connect(path, noStart)
		if err == nil {
			d2.Close()
			break
		}
		if time.Now().After(waitConnect) {
			t.Fatalf("after the first daemon left: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
