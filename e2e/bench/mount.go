package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vaultd/vault/api"
)

// ErrNoMount is returned by Run when Mount is set and the vault binary has
// no `mount` command.
var ErrNoMount = errors.New("bench: this vault binary has no `mount` command, so --mount cannot run (it needs `vault mount --secret NAME MOUNTPOINT` and `vault unmount MOUNTPOINT`)")

// mountSecret is the name of the secret the mount workload reads.
const mountSecret = "bench-mount"

// checkMount fails with ErrNoMount unless bin has the mount commands.
func checkMount(ctx context.Context, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "mount", "--help").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--secret")) {
		return ErrNoMount
	}
	return nil
}

// runMount measures open+read+close of one secret through a FUSE mount
// served by the first manager against the same bytes in a tmpfs file, one
// client, in rounds that alternate which goes first.
func runMount(ctx context.Context, vc *vaultCluster, root string, size int, dur time.Duration, rounds int) (_ *Workload, err error) {
	data := make([]byte, size)
	rand.Read(data)
	m := vc.members[0]
	if _, err := api.NewClient(m.socket).CreateSecret(ctx, api.CreateSecretRequest{Name: mountSecret, Data: data}); err != nil {
		return nil, fmt.Errorf("mount: create the secret: %w", err)
	}

	mp := filepath.Join(root, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		return nil, err
	}
	vault := func(args ...string) error {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, vc.bin, append([]string{"--socket", m.socket}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("vault %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := vault("mount", "--secret", mountSecret, mp); err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	defer func() {
		if uerr := vault("unmount", mp); uerr != nil {
			syscall.Unmount(mp, syscall.MNT_DETACH)
			err = errors.Join(err, uerr)
		}
	}()
	fusePath := filepath.Join(mp, mountSecret)
	if err := poll(ctx, 30*time.Second, "the mounted secret to be readable", func(context.Context) error {
		b, err := os.ReadFile(fusePath)
		if err == nil && !bytes.Equal(b, data) {
			err = errors.New("the mounted file does not hold the secret's data")
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}

	tmpDir, cleanup, err := tmpfsDir(root)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	tmpPath := filepath.Join(tmpDir, mountSecret)
	if err := os.WriteFile(tmpPath, data, 0o400); err != nil {
		return nil, err
	}

	w := &Workload{Name: fmt.Sprintf("open+read+close %s, 1 client", sizeName(size)), Clients: 1, PeerName: "tmpfs"}
	buf := make([]byte, size+4096)
	read := func(path string) op {
		return func(context.Context, int, int) error { return openReadClose(path, buf, size) }
	}
	var fuseRounds, tmpfsRounds []*Measure
	for round := range rounds {
		if round%2 == 0 {
			fuseRounds = append(fuseRounds, runLoad(ctx, 1, dur/time.Duration(rounds), 0, vc.servers(), read(fusePath)))
			tmpfsRounds = append(tmpfsRounds, runLoad(ctx, 1, dur/time.Duration(rounds), 0, nil, read(tmpPath)))
		} else {
			tmpfsRounds = append(tmpfsRounds, runLoad(ctx, 1, dur/time.Duration(rounds), 0, nil, read(tmpPath)))
			fuseRounds = append(fuseRounds, runLoad(ctx, 1, dur/time.Duration(rounds), 0, vc.servers(), read(fusePath)))
		}
	}
	w.Vault, w.Peer = add(fuseRounds...), add(tmpfsRounds...)
	for _, m := range []*Measure{w.Vault, w.Peer} {
		if m.Ops == 0 {
			return nil, fmt.Errorf("mount: no read succeeded; first error: %s", m.FirstError)
		}
	}
	return w, nil
}

// tmpfsDir returns a fresh directory on tmpfs: under /dev/shm where that is
// tmpfs, else a tmpfs mounted under root (which needs root).
func tmpfsDir(root string) (string, func(), error) {
	if isTmpfs("/dev/shm") {
		d, err := os.MkdirTemp("/dev/shm", "vault-bench-")
		if err != nil {
			return "", nil, err
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	d := filepath.Join(root, "tmpfs")
	if err := os.Mkdir(d, 0o700); err != nil {
		return "", nil, err
	}
	if err := syscall.Mount("tmpfs", d, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=16m,mode=0700"); err != nil {
		return "", nil, fmt.Errorf("mount a tmpfs at %s: %w", d, err)
	}
	return d, func() { syscall.Unmount(d, syscall.MNT_DETACH) }, nil
}

// openReadClose is what `cat` does to a small file, without the epoll
// registration package os adds: open, read until EOF, close.
func openReadClose(path string, buf []byte, want int) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	got := 0
	for {
		n, err := syscall.Read(fd, buf[got:])
		if err != nil {
			syscall.Close(fd)
			return err
		}
		if n == 0 {
			break
		}
		got += n
	}
	if err := syscall.Close(fd); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("read %d bytes of %s, want %d", got, path, want)
	}
	return nil
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}
