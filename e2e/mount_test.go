package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// needFUSE skips a test that mounts unless this is root with /dev/fuse.
// .ci/run runs as root and fails on any skip.
func needFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root (CAP_SYS_ADMIN)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse on this machine")
	}
}

// asUser runs a command as another uid and returns its combined output.
func asUser(uid uint32, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func findmnt(t *testing.T, mp string) string {
	out, _ := exec.Command("findmnt", "-n", "-o", "FSTYPE,OPTIONS", mp).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestMounts: secrets served at a mountpoint with owner and mode the kernel
// enforces, read-only, live versions without torn reads, unreadable while
// the node is locked, stale mounts cleaned after a crash, and no canary on
// any disk.
func TestMounts(t *testing.T) {
	needFUSE(t)
	start := time.Now()
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "2"))
	c := canaries{}
	dbPass := []byte("CANARY-VALUE-db-" + randHex(12))
	apiTok := []byte("CANARY-VALUE-api-" + randHex(12))
	c.add("db", dbPass)
	c.add("api", apiTok)
	must(t, d.vaultIn(dbPass, "secret", "create", "db-password", "-"))
	must(t, d.vaultIn(apiTok, "secret", "create", "api-token", "-"))

	// The owner (uid 1234) must be able to reach the mountpoint.
	base := t.TempDir()
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(base), 0o755)
	mp := filepath.Join(base, "secrets")
	os.Mkdir(mp, 0o755)
	must(t, d.vault("mount", "--follow", "--secret", "db-password",
		"--secret", "source=api-token,target=token,uid=1234,gid=5678,mode=0400", mp))
	t.Cleanup(func() { exec.Command("umount", "-l", mp).Run() })

	if b, err := os.ReadFile(filepath.Join(mp, "db-password")); err != nil || !bytes.Equal(b, dbPass) {
		t.Fatalf("read db-password: %q %v", b, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(mp, "token"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1234 || st.Gid != 5678 || st.Mode&0o777 != 0o400 || st.Size != int64(len(apiTok)) {
		t.Fatalf("token: uid %d gid %d mode %o size %d", st.Uid, st.Gid, st.Mode&0o777, st.Size)
	}
	ents, _ := os.ReadDir(mp)
	if len(ents) != 2 {
		t.Fatalf("mount lists %d entries, want exactly the 2 granted", len(ents))
	}
	if out, err := asUser(4321, "cat", filepath.Join(mp, "token")); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("another uid read a 0400 file: %q %v", out, err)
	}
	if out, err := asUser(1234, "cat", filepath.Join(mp, "token")); err != nil || out != string(apiTok) {
		t.Fatalf("the owner could not read its file: %q %v", out, err)
	}
	for what, err := range map[string]error{
		"write":  os.WriteFile(filepath.Join(mp, "db-password"), []byte("x"), 0o644),
		"create": os.WriteFile(filepath.Join(mp, "new"), []byte("x"), 0o644),
		"mkdir":  os.Mkdir(filepath.Join(mp, "dir"), 0o755),
		"rename": os.Rename(filepath.Join(mp, "token"), filepath.Join(mp, "t2")),
		"chmod":  os.Chmod(filepath.Join(mp, "token"), 0o644),
		"remove": os.Remove(filepath.Join(mp, "token")),
	} {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	if opts := findmnt(t, mp); !strings.Contains(opts, "ro,nosuid,nodev,noexec") {
		t.Fatalf("findmnt: %q", opts)
	}
	mustFail(t, d.vault("secret", "rm", "db-password"), "mounted at")

	// Live versions: readers never see a torn value.
	versions := [][]byte{dbPass}
	for i := range 6 {
		versions = append(versions, bytes.Repeat([]byte{byte('a' + i)}, 100+i*500))
	}
	var stop atomic.Bool
	var torn atomic.Int64
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(filepath.Join(mp, "db-password"))
				if err != nil {
					torn.Add(1)
					continue
				}
				ok := false
				for _, v := range versions {
					ok = ok || bytes.Equal(b, v)
				}
				if !ok {
					torn.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	for _, v := range versions[1:] {
		must(t, d.vaultIn(v, "secret", "update", "db-password", "-"))
		waitFor(t, "the new version in the mount", 5*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(mp, "db-password"))
			return bytes.Equal(b, v)
		})
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 {
		t.Fatalf("%d of %d concurrent reads saw a torn or failed value", torn.Load(), reads.Load())
	}
	t.Logf("%d concurrent reads across %d updates, none torn", reads.Load(), len(versions)-1)

	// A pinned mount never changes.
	pinned := filepath.Join(t.TempDir(), "pinned")
	os.Mkdir(pinned, 0o755)
	must(t, d.vault("mount", "--secret", "db-password@1", pinned))
	must(t, d.vaultIn([]byte("later"), "secret", "update", "db-password", "-"))
	if b, _ := os.ReadFile(filepath.Join(pinned, "db-password")); !bytes.Equal(b, dbPass) {
		t.Fatalf("pinned mount shows %q", b)
	}
	must(t, d.vault("unmount", pinned))

	// Locked: every read fails within a second; unlock restores them.
	key := unlockKeyRE.FindString(must(t, d.vault("cluster", "update", "--autolock=true")).stdout)
	c["unlock key"] = []byte(key)
	must(t, d.vault("lock", "--force"))
	waitFor(t, "reads to fail after the lock", time.Second, func() bool {
		_, err := os.ReadFile(filepath.Join(mp, "db-password"))
		return errors.Is(err, syscall.EACCES)
	})
	must(t, d.vaultIn([]byte(key), "unlock"))
	waitFor(t, "reads to work after unlock", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(mp, "db-password"))
		return err == nil && string(b) == "later"
	})

	// A daemon killed with its mounts up: the next one detaches them.
	d.kill()
	d.start()
	waitFor(t, "the stale mount to be detached", 10*time.Second, func() bool {
		return findmnt(t, mp) == ""
	})
	must(t, d.vaultIn([]byte(key), "unlock"))
	d.stop()

	files, size := c.scan(t, d.stateDir)
	c.scanNewerThan(t, os.TempDir(), start)
	t.Logf("canary scan: state dir (%d files, %d bytes) and new files under %s: none found", files, size, os.TempDir())
}

// scanNewerThan scans the files under root modified since t0 (what a test
// run could have written), skipping what it cannot read.
func (c canaries) scanNewerThan(t *testing.T, root string, t0 time.Time) {
	t.Helper()
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			if strings.HasPrefix(filepath.Base(p), "go-build") {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().Before(t0) || fi.Size() > 64<<20 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for label, s := range c {
			if bytes.Contains(b, s) {
				t.Errorf("canary %s found in %s", label, p)
			}
		}
		return nil
	})
}

// TestExec: a command gets its own /run/secrets; nothing else sees it; its
// exit status passes through.
func TestExec(t *testing.T) {
	needFUSE(t)
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	val := []byte("CANARY-VALUE-exec-" + randHex(12))
	must(t, d.vaultIn(val, "secret", "create", "exec-secret", "-"))
	before, beforeErr := os.ReadDir("/run/secrets")

	r := must(t, d.vault("exec", "--secret", "source=exec-secret,target=s,mode=0400", "--", "cat", "/run/secrets/s"))
	if r.stdout != string(val) {
		t.Fatalf("exec printed %q", r.stdout)
	}
	r = d.vault("exec", "--secret", "exec-secret", "--", "sh", "-c", "test -r /run/secrets/exec-secret && exit 42")
	if r.code != 42 {
		t.Fatalf("exit status %d, want 42: %s", r.code, r)
	}
	// While a command runs, its mount is visible to it alone.
	cmd := exec.Command(vaultBin, "--socket", d.socket, "exec", "--secret", "exec-secret", "--", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the exec mount to be served", 10*time.Second, func() bool {
		return strings.Contains(d.vault("mount", "ls").stdout, "vault exec")
	})
	if out, _ := exec.Command("findmnt", "-n", "/run/secrets").CombinedOutput(); len(out) != 0 {
		t.Fatalf("the host sees the exec mount: %s", out)
	}
	after, afterErr := os.ReadDir("/run/secrets")
	if (beforeErr == nil) != (afterErr == nil) || len(before) != len(after) {
		t.Fatalf("the host's /run/secrets changed: %v %v -> %v %v", before, beforeErr, after, afterErr)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, "the exec mount to go away with the command", 10*time.Second, func() bool {
		return !strings.Contains(d.vault("mount", "ls").stdout, "vault exec")
	})
	mustFail(t, d.vault("exec", "--secret", "nosuch", "--", "true"), "no such secret")
}

// TestContainer: a container built FROM scratch with a static busybox reads
// a secret through a bind mount of a vault mount.
func TestContainer(t *testing.T) {
	needFUSE(t)
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("no Docker engine: ", err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox (Debian's busybox-static)")
	}
	if out, _ := exec.Command("file", "-L", busybox).CombinedOutput(); bytes.Contains(out, []byte("dynamically")) {
		t.Skipf("%s is not static: install busybox-static", busybox)
	}
	ctx := t.TempDir()
	b, _ := os.ReadFile(busybox)
	os.WriteFile(filepath.Join(ctx, "busybox"), b, 0o755)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n"), 0o644)
	image := "vault-e2e-busybox:" + randHex(4)
	if out, err := exec.Command("docker", "build", "-q", "-t", image, ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })

	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	val := "CANARY-VALUE-container-" + randHex(12)
	must(t, d.vaultIn([]byte(val), "secret", "create", "app-secret", "-"))
	mp := filepath.Join(t.TempDir(), "run-secrets")
	os.Mkdir(mp, 0o755)
	must(t, d.vault("mount", "--secret", "app-secret", mp))
	t.Cleanup(func() { exec.Command("umount", "-l", mp).Run() })
	out, err := exec.Command("docker", "run", "--rm", "--network", "none",
		"--mount", fmt.Sprintf("type=bind,src=%s,dst=/run/secrets,readonly", mp),
		image, "cat", "/run/secrets/app-secret").CombinedOutput()
	if err != nil || string(out) != val {
		t.Fatalf("container read %q: %v", out, err)
	}
	must(t, d.vault("unmount", mp))
}
