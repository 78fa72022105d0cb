//go:build linux

package fuse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func twoFiles() []File {
	return []File{
		{Name: "db-password", UID: 1000, GID: 2000, Mode: 0o400, Data: []byte("hunter2\n")},
		{Name: "tls.key", UID: 0, GID: 0, Mode: 0, Data: bytes.Repeat([]byte{0xa5}, 5000)},
	}
}

func TestMountReadStat(t *testing.T) {
	files := twoFiles()
	_, dir := mount(t, files...)

	for i, f := range files {
		path := filepath.Join(dir, f.Name)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("read %s: got %d bytes, want %d", f.Name, len(got), len(f.Data))
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		wantMode := uint32(f.Mode)
		if wantMode == 0 {
			wantMode = uint32(DefaultMode)
		}
		if st.Mode != syscall.S_IFREG|wantMode || st.Uid != f.UID || st.Gid != f.GID || st.Size != int64(len(f.Data)) {
			t.Errorf("stat %s: mode %o uid %d gid %d size %d, want mode %o uid %d gid %d size %d",
				f.Name, st.Mode, st.Uid, st.Gid, st.Size, syscall.S_IFREG|wantMode, f.UID, f.GID, len(f.Data))
		}
		if st.Ino != uint64(rootIno+1+i) || st.Nlink != 1 {
			t.Errorf("stat %s: ino %d nlink %d, want ino %d nlink 1", f.Name, st.Ino, st.Nlink, rootIno+1+i)
		}
	}

	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode != syscall.S_IFDIR|0o555 || st.Uid != 0 || st.Gid != 0 || st.Ino != rootIno {
		t.Errorf("root: mode %o uid %d gid %d ino %d, want %o 0 0 %d", st.Mode, st.Uid, st.Gid, st.Ino, syscall.S_IFDIR|0o555, rootIno)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"db-password", "tls.key"}; !slices.Equal(names, want) {
		t.Errorf("readdir: %q, want %q", names, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a missing name: %v, want ENOENT", err)
	}
}

func TestEmptyFile(t *testing.T) {
	_, dir := mount(t, File{Name: "empty", Mode: 0o444})
	got, err := os.ReadFile(filepath.Join(dir, "empty"))
	if err != nil || len(got) != 0 {
		t.Fatalf("read: %q, %v; want empty", got, err)
	}
}

// TestPermissions runs cat as other users: the kernel enforces each file's
// owner and mode (default_permissions), and allow_other lets them in.
func TestPermissions(t *testing.T) {
	requireFUSE(t)
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("skipping: no cat")
	}
	_, dir := mount(t, twoFiles()...)
	// The other users must be able to reach the mountpoint.
	for p := dir; p != filepath.Dir(os.TempDir()) && p != "/"; p = filepath.Dir(p) {
		if strings.HasPrefix(p, filepath.Clean(os.TempDir())+"/") {
			if err := os.Chmod(p, 0o755); err != nil && !errors.Is(err, syscall.EROFS) {
				t.Fatal(err)
			}
		}
	}

	tests := []struct {
		name     string
		uid, gid uint32
		file     string
		wantErr  bool
	}{
		{"owner reads 0400", 1000, 2000, "db-password", false},
		{"other user denied 0400", 12345, 12345, "db-password", true},
		{"same group denied 0400", 12345, 2000, "db-password", true},
		{"other user reads 0444", 12345, 12345, "tls.key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(cat, filepath.Join(dir, tt.file))
			cmd.Stdout = io.Discard
			cmd.Stderr = &stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tt.uid, Gid: tt.gid, NoSetGroups: true}}
			err := cmd.Run()
			if tt.wantErr {
				if err == nil || !strings.Contains(stderr.String(), "Permission denied") {
					t.Errorf("cat: %v, stderr %q; want Permission denied (EACCES)", err, stderr.String())
				}
			} else if err != nil {
				t.Errorf("cat: %v, stderr %q", err, stderr.String())
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	_, dir := mount(t, twoFiles()...)
	file := filepath.Join(dir, "tls.key")
	tests := []struct {
		name string
		op   func() error
	}{
		{"open for write", func() error {
			f, err := os.OpenFile(file, os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"open read-write", func() error {
			f, err := os.OpenFile(file, os.O_RDWR, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"create", func() error {
			f, err := os.OpenFile(filepath.Join(dir, "new"), os.O_CREATE|os.O_WRONLY, 0o600)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"mkdir", func() error { return os.Mkdir(filepath.Join(dir, "d"), 0o755) }},
		{"rename", func() error { return os.Rename(file, filepath.Join(dir, "moved")) }},
		{"rename over", func() error { return os.Rename(file, filepath.Join(dir, "db-password")) }},
		{"remove", func() error { return os.Remove(file) }},
		{"symlink", func() error { return os.Symlink("tls.key", filepath.Join(dir, "l")) }},
		{"link", func() error { return os.Link(file, filepath.Join(dir, "l")) }},
		{"chmod", func() error { return os.Chmod(file, 0o777) }},
		{"chmod root", func() error { return os.Chmod(dir, 0o777) }},
		{"chown", func() error { return os.Chown(file, 1, 1) }},
		{"truncate", func() error { return os.Truncate(file, 0) }},
		{"open with O_TRUNC", func() error {
			f, err := os.OpenFile(file, os.O_RDONLY|os.O_TRUNC, 0)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"utimes", func() error { return os.Chtimes(file, time.Now(), time.Now()) }},
		{"setxattr", func() error { return unix.Setxattr(file, "user.x", []byte("y"), 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); errnoOf(err) != syscall.EROFS {
				t.Errorf("got %v, want EROFS", err)
			}
		})
	}
	// Nothing changed.
	if got, err := os.ReadFile(file); err != nil || len(got) != 5000 {
		t.Errorf("after the attempts: %d bytes, %v", len(got), err)
	}
}

// TestNodesRefuseWrites checks that the server answers EROFS itself, so a
// mount made without MS_RDONLY would be no less read-only.
func TestNodesRefuseWrites(t *testing.T) {
	s := newServer(Options{Files: twoFiles()}, "")
	defer s.stopped()
	r := s.root
	n := &fileNode{s: s, v: s.files[0].cur}
	tests := []struct {
		name  string
		errno func() syscall.Errno
	}{
		{"root setattr", func() syscall.Errno { return r.Setattr(nil, nil, nil, nil) }},
		{"create", func() syscall.Errno { _, _, _, e := r.Create(nil, "x", 0, 0, nil); return e }},
		{"mkdir", func() syscall.Errno { _, e := r.Mkdir(nil, "x", 0, nil); return e }},
		{"mknod", func() syscall.Errno { _, e := r.Mknod(nil, "x", 0, 0, nil); return e }},
		{"symlink", func() syscall.Errno { _, e := r.Symlink(nil, "x", "y", nil); return e }},
		{"link", func() syscall.Errno { _, e := r.Link(nil, n, "y", nil); return e }},
		{"unlink", func() syscall.Errno { return r.Unlink(nil, "db-password") }},
		{"rmdir", func() syscall.Errno { return r.Rmdir(nil, "x") }},
		{"rename", func() syscall.Errno { return r.Rename(nil, "db-password", r, "x", 0) }},
		{"root setxattr", func() syscall.Errno { return r.Setxattr(nil, "user.x", nil, 0) }},
		{"root removexattr", func() syscall.Errno { return r.Removexattr(nil, "user.x") }},
		{"file setattr", func() syscall.Errno { return n.Setattr(nil, nil, nil, nil) }},
		{"write", func() syscall.Errno { _, e := n.Write(nil, nil, []byte("x"), 0); return e }},
		{"allocate", func() syscall.Errno { return n.Allocate(nil, nil, 0, 1, 0) }},
		{"file setxattr", func() syscall.Errno { return n.Setxattr(nil, "user.x", nil, 0) }},
		{"file removexattr", func() syscall.Errno { return n.Removexattr(nil, "user.x") }},
		{"open write-only", func() syscall.Errno { _, _, e := n.Open(nil, syscall.O_WRONLY); return e }},
		{"open read-write", func() syscall.Errno { _, _, e := n.Open(nil, syscall.O_RDWR); return e }},
		{"open truncate", func() syscall.Errno { _, _, e := n.Open(nil, syscall.O_TRUNC); return e }},
	}
	for _, tt := range tests {
		if got := tt.errno(); got != syscall.EROFS {
			t.Errorf("%s: %v, want EROFS", tt.name, got)
		}
	}
}

func TestMountInfo(t *testing.T) {
	_, dir := mount(t, twoFiles()...)
	if ok, err := IsMounted(dir); err != nil || !ok {
		t.Fatalf("IsMounted: %v, %v", ok, err)
	}
	m, err := findMount(dir)
	if err != nil || m == nil {
		t.Fatalf("findMount: %v, %v", m, err)
	}
	for _, o := range []string{"ro", "nosuid", "nodev", "noexec"} {
		if !slices.Contains(m.options, o) {
			t.Errorf("mount options %q lack %s", m.options, o)
		}
	}
	for _, o := range []string{"default_permissions", "allow_other"} {
		if !slices.Contains(m.superOptions, o) {
			t.Errorf("super options %q lack %s", m.superOptions, o)
		}
	}
	if m.fstype != "fuse.vaulttest" || m.source != "vaulttest" {
		t.Errorf("type %q source %q, want fuse.vaulttest and vaulttest", m.fstype, m.source)
	}
	if ok, err := IsMounted(filepath.Dir(dir)); err != nil || ok {
		t.Errorf("IsMounted(parent): %v, %v; want false", ok, err)
	}
}

// TestUpdateAtomic updates a file while readers read it in a loop: every read
// must return one version exactly, and a read after Update returns must
// return the new one. Versions have distinct sizes and fill bytes, and some
// span several READ requests.
func TestUpdateAtomic(t *testing.T) {
	const versions = 12
	var contents [][]byte
	for i := range versions {
		contents = append(contents, bytes.Repeat([]byte{byte('a' + i)}, 3000+i*29_000))
	}
	bySize := make(map[int][]byte)
	for _, c := range contents {
		bySize[len(c)] = c
	}
	s, dir := mount(t, File{Name: "s", Data: contents[0]})
	path := filepath.Join(dir, "s")

	var (
		stop  atomic.Bool
		reads atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		bad   []string
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				got, err := os.ReadFile(path)
				reads.Add(1)
				var problem string
				switch want, ok := bySize[len(got)]; {
				case err != nil:
					problem = err.Error()
				case !ok:
					problem = fmt.Sprintf("read %d bytes, not the size of any version", len(got))
				case !bytes.Equal(got, want):
					problem = fmt.Sprintf("read %d bytes mixing versions", len(got))
				}
				if problem != "" {
					mu.Lock()
					bad = append(bad, problem)
					mu.Unlock()
					return
				}
			}
		}()
	}
	for round := range 5 {
		for i := range versions {
			if round == 0 && i == 0 {
				continue
			}
			if err := s.Update("s", contents[i]); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, contents[i]) {
				t.Fatalf("read right after Update to version %d: %d bytes, %v", i, len(got), err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d bad reads, first: %s", len(bad), bad[0])
	}
	t.Logf("%d concurrent reads", reads.Load())
}

// TestUpdateOpenReader checks that a descriptor opened before an update
// keeps reading the old content whole, and that the old buffer is wiped once
// the kernel drops the old inode.
func TestUpdateOpenReader(t *testing.T) {
	oldData := bytes.Repeat([]byte{'o'}, 300_000)
	newData := bytes.Repeat([]byte{'n'}, 1000)
	s, dir := mount(t, File{Name: "s", Data: oldData})
	path := filepath.Join(dir, "s")

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(path, &before); err != nil {
		t.Fatal(err)
	}
	if err := s.Update("s", newData); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, oldData) {
		t.Errorf("descriptor opened before the update read %d bytes, want the %d old bytes", len(got), len(oldData))
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, newData) {
		t.Errorf("new open: %d bytes, %v; want the new content", len(got), err)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(path, &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino || after.Size != int64(len(newData)) {
		t.Errorf("after update: ino %d size %d, want ino %d size %d", after.Ino, after.Size, before.Ino, len(newData))
	}
	if live := s.counters.live.Load(); live != 2 {
		t.Errorf("%d live buffers while the old version is open, want 2", live)
	}
	f.Close()
	eventually(t, 5*time.Second, "old buffer wiped after close", func() bool { return s.counters.live.Load() == 1 })
}

func TestUpdateErrors(t *testing.T) {
	canary := []byte("CANARY-4e1f")
	s, _ := mount(t, File{Name: "s", Data: []byte("x")})
	if err := s.Update("missing", canary); !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), string(canary)) {
		t.Errorf("Update of a missing name: %v", err)
	}
	s.Lock()
	if err := s.Update("s", canary); !errors.Is(err, ErrLocked) || strings.Contains(err.Error(), string(canary)) {
		t.Errorf("Update while locked: %v", err)
	}
	if live := s.counters.live.Load(); live != 0 {
		t.Errorf("%d live buffers after a refused update, want 0", live)
	}
}

func TestLock(t *testing.T) {
	s, dir := mount(t, twoFiles()...)
	path := filepath.Join(dir, "tls.key")
	early, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	buf := make([]byte, 100)
	if _, err := early.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}

	s.Lock()
	locked := time.Now()
	eventually(t, time.Second, "read fails with EACCES", func() bool {
		_, err := os.ReadFile(path)
		return errnoOf(err) == syscall.EACCES
	})
	t.Logf("reads failed %v after Lock returned", time.Since(locked))
	checks := []struct {
		name string
		op   func() error
	}{
		{"read on a descriptor opened before", func() error { _, err := early.ReadAt(buf, 0); return err }},
		{"read after seek", func() error { _, err := early.ReadAt(buf, 4000); return err }},
		{"fstat", func() error { _, err := early.Stat(); return err }},
		{"stat", func() error { _, err := os.Stat(path); return err }},
		{"open", func() error {
			f, err := os.Open(filepath.Join(dir, "db-password"))
			if err == nil {
				f.Close()
			}
			return err
		}},
	}
	for _, c := range checks {
		if err := c.op(); errnoOf(err) != syscall.EACCES {
			t.Errorf("locked: %s: %v, want EACCES", c.name, err)
		}
	}
	if live := s.counters.live.Load(); live != 0 {
		t.Errorf("locked: %d live buffers, want 0", live)
	}
	if names, err := os.ReadDir(dir); err != nil || len(names) != 2 {
		t.Errorf("locked: listing %v, %v; want the two names", names, err)
	}
	s.Lock() // no-op

	unlockErrs := []struct {
		files map[string][]byte
		want  error
	}{
		{map[string][]byte{"db-password": []byte("a")}, ErrMissingFile},
		{map[string][]byte{"db-password": []byte("a"), "tls.key": []byte("b"), "x": nil}, ErrNotFound},
	}
	for _, u := range unlockErrs {
		if err := s.Unlock(u.files); !errors.Is(err, u.want) {
			t.Errorf("Unlock(%d files): %v, want %v", len(u.files), err, u.want)
		}
	}
	if _, err := os.ReadFile(path); errnoOf(err) != syscall.EACCES {
		t.Errorf("after refused Unlock: %v, want EACCES", err)
	}

	newKey := bytes.Repeat([]byte{0x5a}, 6000)
	if err := s.Unlock(map[string][]byte{"db-password": []byte("hunter3\n"), "tls.key": newKey}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, newKey) {
		t.Errorf("after Unlock: %d bytes, %v; want the new content", len(got), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(newKey)) {
		t.Errorf("after Unlock: stat %v, %v", fi, err)
	}
	if _, err := early.ReadAt(buf, 0); errnoOf(err) != syscall.EACCES {
		t.Errorf("after Unlock, descriptor opened before Lock: %v, want EACCES", err)
	}
	if err := s.Unlock(map[string][]byte{"db-password": nil, "tls.key": nil}); !errors.Is(err, ErrNotLocked) {
		t.Errorf("second Unlock: %v, want ErrNotLocked", err)
	}
	early.Close()
	eventually(t, 5*time.Second, "killed versions forgotten", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.byName["tls.key"].retained) == 0
	})
}

func TestClose(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	s, err := Mount(Options{Mountpoint: dir, Files: twoFiles()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, s)
	if ok, err := IsMounted(dir); err != nil || ok {
		t.Errorf("IsMounted after Close: %v, %v", ok, err)
	}
	if live := s.counters.live.Load(); live != 0 {
		t.Errorf("%d live buffers after Close", live)
	}
	if err := s.Update("tls.key", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseBusy closes while a descriptor is open: the mount is detached at
// once, the descriptor fails, and the server stops when it is closed.
func TestCloseBusy(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	s, err := Mount(Options{Mountpoint: dir, Files: twoFiles()})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsMounted(dir); err != nil || ok {
		t.Errorf("IsMounted after Close: %v, %v", ok, err)
	}
	if _, err := f.ReadAt(make([]byte, 10), 0); errnoOf(err) != syscall.EACCES {
		t.Errorf("read on the detached mount: %v, want EACCES", err)
	}
	f.Close()
	waitStopped(t, s)
}

func TestUnmountedFromOutside(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	s, err := Mount(Options{Mountpoint: dir, Files: twoFiles()})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, s)
	if err := s.Update("tls.key", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after external unmount: %v, want ErrClosed", err)
	}
	if live := s.counters.live.Load(); live != 0 {
		t.Errorf("%d live buffers after the server stopped", live)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after external unmount: %v", err)
	}
}

// TestUnmountStale kills a serving process with SIGKILL, which leaves a dead
// mount behind, and cleans it up with Unmount.
func TestUnmountStale(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=mount", childMountEnv+"="+dir, childFileEnv+"=f")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := readLine(bufio.NewReader(out)); err != nil || line != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "child" {
		t.Errorf("read through the child's mount: %q, %v", got, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	// Pages the kernel cached stay readable until the mount goes; anything
	// that needs the dead server fails.
	if _, err := os.ReadDir(dir); errnoOf(err) != syscall.ENOTCONN {
		t.Errorf("listing the stale mount: %v, want ENOTCONN", err)
	}
	if ok, err := IsMounted(dir); err != nil || !ok {
		t.Fatalf("IsMounted on the stale mount: %v, %v", ok, err)
	}
	if err := Unmount(dir); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if ok, err := IsMounted(dir); err != nil || ok {
		t.Errorf("IsMounted after Unmount: %v, %v", ok, err)
	}
	if err := Unmount(dir); err != nil {
		t.Errorf("Unmount with nothing mounted: %v", err)
	}
	if err := Unmount(filepath.Join(dir, "does-not-exist")); err != nil {
		t.Errorf("Unmount of a missing path: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("mountpoint after Unmount: %v, %v; want an empty directory", entries, err)
	}
}

// TestServeFD mounts in a child's private mount namespace and serves the
// descriptor it sends back; the host namespace never sees the mount.
func TestServeFD(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	secret := []byte("only inside the namespace\n")

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parentEnd := os.NewFile(uintptr(pair[0]), "parent")
	childEnd := os.NewFile(uintptr(pair[1]), "child")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=servefd", childMountEnv+"="+dir, childFileEnv+"=token")
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and / made rprivate
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close()
	conn, err := net.FileConn(parentEnd)
	parentEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := ReceiveFD(conn.(*net.UnixConn))
	conn.Close()
	if err != nil {
		cmd.Wait()
		t.Fatalf("ReceiveFD: %v (child stderr: %s)", err, stderr.String())
	}
	if ok, err := IsMounted(dir); err != nil || ok {
		t.Errorf("host namespace sees the child's mount: %v, %v", ok, err)
	}
	s, err := ServeFD(fd, Options{Mountpoint: dir, Files: []File{{Name: "token", Mode: 0o400, Data: secret}}})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v, stderr: %s", err, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), secret) {
		t.Errorf("child read %q, want %q", stdout.Bytes(), secret)
	}
	// The namespace died with the child, and its mount with it.
	waitStopped(t, s)
	if live := s.counters.live.Load(); live != 0 {
		t.Errorf("%d live buffers after the namespace died", live)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("host mountpoint: %v, %v; want an empty directory", entries, err)
	}
}

func TestServeFDBadDescriptor(t *testing.T) {
	if _, err := ServeFD(0, Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("ServeFD(0): %v, want ErrInvalidOptions", err)
	}
	if _, err := ServeFD(-1, Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("ServeFD(-1): %v, want ErrInvalidOptions", err)
	}
}

func TestMountErrors(t *testing.T) {
	requireFUSE(t)
	if _, err := Mount(Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("Mount without mountpoint: %v", err)
	}
	if _, err := Mount(Options{Mountpoint: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Errorf("Mount on a missing directory succeeded")
	}
	if _, err := Mount(Options{Mountpoint: t.TempDir(), Files: []File{{Name: "a/b"}}}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("Mount with a bad name: %v", err)
	}
}

// TestForgetAndRevive makes the kernel forget the current version's inode,
// then looks it up again: the same version must be served.
func TestForgetAndRevive(t *testing.T) {
	s, dir := mount(t, File{Name: "s", Data: []byte("first")})
	path := filepath.Join(dir, "s")
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	v := s.byName["s"].cur
	kernelRef := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return v.kernelRef
	}
	if !kernelRef() {
		t.Fatal("kernel holds no reference after a read")
	}
	_ = s.root.NotifyEntry("s")
	eventually(t, 5*time.Second, "kernel forgets the inode", func() bool { return !kernelRef() })
	if got, err := os.ReadFile(path); err != nil || string(got) != "first" {
		t.Fatalf("read after forget: %q, %v", got, err)
	}
	if !kernelRef() || s.byName["s"].cur != v {
		t.Error("lookup after forget did not revive the current version")
	}
	if err := s.Update("s", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "second" {
		t.Fatalf("read after update: %q, %v", got, err)
	}
	eventually(t, 5*time.Second, "old version wiped", func() bool { return s.counters.live.Load() == 1 })
}

// TestDebugLogHasNoContent reads a file with go-fuse's debug log on and
// checks that the content is not in it.
func TestDebugLogHasNoContent(t *testing.T) {
	requireFUSE(t)
	var logged lockedBuffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)

	canary := "CANARY-d3b07384d113edec49eaa6238ad5ff00"
	dir := t.TempDir()
	s, err := Mount(Options{Mountpoint: dir, Debug: true, Files: []File{{Name: "s", Data: []byte(canary)}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "s")); err != nil || string(got) != canary {
		t.Fatalf("read: %q, %v", got, err)
	}
	if err := s.Update("s", []byte(canary+"2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "s")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitStopped(t, s)
	out := logged.String()
	if !strings.Contains(out, "READ") {
		t.Fatalf("debug log has no READ: %q", out)
	}
	if strings.Contains(out, "CANARY") || strings.Contains(out, "CANA") {
		t.Errorf("debug log contains file content")
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestCachedReadStaysInKernel checks, from go-fuse's request log, that
// repeated opens and reads of a file reach the server once: OPEN and FLUSH
// are answered with ENOSYS the first time, and the page cache serves the
// rest.
func TestCachedReadStaysInKernel(t *testing.T) {
	requireFUSE(t)
	var logged lockedBuffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)

	dir := t.TempDir()
	s, err := Mount(Options{Mountpoint: dir, Debug: true, Files: []File{{Name: "s", Data: []byte("cached")}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if got, err := os.ReadFile(filepath.Join(dir, "s")); err != nil || string(got) != "cached" {
			t.Fatalf("read: %q, %v", got, err)
		}
	}
	s.Close()
	waitStopped(t, s)
	counts := make(map[string]int)
	node := fmt.Sprintf("n%d", nodeID(1, 0, 1)) // first server, first file, first version
	for _, line := range strings.Split(logged.String(), "\n") {
		// "rx 22: READ n2 {...}": requests for the file's node.
		if i := strings.Index(line, ": "); i >= 0 && strings.Contains(line, " rx ") {
			if f := strings.Fields(line[i+2:]); len(f) >= 2 && f[1] == node {
				counts[f[0]]++
			}
		}
	}
	if counts["READ"] == 0 {
		t.Fatalf("no request for the file found in the log: %v", counts)
	}
	t.Logf("requests for the file over 5 reads: %v", counts)
	for op, max := range map[string]int{"OPEN": 1, "FLUSH": 1, "READ": 1, "RELEASE": 0, "GETATTR": 0} {
		if counts[op] > max {
			t.Errorf("%d %s requests for 5 reads, want at most %d (all: %v)", counts[op], op, max, counts)
		}
	}
}
