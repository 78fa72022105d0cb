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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// A worker is a node that joined with the worker token. It runs no Raft
// replica and holds no key of the cluster: no KEK, no DEK, no keyring. Its
// state dir holds its identity and TLS material only:
//
//	worker.json      cluster id, node id, the managers' API addresses
//	tls/ca.crt       the cluster CA
//	tls/node.crt     its certificate (role worker)
//	tls/worker.key   its private key, 0600, not sealed: a worker has no KEK
//	                 to seal it under. Whoever reads it can act as this
//	                 worker (receive its grants) until `vault node rm`.
//
// It keeps a stream to one manager (workerserve.go), failing over to the
// others, and holds the secrets granted to it in locked, non-dumpable
// memory (heldBuffer), never on disk. A restart starts empty and fetches
// again; `vault lock` wipes what it holds and stops fetching until the
// daemon restarts; a removal (`vault node rm`) wipes everything.

const (
	workerFile    = "worker.json"
	workerKeyFile = "worker.key"
)

// workerState is a Node's worker side: the phase of a worker node, and on
// a manager the hub of the streams it serves.
type workerState struct {
	phase   atomic.Pointer[workerPhase]
	hubOnce sync.Once
	hub     *workerHub
	// refusedPromote is a promotion token whose join failed: the worker
	// does not try it again (handover.go).
	refusedPromote atomic.Pointer[string]
}

// workerIdentity is worker.json.
type workerIdentity struct {
	Format    int      `json:"format"`
	ClusterID string   `json:"cluster_id"`
	NodeID    string   `json:"node_id"`
	Managers  []string `json:"managers"` // API addresses; refreshed from the stream
	Joined    int64    `json:"joined"`
}

// heldSecret is one delivered secret at the version held.
type heldSecret struct {
	name    string
	version uint32
	buf     heldBuffer
}

// workerPhase is what a running worker holds.
type workerPhase struct {
	n    *Node
	id   workerIdentity
	tm   *tlsMaterial
	stop chan struct{}
	done chan struct{}

	ready     chan struct{} // closed at the first full set received
	readyOnce sync.Once
	applied   chan struct{} // closed (and replaced) at every full set received; guarded by mu

	mu          sync.Mutex // a leaf: nothing is taken while it is held
	held        map[string]*heldSecret
	managers    []string
	connected   string // the manager streaming now ("" when none)
	lastContact time.Time
	lastErr     string
	removed     bool
	locked      bool
	unlocked    int // buffers that could not be locked into RAM
}

var errWorkerRemoved = errors.New("this worker was removed from the cluster")

// isWorkerDir says whether a state dir is a worker's.
func isWorkerDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, workerFile))
	return err == nil
}

// worker returns the worker phase, nil on a manager.
func (n *Node) worker() *workerPhase { return n.wk.phase.Load() }

// startWorkerNode is Start for a worker's state dir.
func (n *Node) startWorkerNode() (*Node, error) {
	if err := n.startWorker(); err != nil {
		n.lock.Release()
		return nil, err
	}
	if err := n.serve(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// startWorker reads the worker's identity and TLS material and starts its
// stream.
func (n *Node) startWorker() error {
	dir := n.cfg.StateDir
	b, err := os.ReadFile(filepath.Join(dir, workerFile))
	if err != nil {
		return err
	}
	var id workerIdentity
	if err := json.Unmarshal(b, &id); err != nil || id.NodeID == "" || len(id.Managers) == 0 {
		return fmt.Errorf("%s is damaged (%v): move the state dir aside, `vault node rm` this node on a manager and join again", filepath.Join(dir, workerFile), err)
	}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, statedir.TLSDir, name)) }
	caPEM, err := read(statedir.CACertFile)
	if err != nil {
		return fmt.Errorf("TLS material: %w", err)
	}
	certPEM, err := read(statedir.NodeCertFile)
	if err != nil {
		return fmt.Errorf("TLS material: %w", err)
	}
	keyPEM, err := read(workerKeyFile)
	if err != nil {
		return fmt.Errorf("TLS material: %w", err)
	}
	tm, err := newTLSMaterial(caPEM, certPEM, keyPEM)
	statedir.Wipe(keyPEM)
	if err != nil {
		return err
	}
	w := &workerPhase{n: n, id: id, tm: tm, stop: make(chan struct{}), done: make(chan struct{}), ready: make(chan struct{}), applied: make(chan struct{}),
		held: map[string]*heldSecret{}, managers: slices.Clone(id.Managers)}
	n.wk.phase.Store(w)
	go w.run()
	n.log.Info("worker started: fetching its granted secrets from the managers", "node_id", id.NodeID, "managers", len(id.Managers))
	return nil
}

// startWorkerJoined records a worker admitted by a manager and starts it.
func (n *Node) startWorkerJoined(resp *joinResponse, keyPEM []byte) (*api.InitResponse, error) {
	dir := n.cfg.StateDir
	if err := n.removeClusterFiles(); err != nil {
		return nil, err
	}
	tlsDir := filepath.Join(dir, statedir.TLSDir)
	if err := os.MkdirAll(tlsDir, statedir.Mode); err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{statedir.CACertFile: resp.CACert, statedir.NodeCertFile: resp.Cert, workerKeyFile: keyPEM} {
		if err := statedir.WriteFileAtomic(filepath.Join(tlsDir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	id := workerIdentity{Format: 1, ClusterID: resp.ClusterID, NodeID: resp.NodeID, Joined: time.Now().UnixNano()}
	for _, m := range resp.Members {
		id.Managers = append(id.Managers, m.APIAddr)
	}
	if err := writeWorkerIdentity(dir, &id); err != nil {
		return nil, err
	}
	if err := n.startWorker(); err != nil {
		return nil, fmt.Errorf("joined the cluster as worker %s but could not start (remove it with `vault node rm %s` on a manager): %w", resp.NodeID, resp.NodeID, err)
	}
	n.log.Info("joined the cluster as a worker", "cluster_id", resp.ClusterID, "node_id", resp.NodeID)
	return &api.InitResponse{ClusterID: resp.ClusterID, NodeID: resp.NodeID, Role: "worker"}, nil
}

func writeWorkerIdentity(dir string, id *workerIdentity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return statedir.WriteFileAtomic(filepath.Join(dir, workerFile), append(b, '\n'), 0o600)
}

// closeWorker stops the stream and wipes what the worker holds.
func (n *Node) closeWorker() {
	if w := n.worker(); w != nil {
		w.halt()
		w.wipeAll()
		w.tm.close()
	}
}

// halt stops the stream (once) and waits for it.
func (w *workerPhase) halt() {
	w.mu.Lock()
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
}

// run keeps a stream to one manager at a time, failing over in turn.
func (w *workerPhase) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		w.mu.Lock()
		addrs := slices.Clone(w.managers)
		w.mu.Unlock()
		addr := addrs[i%len(addrs)]
		start := time.Now()
		err := w.stream(addr)
		if errors.Is(err, errWorkerRemoved) {
			w.n.log.Warn("this worker was removed from the cluster: it wiped what it held and stopped fetching")
			return
		}
		if p := (*errWorkerPromoted)(nil); errors.As(err, &p) {
			go w.n.promoteWorker(w, p)
			return
		}
		w.mu.Lock()
		if w.connected != "" && err != nil {
			w.n.log.Warn("lost the stream to a manager; trying the others", "manager", addr, "err", redacted(err))
		}
		w.connected = ""
		if err != nil {
			w.lastErr = fmt.Sprintf("%s: %s", addr, operatorMessage(err.Error()))
		}
		w.mu.Unlock()
		// Try the next manager at once; pause after a full round that
		// failed fast, so that a cluster that is down is not hammered.
		pause := 50 * time.Millisecond
		if (i+1)%len(addrs) == 0 && time.Since(start) < time.Second {
			pause = 500 * time.Millisecond
		}
		select {
		case <-w.stop:
			return
		case <-time.After(pause):
		}
	}
}

// stream reads one manager's stream until it ends, goes silent, or the
// worker stops.
func (w *workerPhase) stream(addr string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tr := &http.Transport{
		TLSClientConfig:       w.tm.clientConfig(addr),
		DisableKeepAlives:     true,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSHandshakeTimeout:   3 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/v1/worker/stream", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := api.ReadError(resp.Body)
		if e == nil {
			return fmt.Errorf("manager answered %s", resp.Status)
		}
		if e.Code == api.CodeRemoved {
			w.removedNow()
			return errWorkerRemoved
		}
		return e
	}
	watchdog := time.AfterFunc(workerSilence, cancel)
	defer watchdog.Stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg workerMessage
		if err := dec.Decode(&msg); err != nil {
			if ctx.Err() != nil {
				select {
				case <-w.stop:
					return nil
				default:
				}
				return fmt.Errorf("no message for %s: %w", workerSilence, context.DeadlineExceeded)
			}
			return err
		}
		watchdog.Reset(workerSilence)
		if err := w.apply(addr, &msg); err != nil {
			return err
		}
	}
}

// apply takes one message: the set the worker may hold now.
func (w *workerPhase) apply(addr string, msg *workerMessage) error {
	defer func() {
		for _, s := range msg.Secrets {
			statedir.Wipe(s.Data)
		}
	}()
	if msg.Removed {
		w.removedNow()
		return errWorkerRemoved
	}
	if msg.Promote != "" && !w.n.promoteRefused(msg.Promote) {
		return &errWorkerPromoted{token: msg.Promote, via: addr}
	}
	w.mu.Lock()
	if w.connected == "" {
		w.n.log.Info("streaming from a manager", "manager", addr)
	}
	w.connected, w.lastContact, w.lastErr = addr, time.Now(), ""
	if !msg.Full || w.locked {
		w.mu.Unlock()
		return nil
	}
	var changed, revoked []string
	keep := map[string]bool{}
	for _, s := range msg.Secrets {
		keep[s.ID] = true
		h := w.held[s.ID]
		if s.Data == nil || (h != nil && h.version == s.Version) {
			continue
		}
		buf, locked := newHeldBuffer(s.Data)
		if !locked {
			w.unlocked++
		}
		if h != nil {
			h.buf.wipe()
		}
		w.held[s.ID] = &heldSecret{name: s.Name, version: s.Version, buf: buf}
		changed = append(changed, s.ID)
	}
	for id, h := range w.held {
		if !keep[id] {
			h.buf.wipe()
			delete(w.held, id)
			revoked = append(revoked, id)
		}
	}
	close(w.applied)
	w.applied = make(chan struct{})
	save := false
	if len(msg.Managers) > 0 && !slices.Equal(msg.Managers, w.managers) {
		w.managers = slices.Clone(msg.Managers)
		save = true
	}
	w.mu.Unlock()
	w.readyOnce.Do(func() { close(w.ready) })
	if save {
		id := w.id
		id.Managers = msg.Managers
		if err := writeWorkerIdentity(w.n.cfg.StateDir, &id); err != nil {
			w.n.log.Warn("recording the managers' addresses", "err", err)
		}
	}
	if len(revoked) > 0 {
		w.n.revokeFromMounts(revoked)
		w.n.log.Info("grants revoked: secrets wiped from memory and mounts", "secrets", len(revoked))
	}
	if len(changed) > 0 {
		keys := make([]secretKey, len(changed))
		for i, id := range changed {
			keys[i] = secretKey{0, id}
		}
		w.n.followChanged(keys...)
	}
	return nil
}

// wipeAll wipes every held secret and returns their ids.
func (w *workerPhase) wipeAll() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for id, h := range w.held {
		h.buf.wipe()
		ids = append(ids, id)
	}
	clear(w.held)
	return ids
}

// removedNow wipes everything after this worker learned it was removed.
func (w *workerPhase) removedNow() {
	ids := w.wipeAll()
	w.mu.Lock()
	w.removed, w.connected = true, ""
	w.mu.Unlock()
	w.readyOnce.Do(func() { close(w.ready) })
	w.n.revokeFromMounts(ids)
	w.n.lockMounts()
}

// revokeFromMounts empties, in every mount, the files of secrets this
// worker no longer holds.
func (n *Node) revokeFromMounts(ids []string) {
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	for _, m := range n.snapshotMounts() {
		m.mu.Lock()
		for target, id := range m.ids {
			if gone[id] {
				_ = m.srv.Update(target, nil)
				m.versions[target] = 0 // a new grant installs it again
			}
		}
		m.mu.Unlock()
	}
}

// why says why the worker holds nothing yet, for an operator.
func (w *workerPhase) why() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr != "" {
		return "no manager answered (last: " + w.lastErr + ")"
	}
	return "no manager answered yet"
}

// workerResolveWait bounds how long a mount waits for the first set, and
// workerGrantWait how long it waits for a secret it does not hold: a grant
// made a moment ago reaches the worker within workerPoll.
const (
	workerResolveWait = 10 * time.Second
	workerGrantWait   = 2 * time.Second
)

// resolve finds a secret this worker holds by name, or id or unique id
// prefix. A secret not granted to it is an error naming the grant to add.
func (w *workerPhase) resolve(ctx context.Context, ref string) (*secretEntry, error) {
	t := time.NewTimer(workerResolveWait)
	defer t.Stop()
	select {
	case <-w.ready:
	case <-ctx.Done():
		return nil, api.Errorf(api.CodeUnavailable, "this worker has not received its secrets yet: %s", w.why()).
			WithHint("check that a manager is up and reachable from this node; `vault status` shows the stream")
	case <-t.C:
		return nil, api.Errorf(api.CodeUnavailable, "this worker has not received its secrets yet: %s", w.why()).
			WithHint("check that a manager is up and reachable from this node; `vault status` shows the stream")
	}
	grantWait := time.NewTimer(workerGrantWait)
	defer grantWait.Stop()
	for {
		e, applied, err := w.find(ref)
		if e != nil || applied == nil {
			return e, err
		}
		select {
		case <-applied:
		case <-grantWait.C:
			return nil, err
		case <-ctx.Done():
			return nil, err
		}
	}
}

// find looks a secret up among those held; when it is not held, it also
// returns the channel closed at the next set received.
func (w *workerPhase) find(ref string) (*secretEntry, <-chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.removed:
		return nil, nil, errRemoved()
	case w.locked:
		return nil, nil, errLocked()
	}
	var found []string
	for id, h := range w.held {
		if h.name == ref || id == ref {
			found = []string{id}
			break
		}
		if statedir.IsID(ref) && strings.HasPrefix(id, ref) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		return nil, w.applied, api.Errorf(api.CodeNotFound, "secret %s is not granted to this worker (node %s)", ref, w.id.NodeID).
			WithHint("on a manager: `vault secret grant %s --node %s`, or grant it to a label of this node with --node-label KEY=VALUE", ref, w.id.NodeID)
	}
	h := w.held[found[0]]
	return &secretEntry{rec: raftsm.SecretRecord{ID: found[0], Name: h.name, Versions: []raftsm.VersionInfo{{Version: h.version, Size: h.buf.n}}}}, nil, nil
}

// data returns a copy of a held secret's data; workers hold the latest
// version only.
func (w *workerPhase) data(e *secretEntry, version uint32) ([]byte, uint32, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.held[e.rec.ID]
	if h == nil {
		return nil, 0, api.Errorf(api.CodeNotFound, "secret %s is no longer granted to this worker (node %s)", e.rec.Name, w.id.NodeID).
			WithHint("on a manager: `vault secret grant %s --node %s`", e.rec.Name, w.id.NodeID)
	}
	if version != 0 && version != h.version {
		return nil, 0, api.Errorf(api.CodeInvalid, "a worker holds the latest version of %s only (%d), not version %d", e.rec.Name, h.version, version).
			WithHint("mount it without a version (it follows the latest), or mount it on a manager")
	}
	return h.buf.copyOut(), h.version, nil
}

// lockWorker wipes what the worker holds and stops fetching.
func (n *Node) lockWorker(w *workerPhase) error {
	w.mu.Lock()
	w.locked = true
	w.mu.Unlock()
	n.lockMounts()
	w.halt()
	w.wipeAll()
	n.log.Info("worker locked: its secrets are wiped from memory; restart the daemon to fetch them again")
	return nil
}

// status is `vault status` on a worker.
func (w *workerPhase) status() *api.Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := &api.WorkerStatus{Manager: w.connected, Connected: w.connected != "", Managers: slices.Clone(w.managers),
		Secrets: len(w.held), Error: w.lastErr, UnlockedBuffers: w.unlocked}
	if !w.lastContact.IsZero() {
		ws.LastContact = w.lastContact.UTC()
		if !ws.Connected {
			ws.Stale = time.Since(w.lastContact).Round(time.Second).String()
		}
	}
	return &api.Status{Initialized: true, Locked: w.locked, Removed: w.removed, NodeID: w.id.NodeID, ClusterID: w.id.ClusterID,
		Role: "worker", Worker: ws}
}

// servedOnWorker are the routes a worker serves: what a task needs.
var servedOnWorker = map[string]bool{
	"GET /v1/status":    true,
	"GET /v1/mounts":    true,
	"POST /v1/mounts":   true,
	"DELETE /v1/mounts": true,
	"POST /v1/exec":     true,
	"POST /v1/lock":     true,
}

// errWorkerRoute answers a route a worker does not serve.
func errWorkerRoute() *api.Error {
	return api.Errorf(api.CodeUnsupported, "this node is a worker: it holds only the secrets granted to it and cannot do this").
		WithHint("run the command on a manager (`vault node ls` there lists the managers)")
}
