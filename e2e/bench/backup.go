package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// SnapshotFigures are a system's backup tool measured after the run: a
// snapshot of every key saved through a running member, and that snapshot
// restored into a fresh data dir.
//
// vault: `vault snapshot save FILE`, then `vault cluster restore FILE` on a
// fresh daemon, which includes bringing that node up as a one-manager
// cluster serving linearizable reads. etcd: `etcdctl snapshot save FILE`,
// then `etcdutl snapshot restore FILE --data-dir D` (`etcdctl snapshot
// restore` where etcdutl is not installed, as with etcd 3.4), which writes
// the data dir offline and starts no server.
type SnapshotFigures struct {
	Tool     string  `json:"tool"`
	SaveS    float64 `json:"save_s"`
	Bytes    int64   `json:"bytes"`
	RestoreS float64 `json:"restore_s"`
}

var snapshotKeyRE = regexp.MustCompile(`VLTKEY-1-[A-Z2-7]{64}`)

// snapshotFigures measures s's snapshot save and restore under dir. For
// etcd without etcdctl on PATH (`apt-get install -y etcd-client`) it
// returns nil: the report shows "-".
func snapshotFigures(ctx context.Context, s system, vaultBin, dir string) (*SnapshotFigures, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, s.name()+".snapshot")
	switch c := s.(type) {
	case *vaultCluster:
		f := &SnapshotFigures{Tool: "vault snapshot save / vault cluster restore"}
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, vaultBin, "--socket", c.members[0].socket, "snapshot", "save", file).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("vault snapshot save: %w: %s", err, lastLine(out))
		}
		f.SaveS = time.Since(t0).Seconds()
		// Autolock is off in the bench: the save printed a snapshot key.
		keyFile := filepath.Join(dir, "snapshot.key")
		if err := os.WriteFile(keyFile, snapshotKeyRE.Find(out), 0o600); err != nil {
			return nil, err
		}
		fi, err := os.Stat(file)
		if err != nil {
			return nil, err
		}
		f.Bytes = fi.Size()
		addrs, err := freeAddrs(2)
		if err != nil {
			return nil, err
		}
		m := &vaultMember{socket: filepath.Join(dir, "vault.sock"), stateDir: filepath.Join(dir, "state"), addr: addrs[0], apiAddr: addrs[1]}
		m.p = &proc{
			name: "vault restored", bin: vaultBin, log: filepath.Join(dir, "daemon.log"),
			args: []string{"--socket", m.socket, "daemon", "--state-dir", m.stateDir, "--listen-addr", m.addr, "--api-addr", m.apiAddr, "--keep-mounts", "0", "--docker-plugin-socket", ""},
		}
		if err := m.p.start(); err != nil {
			return nil, err
		}
		defer m.p.stop(30 * time.Second)
		if err := m.waitServing(ctx, 60*time.Second); err != nil {
			return nil, err
		}
		t0 = time.Now()
		out, err = exec.CommandContext(ctx, vaultBin, "--socket", m.socket, "cluster", "restore", "--unlock-key-file", keyFile, file).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("vault cluster restore: %w: %s", err, lastLine(out))
		}
		f.RestoreS = time.Since(t0).Seconds()
		return f, nil
	case *etcdCluster:
		ctl, err := exec.LookPath("etcdctl")
		if err != nil {
			// etcd's client tools are a package of their own (etcd-client).
			return nil, nil
		}
		f := &SnapshotFigures{Tool: "etcdctl snapshot save / etcdctl snapshot restore"}
		restore := []string{ctl, "snapshot", "restore", file, "--data-dir", filepath.Join(dir, "restored")}
		if utl, err := exec.LookPath("etcdutl"); err == nil {
			f.Tool = "etcdctl snapshot save / etcdutl snapshot restore"
			restore[0] = utl
		}
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, ctl, "--endpoints", c.members[0].client, "snapshot", "save", file)
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("etcdctl snapshot save: %w: %s", err, lastLine(out))
		}
		f.SaveS = time.Since(t0).Seconds()
		fi, err := os.Stat(file)
		if err != nil {
			return nil, err
		}
		f.Bytes = fi.Size()
		t0 = time.Now()
		cmd = exec.CommandContext(ctx, restore[0], restore[1:]...)
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s snapshot restore: %w: %s", filepath.Base(restore[0]), err, lastLine(out))
		}
		f.RestoreS = time.Since(t0).Seconds()
		return f, nil
	case *swarmCluster:
		// Swarm's backup is a copy of /var/lib/docker/swarm with dockerd
		// stopped, and dockerd is not the bench's to stop: no row.
		return nil, nil
	}
	return nil, fmt.Errorf("no snapshot tool for %s", s.name())
}
