package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// The state machine calls SecretsChanged inside apply, and its contract is
// that the hook never blocks: a ReadIndex read waits for apply to reach its
// index, so a hook that waited on the mount table while a mount held it
// across a read stalled the group until the request timed out.
func TestSecretsChangedNeverBlocks(t *testing.T) {
	n := &Node{mounts: map[string]*mount{}}
	n.mountMu.Lock() // a mount in progress, holding the table across its reads
	defer n.mountMu.Unlock()
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			n.secretsChanged(raftsm.SecretShards(1)[0], []string{fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("SecretsChanged blocked on the mount table")
	}
}

// Writes to secrets and mounts that follow one of them, racing on one group: no
// write and no mount may stall (the hook once waited for the mount table
// while a mount held it inside a ReadIndex read that waited for the hook).
func TestMountsDoNotStallWrites(t *testing.T) {
	requireMounts(t)
	n, _ := startSingleNode(t)
	ctx := context.Background()
	const writers = 4
	for w := range writers { // one secret each: a conflict is not what this is about
		if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: fmt.Sprintf("s%d", w), Data: []byte("v1")}); err != nil {
			t.Fatal(err)
		}
	}
	const (
		runFor = 10 * time.Second
		slow   = 3 * time.Second // the stall lasted until the 6 s request timeout
	)
	deadline := time.Now().Add(runFor)
	var (
		mu       sync.Mutex
		failures []string
		writes   int
		mounts   int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	stop := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failures) > 0 || time.Now().After(deadline)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop(); i++ {
				t0 := time.Now()
				_, err := n.UpdateSecret(ctx, fmt.Sprintf("s%d", w), []byte(fmt.Sprintf("w%d-%d", w, i)))
				if d := time.Since(t0); err != nil || d > slow {
					fail("write took %v: %v", d.Round(time.Millisecond), err)
					return
				}
				mu.Lock()
				writes++
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		mp := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mp, 0o755); err != nil {
			fail("%v", err)
			return
		}
		for !stop() {
			t0 := time.Now()
			_, err := n.Mount(ctx, &api.MountRequest{Mountpoint: mp, Follow: true, Secrets: []api.SecretSpec{{Source: "s0", Target: "s", Mode: 0o400}}})
			if d := time.Since(t0); err != nil || d > slow {
				fail("mount took %v: %v", d.Round(time.Millisecond), err)
				return
			}
			if err := n.Unmount(mp); err != nil {
				fail("unmount: %v", err)
				return
			}
			mu.Lock()
			mounts++
			mu.Unlock()
		}
	}()
	wg.Wait()
	t.Logf("%d writes, %d mounts", writes, mounts)
	for _, f := range failures {
		t.Error(f)
	}
	if mounts == 0 || writes == 0 {
		t.Errorf("the test ran %d writes and %d mounts", writes, mounts)
	}
}

// A following mount serves each new version whole, a locked node's mounts
// answer EACCES at once, and an unlock refills them. No log line names the
// secret or the file, even when following or refilling fails.
func TestFollowLockUnlock(t *testing.T) {
	requireMounts(t)
	logs := &syncBuffer{}
	n, _ := startSingleNode(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	const name, target = "canary-name", "canary-target"
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: name, Data: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Mount(ctx, &api.MountRequest{Mountpoint: mp, Follow: true, Secrets: []api.SecretSpec{{Source: name, Target: target, Mode: 0o400}}}); err != nil {
		t.Fatal(err)
	}
	defer n.Unmount(mp)
	file := filepath.Join(mp, target)
	reads := func(want string) func() bool {
		return func() bool { b, err := os.ReadFile(file); return err == nil && string(b) == want }
	}
	pollUntil(t, 10*time.Second, "the mount serves v1", reads("v1"))
	for i := 2; i <= 5; i++ {
		want := fmt.Sprintf("version %d", i)
		if _, err := n.UpdateSecret(ctx, name, []byte(want)); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, 10*time.Second, "the mount follows to "+want, reads(want))
	}

	key := lockNode(t, n)
	t0 := time.Now()
	pollUntil(t, time.Second, "EACCES after lock", func() bool { _, err := os.ReadFile(file); return errors.Is(err, syscall.EACCES) })
	t.Logf("EACCES %v after Lock returned", time.Since(t0).Round(time.Millisecond))
	if _, err := n.Unlock(ctx, key); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the mount is refilled", reads("version 5"))
	if _, err := n.UpdateSecret(ctx, name, []byte("after unlock")); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the mount follows after unlock", reads("after unlock"))

	// Removed under the mount: following and refilling it fail, and say so
	// without its name.
	if _, err := n.RemoveSecret(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	if err := n.Lock(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Unlock(ctx, key); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "refilling a mount after unlock") {
		t.Errorf("no log line for the failed refill:\n%s", logs)
	}
	if strings.Contains(logs.String(), "canary") {
		t.Errorf("a log line names the secret or its file:\n%s", logs)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Mount specs and mountpoints are checked before anything is read or
// mounted, and refused with an "invalid" error, not a 500 or a mount.
func TestMountRequestValidation(t *testing.T) {
	requireMounts(t)
	n, c := startSingleNode(t)
	ctx := context.Background()
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: "s", Data: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mp := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	toProc := filepath.Join(dir, "to-proc")
	if err := os.Symlink("/proc/self", toProc); err != nil {
		t.Fatal(err)
	}
	spec := func(target string) []api.SecretSpec {
		return []api.SecretSpec{{Source: "s", Target: target, Mode: 0o400}}
	}
	// The mountpoint cases name a secret that does not exist, so that the
	// code before the checks answered "not found" instead of mounting.
	none := []api.SecretSpec{{Source: "nosuch", Target: "f", Mode: 0o400}}
	for _, tc := range []struct {
		name string
		req  api.MountRequest
		want string
	}{
		{"target ../evil", api.MountRequest{Mountpoint: mp, Secrets: spec("../evil")}, "only letters"},
		{"target .", api.MountRequest{Mountpoint: mp, Secrets: spec(".")}, "give a file name"},
		{"target ..", api.MountRequest{Mountpoint: mp, Secrets: spec("..")}, "give a file name"},
		{"empty target", api.MountRequest{Mountpoint: mp, Secrets: spec("")}, "empty target"},
		{"target of 256 bytes", api.MountRequest{Mountpoint: mp, Secrets: spec(strings.Repeat("a", 256))}, "at most 255"},
		{"target with a newline", api.MountRequest{Mountpoint: mp, Secrets: spec("x\ny")}, "only letters"},
		{"relative mountpoint", api.MountRequest{Mountpoint: ".", Secrets: none}, "relative"},
		{"mountpoint not clean", api.MountRequest{Mountpoint: mp + "/../mnt", Secrets: none}, "not a clean path"},
		{"mountpoint /proc/self", api.MountRequest{Mountpoint: "/proc/self", Secrets: none}, "the kernel serves"},
		{"mountpoint /dev/shm", api.MountRequest{Mountpoint: "/dev/shm", Secrets: none}, "the kernel serves"},
		{"symbolic link to /proc/self", api.MountRequest{Mountpoint: toProc, Secrets: none}, "the kernel serves"},
		{"the state dir", api.MountRequest{Mountpoint: n.cfg.StateDir, Secrets: none}, "own files"},
		{"above the state dir", api.MountRequest{Mountpoint: filepath.Dir(n.cfg.StateDir), Secrets: none}, "own files"},
		{"inside the state dir", api.MountRequest{Mountpoint: filepath.Join(n.cfg.StateDir, statedir.RaftDir), Secrets: none}, "own files"},
		{"the socket's directory", api.MountRequest{Mountpoint: filepath.Dir(n.cfg.SocketPath), Secrets: none}, "own files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := c.Mount(ctx, tc.req)
			if err == nil {
				_ = n.Unmount(m.Mountpoint)
			}
			var e *api.Error
			if !errors.As(err, &e) || e.Code != api.CodeInvalid || !strings.Contains(e.Message, tc.want) {
				t.Errorf("mount: %v; want an invalid error with %q", err, tc.want)
			}
		})
	}
	if ms := n.Mounts(); len(ms) != 0 {
		t.Errorf("mounts after refused requests: %+v", ms)
	}
	// Beside the socket hides nothing the daemon uses.
	beside := filepath.Join(filepath.Dir(n.cfg.SocketPath), "beside")
	if err := os.Mkdir(beside, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mount(ctx, api.MountRequest{Mountpoint: beside, Secrets: spec("f")}); err != nil {
		t.Fatalf("a mount beside the socket: %v", err)
	}
	if err := n.Unmount(beside); err != nil {
		t.Fatal(err)
	}
}
