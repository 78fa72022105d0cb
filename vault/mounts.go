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
	"strings"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/fuse"
	"github.com/vaultd/vault/internal/statedir"
)

// mountsFile lists the mountpoints this daemon serves, so that a daemon
// starting after a crash can detach the ones its predecessor left behind.
const mountsFile = "mounts.json"

// mount is one file system this daemon serves.
type mount struct {
	id     string // names the mount in logs, which never carry its targets
	info   api.MountInfo
	srv    *fuse.Server
	ids    map[string]string // target -> secret id
	shards map[string]uint64 // target -> shard

	mu       sync.Mutex        // serializes changes of content: follow, refill
	versions map[string]uint32 // target -> version served
}

// mountTable is the bookkeeping of Node.mounts. Node.mountMu guards mounts,
// mounting and locked, and is held only to read or swap them: never across
// I/O, a FUSE call or a Raft read. (The state machine's SecretsChanged hook
// runs inside apply and a ReadIndex read waits for apply: a read under a
// lock the hook took once stalled a group until the request timed out.)
type mountTable struct {
	mounting map[string]bool // mountpoints reserved by a Mount in progress
	locked   bool            // lockMounts ran and unlockMounts did not: no new mount may serve
	saveMu   sync.Mutex      // serializes writes of mountsFile
	follow   followQueue
	keep     keepState // mounts that outlive the daemon (keep.go)
}

// secretKey names a secret in the state machine's terms.
type secretKey struct {
	shard uint64
	id    string
}

// followQueue carries the secrets the state machine changed to the goroutine
// that refreshes the mounts following them. push never blocks.
type followQueue struct {
	start   sync.Once
	wake    chan struct{} // capacity 1: one pending wake-up is enough
	stop    chan struct{}
	mu      sync.Mutex
	changed map[secretKey]bool
	epoch   uint64 // changes pushed so far
	stopped bool
}

func (q *followQueue) push(keys ...secretKey) {
	q.mu.Lock()
	if q.changed == nil {
		q.changed = map[secretKey]bool{}
	}
	for _, k := range keys {
		q.changed[k] = true
	}
	q.epoch++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *followQueue) take() map[secretKey]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.changed
	q.changed = nil
	return c
}

// changesSoFar is the count of pushes: a reader that saw it change while it
// read content may have missed a change, and pushes its secrets again.
func (q *followQueue) changesSoFar() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.epoch
}

// resolved is the content of a mount's files as read now.
type resolved struct {
	files    []fuse.File
	ids      map[string]string // target -> secret id
	shards   map[string]uint64 // target -> shard
	versions map[string]uint32 // target -> version
}

// resolveFiles reads the data of every spec (as of now) for a mount.
func (n *Node) resolveFiles(ctx context.Context, specs []api.SecretSpec) (*resolved, error) {
	r := &resolved{ids: map[string]string{}, shards: map[string]uint64{}, versions: map[string]uint32{}}
	for _, sp := range specs {
		e, err := n.resolve(ctx, sp.Source)
		if err != nil {
			wipeFiles(r.files)
			return nil, err
		}
		data, v, err := n.secretData(ctx, e, sp.Version)
		if err != nil {
			wipeFiles(r.files)
			return nil, err
		}
		r.files = append(r.files, fuse.File{Name: sp.Target, UID: sp.UID, GID: sp.GID, Mode: os.FileMode(sp.Mode), Data: data})
		r.ids[sp.Target], r.shards[sp.Target], r.versions[sp.Target] = e.rec.ID, e.shard, v
	}
	return r, nil
}

func wipeFiles(files []fuse.File) {
	for _, f := range files {
		statedir.Wipe(f.Data)
	}
}

func validateSpecs(specs []api.SecretSpec) error {
	if len(specs) == 0 {
		return api.Errorf(api.CodeInvalid, "no secrets to mount").WithHint("give --secret NAME (repeatable)")
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		if err := ValidateName(sp.Source); err != nil {
			return err
		}
		if err := sp.Validate(); err != nil {
			return err
		}
		if seen[sp.Target] {
			return api.Errorf(api.CodeInvalid, "two secrets have the target %q", sp.Target)
		}
		seen[sp.Target] = true
	}
	return nil
}

// validateMountpoint checks where a mount may go: api.ValidateMountpoint,
// and neither over, inside nor above this daemon's state dir, nor over or
// above its socket's directory (a mount beside the socket hides nothing),
// symbolic links followed.
func (n *Node) validateMountpoint(mp string) error {
	if err := api.ValidateMountpoint(mp); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(mp)
	if err != nil {
		return api.Errorf(api.CodeInvalid, "mountpoint %s is not a directory", mp).WithHint("create it first: mkdir -p %s", mp)
	}
	if real != mp {
		if err := api.ValidateMountpoint(real); err != nil {
			return api.Errorf(api.CodeInvalid, "mountpoint %s leads to %s: %v", mp, real, err)
		}
	}
	for _, own := range []struct {
		dir    string
		inside bool // a mount inside it hides files the daemon uses
	}{{n.cfg.StateDir, true}, {filepath.Dir(n.cfg.SocketPath), false}} {
		dir, err := filepath.Abs(own.dir)
		if err != nil {
			continue
		}
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			dir = r
		}
		for _, p := range []string{mp, real} {
			if within(dir, p) || own.inside && within(p, dir) {
				return api.Errorf(api.CodeInvalid, "mountpoint %s would cover this daemon's own files in %s", mp, dir).
					WithHint("mount somewhere else, e.g. /run/secrets/APP")
			}
		}
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return api.Errorf(api.CodeInvalid, "mountpoint %s is not a directory", mp).WithHint("create it first: mkdir -p %s", mp)
	}
	return nil
}

// within reports whether path p is dir or inside it (both clean, absolute).
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// Mount mounts secrets read-only at a mountpoint, served from memory. It
// reads the secrets and mounts without holding the mount table: the
// mountpoint is reserved meanwhile.
func (n *Node) Mount(ctx context.Context, req *api.MountRequest) (*api.MountInfo, error) {
	if _, err := n.running(); err != nil && n.worker() == nil {
		return nil, err
	}
	if err := validateSpecs(req.Secrets); err != nil {
		return nil, err
	}
	mp := req.Mountpoint
	if err := n.validateMountpoint(mp); err != nil {
		return nil, err
	}
	n.mountMu.Lock()
	_, taken := n.mounts[mp]
	if taken || n.mnt.mounting[mp] {
		n.mountMu.Unlock()
		return nil, api.Errorf(api.CodeExists, "%s is already a vault mount", mp).WithHint("`vault unmount %s` first", mp)
	}
	if n.mnt.mounting == nil {
		n.mnt.mounting = map[string]bool{}
	}
	n.mnt.mounting[mp] = true
	n.mountMu.Unlock()
	defer func() {
		n.mountMu.Lock()
		delete(n.mnt.mounting, mp)
		n.mountMu.Unlock()
	}()

	if mounted, _ := fuse.IsMounted(mp); mounted {
		return nil, api.Errorf(api.CodeExists, "something is already mounted at %s", mp)
	}
	changes := n.mnt.follow.changesSoFar()
	r, err := n.resolveFiles(ctx, req.Secrets)
	if err != nil {
		return nil, err
	}
	srv, err := fuse.Mount(fuse.Options{Mountpoint: mp, Files: r.files})
	wipeFiles(r.files)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mp, err)
	}
	m := &mount{id: statedir.NewID(), info: api.MountInfo{Mountpoint: mp, Secrets: req.Secrets, Follow: req.Follow, CreatedAt: time.Now().UTC()},
		srv: srv, ids: r.ids, shards: r.shards, versions: r.versions}
	if err := n.addMount(mp, m); err != nil {
		return nil, err
	}
	n.keepMount(m)
	n.saveMounts()
	go n.watchMount(mp, m) // unmounted from outside: forget it
	n.catchUp(m, changes)
	n.log.Info("mounted secrets", "mount", m.id, "mountpoint", mp, "secrets", len(req.Secrets), "follow", req.Follow)
	return &m.info, nil
}

// addMount enters a mount that serves into the table, unless the node
// locked its mounts since the mount read its content: then it closes it.
func (n *Node) addMount(key string, m *mount) error {
	n.mountMu.Lock()
	if n.mnt.locked {
		n.mountMu.Unlock()
		_ = m.srv.Close()
		return errLocked()
	}
	n.mounts[key] = m
	n.mountMu.Unlock()
	return nil
}

// catchUp queues a refresh of a following mount when secrets changed
// while its content was read (changes: changesSoFar before the read).
func (n *Node) catchUp(m *mount, changes uint64) {
	if !m.info.Follow || n.mnt.follow.changesSoFar() == changes {
		return
	}
	var keys []secretKey
	for _, sp := range m.info.Secrets {
		if sp.Version == 0 {
			keys = append(keys, secretKey{m.shards[sp.Target], m.ids[sp.Target]})
		}
	}
	n.followChanged(keys...)
}

// Unmount ends a mount.
func (n *Node) Unmount(path string) error {
	if !filepath.IsAbs(path) {
		return api.Errorf(api.CodeInvalid, "mountpoint %q is relative: give an absolute path", path)
	}
	mp := filepath.Clean(path)
	n.mountMu.Lock()
	m, ok := n.mounts[mp]
	if ok {
		delete(n.mounts, mp)
	}
	n.mountMu.Unlock()
	if !ok {
		return api.Errorf(api.CodeNotFound, "%s is not a vault mount", mp).WithHint("`vault mount ls` lists them")
	}
	n.dropKept(m)
	n.saveMounts()
	n.log.Info("unmounted secrets", "mount", m.id, "mountpoint", mp)
	return m.srv.Close()
}

// Mounts lists the mounts.
func (n *Node) Mounts() []api.MountInfo {
	locked := n.isLocked()
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	out := []api.MountInfo{}
	for _, m := range n.mounts {
		info := m.info
		info.Locked = locked
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mountpoint < out[j].Mountpoint })
	return out
}

func (n *Node) isLocked() bool { return n.phase() == phaseLocked }

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

// snapshotMounts returns the mounts served now.
func (n *Node) snapshotMounts() []*mount {
	n.mountMu.Lock()
	defer n.mountMu.Unlock()
	ms := make([]*mount, 0, len(n.mounts))
	for _, m := range n.mounts {
		ms = append(ms, m)
	}
	return ms
}

// saveMounts records the mountpoints (not their contents). The table is
// read under saveMu, so the last write holds the latest table.
func (n *Node) saveMounts() {
	n.mnt.saveMu.Lock()
	defer n.mnt.saveMu.Unlock()
	var paths []string
	n.mountMu.Lock()
	for mp, m := range n.mounts {
		if !m.info.Exec {
			paths = append(paths, mp)
		}
	}
	n.mountMu.Unlock()
	sort.Strings(paths)
	b, _ := json.Marshal(paths)
	if err := statedir.WriteFileAtomic(filepath.Join(n.cfg.StateDir, mountsFile), b, 0o600); err != nil {
		n.log.Warn("recording mounts", "err", err)
	}
	n.saveKept()
}

// cleanStaleMounts detaches mounts a crashed daemon left behind.
func (n *Node) cleanStaleMounts() {
	n.adoptHeld()
	b, err := os.ReadFile(filepath.Join(n.cfg.StateDir, mountsFile))
	if err != nil {
		return
	}
	var paths []string
	if json.Unmarshal(b, &paths) != nil {
		return
	}
	for _, p := range paths {
		if n.isHeld(p) {
			continue
		}
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
	q := &n.mnt.follow
	q.start.Do(func() {}) // no follower starts from now on
	q.mu.Lock()
	if q.stop != nil && !q.stopped {
		close(q.stop)
		q.stopped = true
	}
	q.mu.Unlock()
	n.mountMu.Lock()
	ms := n.mounts
	n.mounts = map[string]*mount{}
	n.mountMu.Unlock()
	for _, m := range ms {
		if !n.keptAtExit(m) {
			_ = m.srv.Close()
		}
	}
	n.releaseHeld()
	n.mnt.saveMu.Lock()
	_ = os.Remove(filepath.Join(n.cfg.StateDir, mountsFile))
	n.mnt.saveMu.Unlock()
}

// lockMounts makes every mount unreadable and wipes its data; a mount that
// read its content before and enters the table after is closed.
func (n *Node) lockMounts() {
	n.mountMu.Lock()
	n.mnt.locked = true
	n.mountMu.Unlock()
	for _, m := range n.snapshotMounts() {
		m.srv.Lock()
	}
}

// unlockMounts refills every mount after an unlock.
func (n *Node) unlockMounts(ctx context.Context) {
	n.mountMu.Lock()
	n.mnt.locked = false
	n.mountMu.Unlock()
	for _, m := range n.snapshotMounts() {
		changes := n.mnt.follow.changesSoFar()
		r, err := n.resolveFiles(ctx, m.info.Secrets)
		if err != nil {
			n.log.Warn("refilling a mount after unlock", "mount", m.id, "err", redacted(err))
			continue
		}
		if err := m.refill(r); err != nil {
			n.log.Warn("refilling a mount after unlock", "mount", m.id, "err", redacted(err))
		}
		wipeFiles(r.files)
		n.catchUp(m, changes)
	}
	go n.restoreHeld()
}

// refill gives a locked mount its content back.
func (m *mount) refill(r *resolved) error {
	data := map[string][]byte{}
	for _, f := range r.files {
		data[f.Name] = f.Data
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.srv.Unlock(data); err != nil {
		return err
	}
	m.versions = r.versions
	return nil
}

// install serves a newer version of one file; an older one (read before a
// refill or a concurrent refresh) is dropped.
func (m *mount) install(target string, data []byte, version uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version <= m.versions[target] {
		return nil
	}
	if err := m.srv.Update(target, data); err != nil {
		return err
	}
	m.versions[target] = version
	return nil
}

// secretsChanged is the state machine's SecretsChanged hook. It runs inside
// apply, so it only queues the change: following mounts are refreshed by
// followLoop, whose reads wait for this very apply to finish.
func (n *Node) secretsChanged(shard uint64, ids []string) {
	keys := make([]secretKey, len(ids))
	for i, id := range ids {
		keys[i] = secretKey{shard, id}
	}
	n.followChanged(keys...)
	n.workerSecretsChanged()
}

func (n *Node) followChanged(keys ...secretKey) {
	q := &n.mnt.follow
	q.start.Do(func() {
		q.wake, q.stop = make(chan struct{}, 1), make(chan struct{})
		go n.followLoop(q)
	})
	q.push(keys...)
}

// followLoop refreshes following mounts as changes arrive, until Close.
func (n *Node) followLoop(q *followQueue) {
	for {
		select {
		case <-q.stop:
			return
		case <-q.wake:
		}
		if changed := q.take(); len(changed) > 0 {
			n.refreshFollowing(changed)
		}
	}
}

// refreshFollowing serves the latest version of changed secrets in every
// mount that follows them: the table is read under the lock, the secrets
// after it, and each file is swapped in whole (fuse.Server.Update drops the
// kernel's cached entry and pages).
func (n *Node) refreshFollowing(changed map[secretKey]bool) {
	type job struct {
		m      *mount
		target string
		key    secretKey
	}
	var jobs []job
	n.mountMu.Lock()
	for _, m := range n.mounts {
		if !m.info.Follow {
			continue
		}
		for _, sp := range m.info.Secrets {
			k := secretKey{m.shards[sp.Target], m.ids[sp.Target]}
			if sp.Version == 0 && changed[k] { // not pinned
				jobs = append(jobs, job{m, sp.Target, k})
			}
		}
	}
	n.mountMu.Unlock()
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type latest struct {
		data    []byte
		version uint32
		err     error
	}
	read := map[secretKey]*latest{}
	defer func() {
		for _, l := range read {
			statedir.Wipe(l.data)
		}
	}()
	for _, j := range jobs {
		l := read[j.key]
		if l == nil {
			l = &latest{}
			read[j.key] = l
			var e *secretEntry
			if e, l.err = n.resolve(ctx, j.key.id); l.err == nil {
				l.data, l.version, l.err = n.secretData(ctx, e, 0)
			}
			var ae *api.Error
			if l.err != nil && !(errors.As(l.err, &ae) && (ae.Code == api.CodeLocked || ae.Code == api.CodeNotFound)) {
				n.log.Warn("following a secret", "mount", j.m.id, "secret_id", j.key.id, "err", redacted(l.err))
			}
		}
		if l.err != nil {
			continue
		}
		if err := j.m.install(j.target, l.data, l.version); err != nil && !errors.Is(err, fuse.ErrLocked) && !errors.Is(err, fuse.ErrClosed) {
			n.log.Warn("following a secret", "mount", j.m.id, "secret_id", j.key.id, "err", redacted(err))
		}
	}
}

// redacted describes an error of a mount's content for a log line, which
// never carries a secret's name or a file's: API errors name secrets and
// FUSE errors name files, so they are logged by their kind.
func redacted(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return "api error: " + e.Code
	}
	for _, kind := range []error{fuse.ErrNotFound, fuse.ErrMissingFile, fuse.ErrLocked, fuse.ErrNotLocked, fuse.ErrClosed, fuse.ErrInvalidOptions} {
		if errors.Is(err, kind) {
			return kind.Error()
		}
	}
	return err.Error() // the node's own errors name secrets by id
}

// handleExec serves `vault exec`: the client, in its own mount namespace,
// sends the secrets it wants, gets a 101 answer, then passes the /dev/fuse
// descriptor it mounted at /run/secrets; the daemon serves it until the
// namespace goes away with the command.
func (n *Node) handleExec(w http.ResponseWriter, r *http.Request) {
	var req api.ExecRequest
	err := decode(r, &req)
	if err == nil {
		if _, err = n.running(); err == nil || n.worker() != nil {
			err = validateSpecs(req.Secrets)
		}
	}
	var res *resolved
	changes := n.mnt.follow.changesSoFar()
	if err == nil {
		res, err = n.resolveFiles(r.Context(), req.Secrets)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	files := res.files
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
	m := &mount{id: statedir.NewID(), info: api.MountInfo{Mountpoint: "/run/secrets", Secrets: req.Secrets, Follow: req.Follow, Exec: true, CreatedAt: time.Now().UTC()},
		srv: srv, ids: res.ids, shards: res.shards, versions: res.versions}
	if err := n.addMount(key, m); err != nil {
		fmt.Fprintf(uc, "ERR %v\n", err)
		return
	}
	n.catchUp(m, changes)
	fmt.Fprintf(uc, "OK\n")
	go func() {
		srv.Wait() // the command's namespace is gone
		srv.Close()
		n.mountMu.Lock()
		delete(n.mounts, key)
		n.mountMu.Unlock()
	}()
}
