package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/fuse"
)

// mountsFile lists the mountpoints this daemon serves, so that a daemon
// starting after a crash can detach the ones its predecessor left behind.
const mountsFile = "mounts.json"

// mount is one file system this daemon serves.
type mount struct {
	info   api.MountInfo
	srv    *fuse.Server
	ids    map[string]string // target -> secret id
	shards map[string]uint64 // target -> shard
}

// resolveFiles reads the data of every spec (as of now) for a mount.
func (n *Node) resolveFiles(ctx context.Context, specs []api.SecretSpec) ([]fuse.File, map[string]string, map[string]uint64, error) {
	var files []fuse.File
	ids, shards := map[string]string{}, map[string]uint64{}
	seen := map[string]bool{}
	for _, sp := range specs {
		if seen[sp.Target] {
			return nil, nil, nil, api.Errorf(api.CodeInvalid, "two secrets have the target %q", sp.Target)
		}
		seen[sp.Target] = true
		e, err := n.resolve(ctx, sp.Source)
		if err != nil {
			wipeFiles(files)
			return nil, nil, nil, err
		}
		data, _, err := n.secretData(ctx, e, sp.Version)
		if err != nil {
			wipeFiles(files)
			return nil, nil, nil, err
		}
		files = append(files, fuse.File{Name: sp.Target, UID: sp.UID, GID: sp.GID, Mode: os.FileMode(sp.Mode), Data: data})
		ids[sp.Target], shards[sp.Target] = e.rec.ID, e.shard
	}
	return files, ids, shards, nil
}

func wipeFiles(files []fuse.File) {
	for _, f := range files {
		wipe(f.Data)
	}
}

func validateSpecs(specs []api.SecretSpec) error {
	if len(specs) == 0 {
		return api.Errorf(api.CodeInvalid, "no secrets to mount").WithHint("give --secret NAME (repeatable)")
	}
	for _, sp := range specs {
		if err := ValidateName(sp.Source); err != nil {
			return err
		}
		if sp.Mode&^0o777 != 0 {
			return api.Errorf(api.CodeInvalid, "secret %s: mode %o has bits other than permissions", sp.Source, sp.Mode)
		}
	}
	return nil
}

// Mount mounts secrets read-only at a mountpoint, served from memory.
func (n *Node) Mount(ctx context.Context, req *api.MountRequest) (*api.MountInfo, error) {
	if _, _, err := n.running(); err != nil {
		return nil, err
	}
	if err := validateSpecs(req.Secrets); err != nil {
		return nil, err
	}
	mp, err := filepath.Abs(req.Mountpoint)
	if err != nil || req.Mountpoint == "" {
		return nil, api.Errorf(api.CodeInvalid, "mountpoint %q: give a directory", req.Mountpoint)
	}
	if fi, err := os.Stat(mp); err != nil || !fi.IsDir() {
		return nil, api.Errorf(api.CodeInvalid, "mountpoint %s is not a directory", mp).WithHint("create it first: mkdir -p %s", mp)
	}
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	if _, ok := n.mounts[mp]; ok {
		return nil, api.Errorf(api.CodeExists, "%s is already a vault mount", mp).WithHint("`vault unmount %s` first", mp)
	}
	if mounted, _ := fuse.IsMounted(mp); mounted {
		return nil, api.Errorf(api.CodeExists, "something is already mounted at %s", mp)
	}
	files, ids, shards, err := n.resolveFiles(ctx, req.Secrets)
	if err != nil {
		return nil, err
	}
	srv, err := fuse.Mount(fuse.Options{Mountpoint: mp, Files: files})
	wipeFiles(files)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mp, err)
	}
	m := &mount{info: api.MountInfo{Mountpoint: mp, Secrets: req.Secrets, Follow: req.Follow, CreatedAt: time.Now().UTC()}, srv: srv, ids: ids, shards: shards}
	n.mounts[mp] = m
	n.saveMountsLocked()
	go func() {
		srv.Wait() // unmounted from outside: forget it
		n.mountMu.Lock()
		if n.mounts[mp] == m {
			delete(n.mounts, mp)
			n.saveMountsLocked()
		}
		n.mountMu.Unlock()
	}()
	n.log.Info("mounted secrets", "mountpoint", mp, "secrets", len(req.Secrets), "follow", req.Follow)
	return &m.info, nil
}

// Unmount ends a mount.
func (n *Node) Unmount(path string) error {
	mp, _ := filepath.Abs(path)
	n.mountMu.Lock()
	m, ok := n.mounts[mp]
	if ok {
		delete(n.mounts, mp)
		n.saveMountsLocked()
	}
	n.mountMu.Unlock()
	if !ok {
		return api.Errorf(api.CodeNotFound, "%s is not a vault mount", mp).WithHint("`vault mount ls` lists them")
	}
	n.log.Info("unmounted secrets", "mountpoint", mp)
	return m.srv.Close()
}

// Mounts lists the mounts.
func (n *Node) Mounts() []api.MountInfo {
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	out := []api.MountInfo{}
	for _, m := range n.mounts {
		info := m.info
		info.Locked = n.isLocked()
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mountpoint < out[j].Mountpoint })
	return out
}

func (n *Node) isLocked() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.locked
}

// mountedSecret reports a mount serving a secret id, if any.
func (n *Node) mountedSecret(id string) string {
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	for mp, m := range n.mounts {
		for _, x := range m.ids {
			if x == id {
				return mp
			}
		}
	}
	return ""
}

// saveMountsLocked records the mountpoints (not their contents).
func (n *Node) saveMountsLocked() {
	var paths []string
	for mp, m := range n.mounts {
		if !m.info.Exec {
			paths = append(paths, mp)
		}
	}
	sort.Strings(paths)
	b, _ := json.Marshal(paths)
	if err := writeFileAtomic(filepath.Join(n.cfg.StateDir, mountsFile), b, 0o600); err != nil {
		n.log.Warn("recording mounts", "err", err)
	}
}

// cleanStaleMounts detaches mounts a crashed daemon left behind.
func (n *Node) cleanStaleMounts() {
	b, err := os.ReadFile(filepath.Join(n.cfg.StateDir, mountsFile))
	if err != nil {
		return
	}
	var paths []string
	if json.Unmarshal(b, &paths) != nil {
		return
	}
	for _, p := range paths {
		if mounted, _ := fuse.IsMounted(p); mounted {
			if err := fuse.Unmount(p); err != nil {
				n.log.Warn("detaching a stale mount", "mountpoint", p, "err", err)
			} else {
				n.log.Info("detached a mount left by a daemon that did not stop cleanly", "mountpoint", p)
			}
		}
	}
	_ = os.Remove(filepath.Join(n.cfg.StateDir, mountsFile))
}

// closeMounts ends every mount (daemon shutdown).
func (n *Node) closeMounts() {
	n.mountMu.Lock()
	ms := n.mounts
	n.mounts = map[string]*mount{}
	n.mountMu.Unlock()
	for _, m := range ms {
		_ = m.srv.Close()
	}
	_ = os.Remove(filepath.Join(n.cfg.StateDir, mountsFile))
}

// lockMounts makes every mount unreadable and wipes its data.
func (n *Node) lockMounts() {
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	for _, m := range n.mounts {
		m.srv.Lock()
	}
}

// unlockMounts refills every mount after an unlock.
func (n *Node) unlockMounts(ctx context.Context) {
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	for mp, m := range n.mounts {
		files, _, _, err := n.resolveFiles(ctx, m.info.Secrets)
		if err != nil {
			n.log.Warn("refilling a mount after unlock", "mountpoint", mp, "err", err)
			continue
		}
		data := map[string][]byte{}
		for _, f := range files {
			data[f.Name] = f.Data
		}
		if err := m.srv.Unlock(data); err != nil {
			n.log.Warn("refilling a mount after unlock", "mountpoint", mp, "err", err)
		}
		wipeFiles(files)
	}
}

// secretsChanged refreshes following mounts when a secret gets a new
// version. Called from the state machine: the work runs elsewhere.
func (n *Node) secretsChanged(shard uint64, ids []string) {
	n.mountMu.Lock()
	type job struct {
		m      *mount
		target string
		spec   api.SecretSpec
	}
	var jobs []job
	for _, m := range n.mounts {
		if !m.info.Follow {
			continue
		}
		for _, sp := range m.info.Secrets {
			if sp.Version != 0 {
				continue // pinned
			}
			for _, id := range ids {
				if m.ids[sp.Target] == id && m.shards[sp.Target] == shard {
					jobs = append(jobs, job{m, sp.Target, sp})
				}
			}
		}
	}
	n.mountMu.Unlock()
	if len(jobs) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, j := range jobs {
			e, err := n.resolve(ctx, j.m.ids[j.target])
			if err != nil {
				n.log.Warn("following a secret", "target", j.target, "err", err)
				continue
			}
			data, _, err := n.secretData(ctx, e, 0)
			if err != nil {
				n.log.Warn("following a secret", "target", j.target, "err", err)
				continue
			}
			if err := j.m.srv.Update(j.target, data); err != nil && !errors.Is(err, fuse.ErrLocked) && !errors.Is(err, fuse.ErrClosed) {
				n.log.Warn("following a secret", "target", j.target, "err", err)
			}
			wipe(data)
		}
	}()
}

// handleExec serves `vault exec`: the client, in its own mount namespace,
// sends the secrets it wants, gets a 101 answer, then passes the /dev/fuse
// descriptor it mounted at /run/secrets; the daemon serves it until the
// namespace goes away with the command.
func (n *Node) handleExec(w http.ResponseWriter, r *http.Request) {
	var req api.ExecRequest
	err := decode(r, &req)
	if err == nil {
		if _, _, err = n.running(); err == nil {
			err = validateSpecs(req.Secrets)
		}
	}
	var files []fuse.File
	var ids map[string]string
	var shards map[string]uint64
	if err == nil {
		files, ids, shards, err = n.resolveFiles(r.Context(), req.Secrets)
	}
	if err != nil {
		e := operatorError(api.CodeInternal, err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status())
		_ = json.NewEncoder(w).Encode(map[string]*api.Error{"error": e})
		return
	}
	defer wipeFiles(files)
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok || rw.Reader.Buffered() > 0 {
		return
	}
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: vault-exec\r\nConnection: Upgrade\r\n\r\n")
	if rw.Flush() != nil {
		return
	}
	_ = uc.SetReadDeadline(time.Now().Add(30 * time.Second))
	fd, err := fuse.ReceiveFD(uc)
	if err != nil {
		fmt.Fprintf(uc, "ERR %v\n", err)
		return
	}
	srv, err := fuse.ServeFD(fd, fuse.Options{Mountpoint: "/run/secrets (vault exec)", Files: files})
	if err != nil {
		fmt.Fprintf(uc, "ERR %v\n", err)
		return
	}
	key := fmt.Sprintf("exec:%d:%p", fd, srv)
	m := &mount{info: api.MountInfo{Mountpoint: "/run/secrets", Secrets: req.Secrets, Follow: req.Follow, Exec: true, CreatedAt: time.Now().UTC()}, srv: srv, ids: ids, shards: shards}
	n.mountMu.Lock()
	n.mounts[key] = m
	n.mountMu.Unlock()
	fmt.Fprintf(uc, "OK\n")
	go func() {
		srv.Wait() // the command's namespace is gone
		srv.Close()
		n.mountMu.Lock()
		delete(n.mounts, key)
		n.mountMu.Unlock()
	}()
}
