package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// Config configures a node. Validate fills defaults.
type Config struct {
	StateDir      string       // required
	SocketPath    string       // the local API's Unix socket; required
	ListenAddr    string       // Raft listen address, HOST:PORT
	AdvertiseAddr string       // Raft address peers use; defaults to ListenAddr
	APIAddr       string       // manager API (mutual TLS) listen address; default: Raft port + 1
	Logger        *slog.Logger // nil: discard

	// SnapshotEntries is how many entries a shard applies between snapshots
	// (after which its log is compacted). 0 means the default.
	SnapshotEntries uint64

	// Pprof serves net/http/pprof under /debug/pprof/ on the local socket
	// (root only, like the rest of the local API): CPU, heap, goroutine and
	// mutex profiles, for `go tool pprof`. Profiles hold stack traces and
	// sizes, never memory contents.
	Pprof bool
}

// DefaultListenAddr is the Raft address a daemon listens on by default.
const DefaultListenAddr = "127.0.0.1:4700"

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.StateDir == "" {
		return errors.New("a state directory is required (--state-dir)")
	}
	if c.SocketPath == "" {
		return errors.New("a socket path is required (--socket)")
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.ListenAddr
	}
	for _, a := range []string{c.ListenAddr, c.AdvertiseAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("address %q: want HOST:PORT", a)
		}
	}
	if host, _, _ := net.SplitHostPort(c.AdvertiseAddr); host == "" || host == "0.0.0.0" || host == "::" {
		return fmt.Errorf("advertise address %q: peers need a concrete host (--advertise-addr)", c.AdvertiseAddr)
	}
	if c.APIAddr == "" {
		host, port, _ := net.SplitHostPort(c.ListenAddr)
		p, err := strconv.Atoi(port)
		if err != nil || p == 0 || p >= 65535 {
			return fmt.Errorf("listen address %q: give an explicit --api-addr", c.ListenAddr)
		}
		c.APIAddr = net.JoinHostPort(host, strconv.Itoa(p+1))
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		return fmt.Errorf("API address %q: want HOST:PORT", c.APIAddr)
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Node is one vault node: its Raft replicas, keyring and local API.
type Node struct {
	cfg Config
	log *slog.Logger

	lock *os.File // flock on the state dir
	srv  *http.Server
	ln   net.Listener
	peer *peerServer // manager API (mutual TLS)

	mu          sync.RWMutex // guards everything below
	st          *nodeState   // nil until initialized
	store       *raftsm.Store
	nh          *dragonboat.NodeHost
	kek         *crypto.Key
	ring        *keys.Keyring
	tls         *tlsMaterial
	ready       bool           // replicas started and keyring open
	locked      bool           // identity known, keys not: serves status and unlock only
	lockedStore *raftsm.Store  // the state database while locked (metadata only)
	shares      *keys.ShareSet // unlock shares given so far while locked
	lockedPeer  *peerServer    // answers other managers' status checks while locked
	pendingKEK  *pendingKEK    // a KEK pushed by the manager changing it
	stop        chan struct{}  // closed when the replicas stop

	liveMu sync.Mutex
	live   map[string]time.Time // node id -> last successful ping

	stoppedMu sync.Mutex
	stopped   map[uint64]stoppedGroup // groups stopped at an entry they cannot open

	mountMu sync.Mutex
	mounts  map[string]*mount // by mountpoint (exec mounts by a private key)
	mnt     mountTable        // the rest of the table (mounts.go)

	rv revocation // peer admission; this node's own removal

	initMu sync.Mutex // serializes Init
	keyMu  sync.Mutex // serializes key operations started on this node
}

// Start opens the state dir, brings up the replicas of an initialized node,
// and serves the API on the socket. Its error reads as an operator message
// (no Go package prefixes) and wraps the cause.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	defer func() {
		if err != nil {
			err = &operatorErr{err}
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, mounts: map[string]*mount{}}
	quietDragonboat(n.log)
	if err := os.MkdirAll(cfg.StateDir, stateMode); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := n.lockStateDir(); err != nil {
		return nil, err
	}
	n.cleanStaleMounts()
	st, err := readNodeState(cfg.StateDir)
	if err == nil && st != nil {
		err = checkStateDir(cfg.StateDir, st) // before anything is opened for writing
	}
	if err == nil {
		// After the check: a refused start leaves the state dir as it was.
		err = secureStateDir(cfg.StateDir)
	}
	if err != nil {
		n.unlockStateDir()
		return nil, err
	}
	if st == nil {
		// A failed init may have left files behind; nothing in them was acknowledged.
		if err := n.removeClusterFiles(); err != nil {
			n.unlockStateDir()
			return nil, err
		}
		n.log.Info("node is not part of a cluster yet: run `vault cluster init` (or join one)", "state_dir", cfg.StateDir)
	} else if wasRemoved(cfg.StateDir) {
		n.enterRemoved(st)
	} else {
		if err := n.bringUp(ctx, st); err != nil {
			n.unlockStateDir()
			return nil, err
		}
	}
	if err := n.serve(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) lockStateDir() error {
	f, err := os.OpenFile(filepath.Join(n.cfg.StateDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("state dir %s is in use by another vault daemon", n.cfg.StateDir)
	}
	n.lock = f
	return nil
}

func (n *Node) unlockStateDir() {
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
}

func (n *Node) removeClusterFiles() error {
	for _, p := range []string{raftDir, storeDir, kekFile, tlsDir, joinKeyringFile, removedFile} {
		if err := os.RemoveAll(filepath.Join(n.cfg.StateDir, p)); err != nil {
			return err
		}
	}
	return nil
}

// boot is what a node needs to start its replicas.
type boot struct {
	st      *nodeState
	kek     *crypto.Key
	store   *raftsm.Store
	ring    *keys.Keyring
	tls     *tlsMaterial
	members map[uint64]string // initial members of a new cluster
	join    bool              // joining an existing cluster
}

// release frees what a boot holds (after a failed start).
func (b *boot) release() {
	if b.store != nil {
		b.store.Close()
	}
	if b.ring != nil {
		b.ring.Wipe()
	}
	if b.kek != nil {
		b.kek.Wipe()
	}
	b.tls.close()
}

// bringUp restarts the replicas of an initialized node. A node whose KEK
// file is missing (autolock) or no longer opens its keyring starts locked.
func (n *Node) bringUp(ctx context.Context, st *nodeState) error {
	if err := n.checkIdentity(st); err != nil {
		return err
	}
	store, err := raftsm.OpenStore(filepath.Join(n.cfg.StateDir, storeDir), false)
	if err != nil {
		return err
	}
	kek, err := readKEKFile(n.cfg.StateDir)
	if errors.Is(err, os.ErrNotExist) {
		// Stopped during a change turning autolock off: the new KEK.
		kek, err = readKEKFileAs(n.cfg.StateDir, nextKEKFile)
	}
	if errors.Is(err, os.ErrNotExist) {
		n.enterLocked(st, store, "autolock is on")
		return nil
	}
	if err != nil {
		store.Close()
		return fmt.Errorf("read KEK: %w", err)
	}
	err = n.startWithKEK(ctx, st, store, kek)
	if errors.Is(err, errKEKMismatch) {
		// A KEK change turning autolock off that this node had switched
		// some groups to before it stopped: the next KEK is in kek.next.
		if next, nerr := readKEKFileAs(n.cfg.StateDir, nextKEKFile); nerr == nil {
			err = n.startWithKEK(ctx, st, store, next)
		}
	}
	if errors.Is(err, errKEKMismatch) {
		n.enterLocked(st, store, "the KEK file does not open the keyring (the unlock key changed while this node was down)")
		return nil
	}
	if err != nil {
		store.Close()
	}
	return err
}

// errKEKMismatch: no keyring in the state is wrapped under the KEK given.
var errKEKMismatch = errors.New("no keyring in this node's state is wrapped under this KEK")

// startWithKEK opens the keyring and TLS key with kek and starts the
// replicas. It takes kek; store stays the caller's on error.
func (n *Node) startWithKEK(ctx context.Context, st *nodeState, store *raftsm.Store, kek *crypto.Key) error {
	b := &boot{st: st, kek: kek}
	err := func() error {
		var err error
		if b.ring, err = loadKeyring(n.cfg.StateDir, store, st, kek); err != nil {
			return err
		}
		if b.tls, err = loadTLS(n.cfg.StateDir, kek); err != nil {
			return err
		}
		b.store = store
		return n.startRaft(ctx, b)
	}()
	if err != nil {
		b.store = nil // the caller's
		b.release()
		return err
	}
	n.tidyKEKFiles(store, st, kek)
	n.log.Info("node started", "node_id", st.NodeID, "cluster_id", st.ClusterID, "raft_addr", st.RaftAddr, "api_addr", st.APIAddr, "shards", st.Shards)
	return nil
}

// loadKeyring unwraps the keyring stored in every shard.
func loadKeyring(stateDir string, store *raftsm.Store, st *nodeState, kek *crypto.Key) (*keys.Keyring, error) {
	var ring *keys.Keyring
	sources := allShards(st.Shards)
	// The keyring a joining node received, until its shards have caught up.
	sources = append(sources, 0)
	for _, shard := range sources {
		var b []byte
		var err error
		if shard == 0 {
			b, err = os.ReadFile(filepath.Join(stateDir, joinKeyringFile))
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		} else {
			b, err = store.Keyring(shard)
		}
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		w, err := keys.UnmarshalWrappedKeyring(b)
		if err != nil {
			return nil, fmt.Errorf("shard %d keyring: %w", shard, err)
		}
		if !w.WrappedUnder(kek.Version()) {
			if w.KEKVersion < kek.Version() && w.NextKEKVersion < kek.Version() {
				continue // wrapped under an older KEK: its log brings it forward
			}
			// Wrapped under a newer KEK only: this KEK cannot follow the
			// group (a KEK change moved on while this node was down).
			return nil, errKEKMismatch
		}
		if ring == nil {
			ring, err = w.Unwrap(kek)
		} else {
			err = ring.Update(w, kek)
		}
		if err != nil {
			if errors.Is(err, keys.ErrWrongKey) {
				return nil, fmt.Errorf("shard %d keyring: the KEK file does not open it (%w)", shard, err)
			}
			return nil, fmt.Errorf("shard %d keyring: %w", shard, err)
		}
	}
	if ring == nil {
		return nil, errKEKMismatch
	}
	return ring, nil
}

func (n *Node) checkIdentity(st *nodeState) error {
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	if st.Hostname != host {
		return fmt.Errorf("this state dir belongs to host %q but this host is %q: Raft data is tied to the hostname; "+
			"run with hostname %q (in a container: --hostname %s)", st.Hostname, host, st.Hostname, st.Hostname)
	}
	if st.RaftAddr != n.cfg.AdvertiseAddr {
		return fmt.Errorf("this node's Raft address is %s but --advertise-addr is %s: peers know it by %s; "+
			"start with --advertise-addr %s", st.RaftAddr, n.cfg.AdvertiseAddr, st.RaftAddr, st.RaftAddr)
	}
	return nil
}

// openNodeHost creates the NodeHost and starts every replica on it.
func (n *Node) openNodeHost(st *nodeState, store *raftsm.Store, ring *keys.Keyring, tm *tlsMaterial, members map[uint64]string, join bool) (*dragonboat.NodeHost, error) {
	nh, err := dragonboat.NewNodeHost(n.nodeHostConfig(st, tm))
	if err == nil && nh == nil { // it recovered a panic of its own (logged by dbLogger)
		err = errors.New("the Raft library failed to start; its error is logged above")
	}
	if err != nil {
		if isHostnameChange(err) {
			return nil, fmt.Errorf("start raft: the hostname changed since this state dir was created: %w", err)
		}
		return nil, fmt.Errorf("start raft on %s: %w", st.RaftAddr, err)
	}
	n.resetStopped() // every replica starts again
	create, err := raftsm.NewFactory(store, raftsm.Hooks{
		Keys:           ring,
		SnapshotKey:    ring.Active,
		KeyringApplied: n.keyringApplied,
		SecretsChanged: n.secretsChanged,
		ReplicaFailed:  func(f *raftsm.ReplicaFailure) { n.replicaFailed(nh, f) },
	})
	if err == nil {
		err = n.startReplicas(nh, st, create, members, join)
	}
	if err != nil {
		nh.Close()
		return nil, err
	}
	return nh, nil
}

// restartRaft closes and reopens this node's NodeHost; keys stay in memory.
// Requests meanwhile wait and retry.
func (n *Node) restartRaft(ctx context.Context) error {
	n.mu.Lock()
	nh, st, store, ring, tm := n.nh, n.st, n.store, n.ring, n.tls
	n.mu.Unlock()
	if nh == nil {
		return errLocked()
	}
	nh.Close()
	nh2, err := n.openNodeHost(st, store, ring, tm, nil, false)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.nh = nh2
	n.mu.Unlock()
	// Back only once every group has a leader again, so that the managers
	// an operation reopens one after another never take a quorum down.
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.waitReadyOrStopped(wctx, nh2, allShards(st.Shards)); err != nil {
		return err
	}
	n.log.Info("reopened the Raft log database")
	return nil
}

func (n *Node) startRaft(ctx context.Context, b *boot) error {
	st := b.st
	n.mu.Lock()
	n.st, n.store, n.kek, n.ring, n.tls = st, b.store, b.kek, b.ring, b.tls
	n.mu.Unlock()
	nh, err := n.openNodeHost(st, b.store, b.ring, b.tls, b.members, b.join)
	if err != nil {
		n.mu.Lock()
		n.st, n.store, n.kek, n.ring, n.tls = nil, nil, nil, nil, nil
		n.mu.Unlock()
		return err
	}
	n.mu.Lock()
	n.nh = nh
	n.mu.Unlock()
	if err == nil && (b.members != nil || b.join) {
		// A new or joining node proposes next: wait for its groups. A
		// restarted node serves at once (its requests wait for a quorum).
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = n.waitReadyOrStopped(wctx, nh, allShards(st.Shards))
		cancel()
	}
	if err == nil {
		n.peer, err = n.startPeerServer(st.APIAddr, b.tls)
	}
	if err != nil {
		nh.Close()
		n.mu.Lock()
		n.st, n.store, n.nh, n.kek, n.ring, n.tls = nil, nil, nil, nil, nil, nil
		n.mu.Unlock()
		return err
	}
	n.mu.Lock()
	n.ready = true
	n.stop = make(chan struct{})
	go n.balanceLoop(n.stop)
	go n.removalLoop(n.stop)
	go n.healthLoop(n.stop)
	go n.rotationLoop(n.stop)
	n.mu.Unlock()
	// Restarted during a KEK change: take its next KEK from the record
	// once the control group has caught up.
	go n.adoptKEKChangeLater(n.stop)
	return nil
}

// keyringApplied unwraps DEK versions a shard's log introduced.
func (n *Node) keyringApplied(shard uint64, b []byte) {
	w, err := keys.UnmarshalWrappedKeyring(b)
	if err != nil {
		n.log.Error("a replicated keyring does not decode", "shard", shard, "err", err)
		return
	}
	n.mu.RLock()
	kek, ring := n.kek, n.ring
	n.mu.RUnlock()
	if kek == nil || ring == nil {
		return
	}
	if !w.WrappedUnder(kek.Version()) {
		if w.KEKVersion < kek.Version() || !n.switchKEK(w) {
			if w.KEKVersion > kek.Version() {
				n.log.Error("the keyring was re-wrapped under a KEK this node does not have: restart it and give `vault unlock` the new key", "shard", shard, "kek_version", OperatorKEKVersion(w.KEKVersion))
				go n.adoptKEKChange()
			}
			return
		}
		n.mu.RLock()
		kek = n.kek
		n.mu.RUnlock()
	} else if w.HasNext() {
		// Phase 2 of a KEK change: make sure this node holds the next KEK
		// even if it missed the push (it restarted).
		n.mu.RLock()
		missing := n.pendingKEK == nil && kek.Version() < w.NextKEKVersion
		n.mu.RUnlock()
		if missing {
			go n.adoptKEKChange()
		}
	} else if stale, autolock := n.staleKEKFiles(kek); stale {
		// Switched by an unlock with the new key: files follow.
		if err := n.finishKEKFiles(kek, autolock); err != nil {
			n.log.Error("switching the state dir to the new KEK", "err", err)
		}
	}
	if err := ring.Update(w, kek); err != nil {
		n.log.Error("a replicated keyring does not open with this node's KEK", "shard", shard, "err", err)
		return
	}
	// A joined node's groups now hold the keyring: the copy it received at
	// join time is no longer needed.
	if err := os.Remove(filepath.Join(n.cfg.StateDir, joinKeyringFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("removing the join keyring", "err", err)
	}
}

// running returns the NodeHost and keyring of a ready node, or the API error
// that says why the node cannot serve.
func (n *Node) running() (*dragonboat.NodeHost, *keys.Keyring, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.rv.removed.Load() {
		return nil, nil, errRemoved()
	}
	if n.locked {
		return nil, nil, errLocked()
	}
	if !n.ready {
		return nil, nil, api.Errorf(api.CodeNotInitialized, "this node is not part of a cluster").
			WithHint("run `vault cluster init` to create one")
	}
	return n.nh, n.ring, nil
}

func (n *Node) shardCount() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.st == nil {
		return 0
	}
	return n.st.Shards
}

// MaxShards bounds --shards.
const MaxShards = 64

// DefaultShards is the number of secret groups `vault cluster init` makes
// when not told: one per four CPUs of the initializing node, 1 to 4. Each
// group runs its own replication and ReadIndex rounds, so on a small
// machine more groups split the same load into smaller batches, each paying
// a round's fixed cost: measured on 2 CPUs, 4 groups cost 1.6 times the CPU
// per create of 1 group (docs/PERFORMANCE.md). Groups pay off when there
// are cores to run them in parallel.
func DefaultShards() int {
	return perFourCPUs(4)
}

// perFourCPUs is one per four CPUs of this machine, at least 1 and at most
// limit: how vault sizes what runs in parallel (secret groups, Raft workers).
func perFourCPUs(limit int) int {
	return min(max(runtime.NumCPU()/4, 1), limit)
}

// Init creates a new cluster with this node as its only manager.
func (n *Node) Init(ctx context.Context, shards int) (*api.InitResponse, error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	if err := n.checkUninitialized(); err != nil {
		return nil, err
	}
	if shards == 0 {
		shards = DefaultShards()
	}
	if shards < 1 || shards > MaxShards {
		return nil, api.Errorf(api.CodeInvalid, "--shards %d: want 1 to %d secret groups", shards, MaxShards)
	}
	clusterID := newID()
	st, err := n.newNodeState(clusterID, newID(), 1, shards)
	if err != nil {
		return nil, err
	}
	resp, err := n.bootstrap(ctx, st)
	if err != nil {
		n.shutdownRaft()
		if rerr := n.removeClusterFiles(); rerr != nil {
			n.log.Error("cleaning up after a failed init", "err", rerr)
		}
		return nil, err
	}
	n.log.Info("cluster initialized", "cluster_id", clusterID, "node_id", st.NodeID, "shards", shards)
	return resp, nil
}

func (n *Node) checkUninitialized() error {
	if n.shardCount() != 0 {
		return api.Errorf(api.CodeInitialized, "this node is already part of cluster %s", n.clusterID()).
			WithHint("`vault status` shows it; to start over, stop the daemon and use a new --state-dir")
	}
	return nil
}

func (n *Node) newNodeState(clusterID, nodeID string, replicaID uint64, shards int) (*nodeState, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	return &nodeState{
		Format: 1, NodeID: nodeID, ReplicaID: replicaID, ClusterID: clusterID,
		RaftAddr: n.cfg.AdvertiseAddr, APIAddr: n.advertisedAPIAddr(), Hostname: host, Shards: shards,
		DeploymentID: deploymentID(clusterID), RaftWorkers: defaultRaftWorkers(),
	}, nil
}

// advertisedAPIAddr is the advertised host with the API port.
func (n *Node) advertisedAPIAddr() string {
	host, _, _ := net.SplitHostPort(n.cfg.AdvertiseAddr)
	_, port, _ := net.SplitHostPort(n.cfg.APIAddr)
	return net.JoinHostPort(host, port)
}

// deploymentID keeps Raft traffic of different clusters apart.
func deploymentID(clusterID string) uint64 {
	sum := sha256.Sum256([]byte("vault/deployment/" + clusterID))
	return binary.BigEndian.Uint64(sum[:8])&(1<<63-1) | 1
}

func (n *Node) bootstrap(ctx context.Context, st *nodeState) (*api.InitResponse, error) {
	if err := n.removeClusterFiles(); err != nil {
		return nil, err
	}
	now := time.Now()
	b := &boot{st: st, members: map[uint64]string{st.ReplicaID: st.RaftAddr}}
	var w *keys.WrappedKeyring
	var rec *raftsm.ClusterRecord
	err := func() error {
		var err error
		if b.kek, err = newKEK(n.cfg.StateDir, kekVersionBase+1); err != nil {
			return err
		}
		if w, b.ring, err = keys.NewKeyring(b.kek, now); err != nil {
			return err
		}
		root, rootKey, err := ca.NewRoot(st.ClusterID, now)
		if err != nil {
			return err
		}
		defer wipe(rootKey)
		keyPEM, csr, err := ca.NewNodeKey(st.NodeID)
		if err != nil {
			return err
		}
		defer wipe(keyPEM)
		cert, err := root.Sign(csr, st.NodeID, ca.RoleManager, certHosts(st.RaftAddr, st.APIAddr), now)
		if err != nil {
			return err
		}
		if err := writeTLS(n.cfg.StateDir, b.kek, root.CertPEM, cert, keyPEM); err != nil {
			return err
		}
		if b.tls, err = newTLSMaterial(root.CertPEM, cert, keyPEM); err != nil {
			return err
		}
		rec = &raftsm.ClusterRecord{
			ID: st.ClusterID, Created: now.UnixNano(), Shards: st.Shards,
			Members:       []raftsm.Member{{NodeID: st.NodeID, ReplicaID: st.ReplicaID, Addr: st.RaftAddr, APIAddr: st.APIAddr, Role: ca.RoleManager, Joined: now.UnixNano(), CertSerial: pemSerial(cert)}},
			NextReplicaID: st.ReplicaID + 1,
			CACert:        root.CertPEM, CAKey: bytes.Clone(rootKey),
			Tokens: map[string][]byte{},
		}
		for _, role := range []string{ca.RoleManager, ca.RoleWorker} {
			sec, err := ca.NewTokenSecret()
			if err != nil {
				return err
			}
			rec.Tokens[role] = sec[:]
		}
		if b.store, err = raftsm.OpenStore(filepath.Join(n.cfg.StateDir, storeDir), false); err != nil {
			return err
		}
		return n.startRaft(ctx, b)
	}()
	if err != nil {
		b.release()
		return nil, err
	}
	// Introduce the keyring into every group's log before anything else.
	wrapped := w.Marshal()
	res, err := n.propose(ctx, raftsm.ControlShard, &raftsm.Command{
		Op: raftsm.OpKeyringSet, RequestID: newRequestID(), Time: now.UnixNano(),
		Keyring: wrapped, KeyringEpoch: 1, KeyringCAS: true,
	})
	if err != nil || res.Value != raftsm.ResultOK {
		return nil, fmt.Errorf("introduce the keyring to the control group: %v (result %d)", err, res.Value)
	}
	if err := n.distributeKeyring(ctx, wrapped, 1); err != nil {
		return nil, err
	}
	if err := n.writeCluster(ctx, rec, 0); err != nil {
		return nil, err
	}
	if err := writeNodeState(n.cfg.StateDir, st); err != nil {
		return nil, err
	}
	return &api.InitResponse{ClusterID: st.ClusterID, NodeID: st.NodeID, Shards: st.Shards}, nil
}

func (n *Node) clusterID() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.st == nil {
		return ""
	}
	return n.st.ClusterID
}

// Status reports the node's state.
func (n *Node) Status() *api.Status {
	n.mu.RLock()
	s := &api.Status{}
	if n.st == nil {
		n.mu.RUnlock()
		return s
	}
	s.Initialized = true
	s.NodeID, s.ClusterID, s.Addr, s.APIAddr, s.Shards = n.st.NodeID, n.st.ClusterID, n.st.RaftAddr, n.st.APIAddr, n.st.Shards
	s.Removed = n.rv.removed.Load()
	if n.locked {
		s.Locked, s.Autolock = true, true
		if w := newestKeyring(n.lockedStore, n.st); w != nil {
			s.KEKVersion, s.ActiveDEK = OperatorKEKVersion(w.KEKVersion), w.Active()
			for _, d := range w.DEKs {
				if d.State != keys.DEKRetired {
					s.DEKVersions = append(s.DEKVersions, d.Version)
				}
			}
		}
		if n.shares != nil {
			s.SharesGiven, s.SharesNeeded = n.shares.Progress()
		}
		n.mu.RUnlock()
		return s
	}
	ready := n.ready
	if ready {
		s.KEKVersion = OperatorKEKVersion(n.kek.Version())
		if k, err := n.ring.Active(); err == nil {
			s.ActiveDEK = k.Version()
		}
		s.DEKVersions = n.ring.Versions()
	}
	n.mu.RUnlock()
	if ready {
		if rec, err := n.staleCluster(); err == nil {
			s.Autolock = rec.Autolock
		}
		s.StoppedGroups = n.stoppedGroups()
	}
	return s
}

// shutdownRaft stops the replicas and wipes keys from memory.
func (n *Node) shutdownRaft() {
	n.mu.Lock()
	nh, store, kek, ring, tm, peer := n.nh, n.store, n.kek, n.ring, n.tls, n.peer
	n.nh, n.store, n.kek, n.ring, n.tls, n.peer, n.st, n.ready = nil, nil, nil, nil, nil, nil, nil, false
	if n.pendingKEK != nil {
		n.pendingKEK.kek.Wipe()
		n.pendingKEK = nil
	}
	if n.stop != nil {
		close(n.stop)
		n.stop = nil
	}
	n.mu.Unlock()
	if peer != nil {
		peer.close()
	}
	tm.close()
	if nh != nil {
		nh.Close()
	}
	if store != nil {
		store.Close()
	}
	if ring != nil {
		ring.Wipe()
	}
	if kek != nil {
		kek.Wipe()
	}
}

// Close stops serving, stops the replicas and wipes keys from memory.
func (n *Node) Close() error {
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.srv.Shutdown(ctx)
		cancel()
		os.Remove(n.cfg.SocketPath)
	}
	n.closeMounts()
	n.shutdownRaft()
	n.stopLockedPeer()
	n.mu.Lock()
	if n.lockedStore != nil {
		n.lockedStore.Close()
		n.lockedStore = nil
	}
	if n.shares != nil {
		n.shares.Wipe()
		n.shares = nil
	}
	n.mu.Unlock()
	n.unlockStateDir()
	return nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random 26-character id.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return idEncoding.EncodeToString(b[:])
}

func newRequestID() []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func isID(s string) bool {
	if s == "" || len(s) > 26 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz234567") == ""
}
