package vault

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/fuse"
	"github.com/vaultd/vault/internal/mountkeep"
	"github.com/vaultd/vault/internal/statedir"
)

// Mounts that outlive the daemon.
//
// With Config.Keeper set, every mount this daemon makes (not `vault exec`'s)
// hands a clone of its kernel connection to the keeper, a holder process
// that outlives the daemon (internal/mountkeep), and its spec goes into
// keptMountsFile, sealed under a key derived from the cluster's name-index
// key. A daemon that starts takes the connections the holder kept and
// answers every request on them with EACCES until it runs (unlocked); then
// it reads the specs, reads the secrets and serves each mount again
// (fuse.Resume) at the same place, so a container that bind-mounted it goes
// on reading without a restart. At a clean stop a kept mount is locked
// (wiped, the kernel's caches dropped), not unmounted.

// keptMountsFile holds the specs of kept mounts, sealed (see sealLocal).
const keptMountsFile = "mounts.sealed"

// localKeyInfo is the HKDF label of the key that seals this node's local
// files of mount and volume specs.
const localKeyInfo = "vault/local/v1/specs"

// keepState is the bookkeeping of kept mounts (mountTable.keep).
type keepState struct {
	mu    sync.Mutex
	held  map[string]*heldMount // mountpoint -> kept by an earlier daemon, not served yet
	conns map[string]keptConn   // mount id -> its connection's record

	restoreMu sync.Mutex // one restore at a time
}

// heldMount is a connection an earlier daemon left with the holder.
type heldMount struct {
	mountkeep.Held
	refuser *fuse.Refuser
}

// keptConn is what Resume needs besides a descriptor.
type keptConn struct {
	Init  []byte
	Epoch uint16
}

// keptMount is one record of keptMountsFile.
type keptMount struct {
	ID         string           `json:"ID"`
	Mountpoint string           `json:"Mountpoint"`
	Secrets    []api.SecretSpec `json:"Secrets"`
	Follow     bool             `json:"Follow"`
	CreatedAt  time.Time        `json:"CreatedAt"`
	Init       []byte           `json:"Init"`
	Epoch      uint16           `json:"Epoch"`
}

// localKey derives the key of this node's sealed local spec files from the
// name-index key, which every manager holds once running and which no key
// rotation changes.
func (n *Node) localKey() (*crypto.Key, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	ik, err := r.ring.IndexKey()
	if err != nil {
		return nil, err
	}
	raw, err := crypto.ExportKey(ik)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	k, err := hkdf.Key(sha256.New, raw, nil, localKeyInfo, crypto.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return crypto.NewKey(1, k)
}

// SealLocal seals b for a file of this node's (object names the file, and
// only opens with the same object). It needs a running node.
func (n *Node) SealLocal(object string, b []byte) ([]byte, error) {
	k, err := n.localKey()
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return crypto.Seal(k, crypto.Binding{Purpose: crypto.PurposeFile, Object: []byte(object)}, b)
}

// OpenLocal opens what SealLocal sealed. It needs a running node.
func (n *Node) OpenLocal(object string, sealed []byte) ([]byte, error) {
	k, err := n.localKey()
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return crypto.Open(k, crypto.Binding{Purpose: crypto.PurposeFile, Object: []byte(object)}, sealed)
}

// adoptHeld takes the connections the holder kept and refuses every request
// on them until they are served again. It runs at start, before stale
// mounts are cleaned up (a held mountpoint is not stale).
func (n *Node) adoptHeld() {
	if n.keeper() == nil {
		return
	}
	k := &n.mnt.keep
	k.mu.Lock()
	defer k.mu.Unlock()
	k.held = map[string]*heldMount{}
	for _, h := range n.keeper().Held() {
		hm := &heldMount{Held: h}
		r, err := fuse.Refuse(h.FD, syscall.EACCES, h.Names)
		if err != nil {
			n.log.Warn("answering a kept mount", "mount", h.ID, "err", err)
		}
		hm.refuser = r
		k.held[h.Mountpoint] = hm
		n.log.Info("took over a mount kept while no daemon ran; it serves once this node runs", "mount", h.ID, "mountpoint", h.Mountpoint)
	}
}

// isHeld reports whether mp is a kept mount not served yet.
func (n *Node) isHeld(mp string) bool {
	k := &n.mnt.keep
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.held[mp] != nil
}

// keepMount hands a new mount's connection to the keeper.
func (n *Node) keepMount(m *mount) {
	if n.keeper() == nil || m.info.Exec {
		return
	}
	c, err := m.srv.Conn()
	if err != nil {
		n.log.Warn("keeping a mount for the next daemon", "mount", m.id, "err", err)
		return
	}
	defer syscall.Close(c.FD)
	names := make([]string, len(m.info.Secrets))
	for i, sp := range m.info.Secrets {
		names[i] = sp.Target
	}
	if err := n.keeper().Keep(m.id, m.info.Mountpoint, names, c.FD); err != nil {
		n.log.Warn("keeping a mount for the next daemon", "mount", m.id, "err", err)
		return
	}
	k := &n.mnt.keep
	k.mu.Lock()
	if k.conns == nil {
		k.conns = map[string]keptConn{}
	}
	k.conns[m.id] = keptConn{Init: c.Init, Epoch: c.Epoch}
	k.mu.Unlock()
}

// dropKept tells the keeper a mount ended.
func (n *Node) dropKept(m *mount) {
	if n.keeper() == nil || m.info.Exec {
		return
	}
	k := &n.mnt.keep
	k.mu.Lock()
	_, ok := k.conns[m.id]
	delete(k.conns, m.id)
	k.mu.Unlock()
	if ok {
		if err := n.keeper().Drop(m.id); err != nil {
			n.log.Warn("telling the holder a mount ended", "mount", m.id, "err", err)
		}
	}
}

// keptAtExit locks a kept mount at a clean stop instead of unmounting it.
func (n *Node) keptAtExit(m *mount) bool {
	k := &n.mnt.keep
	k.mu.Lock()
	_, ok := k.conns[m.id]
	k.mu.Unlock()
	if !ok {
		return false
	}
	m.srv.Lock()
	return true
}

// releaseHeld lets go of kept connections never served (a stop while
// locked): the holder still has them.
func (n *Node) releaseHeld() {
	k := &n.mnt.keep
	k.mu.Lock()
	held := k.held
	k.held = nil
	k.mu.Unlock()
	for _, h := range held {
		if h.refuser != nil {
			h.refuser.Stop()
		}
		syscall.Close(h.FD)
	}
}

// saveKept writes the sealed specs of the kept mounts. A locked node cannot
// seal: the file keeps its last content, and mounts gone meanwhile are
// dropped when they are not found at the next restore.
func (n *Node) saveKept() {
	if n.keeper() == nil {
		return
	}
	k := &n.mnt.keep
	var recs []keptMount
	n.mountMu.Lock()
	k.mu.Lock()
	for _, m := range n.mounts {
		if c, ok := k.conns[m.id]; ok {
			recs = append(recs, keptMount{ID: m.id, Mountpoint: m.info.Mountpoint, Secrets: m.info.Secrets, Follow: m.info.Follow,
				CreatedAt: m.info.CreatedAt, Init: c.Init, Epoch: c.Epoch})
		}
	}
	k.mu.Unlock()
	n.mountMu.Unlock()
	b, err := json.Marshal(recs)
	if err != nil {
		return
	}
	defer statedir.Wipe(b)
	sealed, err := n.SealLocal(keptMountsFile, b)
	if err != nil {
		if !isLockedErr(err) {
			n.log.Warn("recording kept mounts", "err", redacted(err))
		}
		return
	}
	if err := statedir.WriteFileAtomic(filepath.Join(n.cfg.StateDir, keptMountsFile), sealed, 0o600); err != nil {
		n.log.Warn("recording kept mounts", "err", err)
	}
}

func isLockedErr(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && (ae.Code == api.CodeLocked)
}

// readKept opens keptMountsFile.
func (n *Node) readKept() (map[string]keptMount, error) {
	sealed, err := os.ReadFile(filepath.Join(n.cfg.StateDir, keptMountsFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]keptMount{}, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := n.OpenLocal(keptMountsFile, sealed)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", keptMountsFile, err)
	}
	defer statedir.Wipe(b)
	var recs []keptMount
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", keptMountsFile, err)
	}
	out := map[string]keptMount{}
	for _, r := range recs {
		out[r.ID] = r
	}
	return out, nil
}

// restoreHeld serves the kept mounts again once the node runs. It retries
// for a while: right after start the groups may not have a leader yet.
func (n *Node) restoreHeld() {
	if n.keeper() == nil {
		return
	}
	k := &n.mnt.keep
	k.restoreMu.Lock()
	defer k.restoreMu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		k.mu.Lock()
		left := len(k.held)
		k.mu.Unlock()
		if left == 0 {
			return
		}
		if _, err := n.running(); err != nil {
			return // unlock calls again
		}
		err := n.restoreOnce()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			n.log.Warn("kept mounts could not be served again; they answer EACCES until unmounted", "err", redacted(err))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// restoreOnce serves every held mount it can; it returns an error to be
// retried (the secrets could not be read).
func (n *Node) restoreOnce() error {
	recs, err := n.readKept()
	if err != nil {
		n.log.Warn("kept mounts: their specs cannot be read; detaching them", "err", redacted(err))
		recs = map[string]keptMount{}
	}
	k := &n.mnt.keep
	k.mu.Lock()
	var held []*heldMount
	for _, h := range k.held {
		held = append(held, h)
	}
	k.mu.Unlock()
	var retry error
	for _, h := range held {
		rec, ok := recs[h.ID]
		if !ok || rec.Mountpoint != h.Mountpoint {
			n.log.Info("detaching a kept mount with no record", "mount", h.ID, "mountpoint", h.Mountpoint)
			n.forgetHeld(h)
			_ = fuse.Unmount(h.Mountpoint)
			_ = n.keeper().Drop(h.ID)
			continue
		}
		if err := n.resume(h, rec); err != nil {
			retry = err
		}
	}
	if retry == nil {
		n.saveMounts()
	}
	return retry
}

func (n *Node) forgetHeld(h *heldMount) {
	k := &n.mnt.keep
	k.mu.Lock()
	if k.held[h.Mountpoint] == h {
		delete(k.held, h.Mountpoint)
	}
	k.mu.Unlock()
	if h.refuser != nil {
		h.refuser.Stop()
	}
	syscall.Close(h.FD)
}

// resume serves one held mount again.
func (n *Node) resume(h *heldMount, rec keptMount) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changes := n.mnt.follow.changesSoFar()
	r, err := n.resolveFiles(ctx, rec.Secrets)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeNotFound {
			n.log.Warn("a kept mount's secret is gone; detaching it", "mount", h.ID, "err", redacted(err))
			n.forgetHeld(h)
			_ = fuse.Unmount(h.Mountpoint)
			_ = n.keeper().Drop(h.ID)
			return nil
		}
		return err
	}
	defer wipeFiles(r.files)
	if h.refuser != nil {
		h.refuser.Stop() // requests wait for the server from here
	}
	srv, err := fuse.Resume(fuse.Conn{FD: h.FD, Init: rec.Init, Epoch: rec.Epoch}, fuse.Options{Mountpoint: h.Mountpoint, Files: r.files})
	if err != nil {
		n.log.Warn("serving a kept mount again", "mount", h.ID, "err", err)
		n.forgetHeld(h)
		_ = fuse.Unmount(h.Mountpoint)
		_ = n.keeper().Drop(h.ID)
		return nil
	}
	h.refuser = nil
	n.forgetHeld(h) // Resume serves its own clone; the holder keeps its copy
	m := &mount{id: h.ID, info: api.MountInfo{Mountpoint: h.Mountpoint, Secrets: rec.Secrets, Follow: rec.Follow, CreatedAt: rec.CreatedAt},
		srv: srv, ids: r.ids, shards: r.shards, versions: r.versions}
	if err := n.addMount(h.Mountpoint, m); err != nil {
		return err
	}
	n.keepMount(m) // the holder now holds the new server's clone and epoch
	go n.watchMount(h.Mountpoint, m)
	n.catchUp(m, changes)
	n.log.Info("serving a kept mount again", "mount", m.id, "mountpoint", h.Mountpoint, "epoch", srv.Epoch())
	return nil
}

// watchMount forgets a mount unmounted from outside.
func (n *Node) watchMount(mp string, m *mount) {
	m.srv.Wait()
	n.mountMu.Lock()
	gone := n.mounts[mp] == m
	if gone {
		delete(n.mounts, mp)
	}
	n.mountMu.Unlock()
	if gone {
		n.dropKept(m)
		n.saveMounts()
	}
}

// keeper is Config.Keeper on a manager. A worker keeps no mount across a
// restart: it holds no key to seal the mounts' specs with, and it starts
// empty anyway (its secrets are fetched again), so its mounts end with
// the daemon.
func (n *Node) keeper() *mountkeep.Client {
	if n.worker() != nil {
		return nil
	}
	return n.cfg.Keeper
}

// IsWorkerStateDir reports whether dir is a worker's state dir.
func IsWorkerStateDir(dir string) bool { return isWorkerDir(dir) }
