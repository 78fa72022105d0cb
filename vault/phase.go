package vault

import (
	"sync"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// A node is in one of three phases (see the package doc), and Node.ph,
// one field guarded by Node.mu, is the phase's value:
//
//   - nil: uninitialized; nothing is open but the state dir's lock.
//   - *lockedPhase: the state database (metadata only), the unlock shares
//     given so far and the locked status server; no key of any kind.
//   - *replicas: running; owns every key and handle.
//   - between: initialized, neither locked nor running: the replicas are
//     being built (init, join, unlock) or were stopped (removed). It holds
//     the identity only.
//
// Every phase value knows the node's identity.
type phase interface {
	identity() *statedir.Node
}

var (
	_ phase = between{}
	_ phase = (*lockedPhase)(nil)
	_ phase = (*replicas)(nil)
)

// between is an initialized node that is neither locked nor running.
type between struct{ st *statedir.Node }

func (b between) identity() *statedir.Node { return b.st }

// phaseName names the phase a node is in, for what depends on it only (the
// API's gate, tests); the phase's data is reached through Node.ph.
type phaseName int

const (
	phaseUninitialized phaseName = iota
	phaseLocked
	phaseRunning
	// phaseStarting: initialized, neither locked nor running (between).
	phaseStarting
)

// phase returns the phase the node is in.
func (n *Node) phase() phaseName {
	n.mu.RLock()
	defer n.mu.RUnlock()
	switch n.ph.(type) {
	case *lockedPhase:
		return phaseLocked
	case *replicas:
		return phaseRunning
	case nil:
		return phaseUninitialized
	}
	return phaseStarting
}

// locked returns the locked phase, or nil; the caller holds n.mu.
func (n *Node) locked() *lockedPhase {
	lk, _ := n.ph.(*lockedPhase)
	return lk
}

// lockedPhase is what a locked node holds: nothing that opens data.
type lockedPhase struct {
	st     *statedir.Node // the node's identity
	store  *raftsm.Store  // the state database (keyrings as stored: wrapped)
	shares *keys.ShareSet // unlock shares given so far (nil: none); guarded by Node.mu
	peer   *peerServer    // answers other managers' status checks; nil if it could not listen
}

func (l *lockedPhase) identity() *statedir.Node { return l.st }

// close stops the status server and wipes the shares; the store is closed
// unless keepStore (an unlock hands it to the replicas).
func (l *lockedPhase) close(keepStore bool) {
	if l.peer != nil {
		l.peer.close()
	}
	if l.shares != nil {
		l.shares.Wipe()
	}
	if !keepStore && l.store != nil {
		l.store.Close()
	}
}

// replicas is the running phase: the one value that owns every key and
// handle of a running node. newReplicas builds it, close stops it and wipes
// every key. Code that needs a key is a method of it (see the package doc).
type replicas struct {
	// node is the node the replicas run on, for what outlives a phase: its
	// log, configuration, mount table and the health of its groups. No
	// key is reached through it.
	node  *Node
	st    *statedir.Node
	store *raftsm.Store
	ring  *keys.Keyring
	tls   *tlsMaterial
	peer  *peerServer   // the manager API (mutual TLS)
	stop  chan struct{} // closed by close: the node's loops end

	grants grantsCache // the applied cluster record's grants (grants.go)

	machines localMachines // the replicas' state machines (localreseal.go)

	// ringMu orders the updates of ring by keyring epoch (keyringApplied):
	// ringEpoch is the highest epoch ring follows. A leaf.
	ringMu    sync.Mutex
	ringEpoch uint64

	mu         sync.RWMutex         // guards the fields below; taken after Node.mu
	nh         *dragonboat.NodeHost // set before the replicas are published; replaced by a recovery (recover.go), never nil
	kek        *crypto.Key          // replaced by a KEK change's switch
	pendingKEK *pendingKEK          // the next KEK of a change in progress
}

// host returns the NodeHost (a recovery may replace it).
func (r *replicas) host() *dragonboat.NodeHost {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.nh
}

func (r *replicas) identity() *statedir.Node { return r.st }

// currentKEK returns the KEK (a KEK change may replace it).
func (r *replicas) currentKEK() *crypto.Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.kek
}

// live returns nil while r is the node's running phase, and after close the
// error that says why the node no longer serves.
func (r *replicas) live() error {
	if r.node.rv.removed.Load() {
		return errRemoved()
	}
	select {
	case <-r.stop:
		if _, err := r.node.running(); err != nil {
			return err
		}
		return errLocked() // and already running again: the caller's replicas are gone
	default:
		return nil
	}
}

// close stops the loops, the manager API and the replicas, closes the
// store, and wipes every key: the keyring, the KEK, a pending KEK and the
// TLS key's memory file.
func (r *replicas) close() {
	close(r.stop)
	r.mu.Lock()
	nh, kek, pending := r.nh, r.kek, r.pendingKEK
	r.pendingKEK = nil // nh stays: a caller holding r gets dragonboat.ErrClosed from it
	r.mu.Unlock()
	if pending != nil {
		pending.kek.Wipe()
	}
	if r.peer != nil {
		r.peer.close()
	}
	r.tls.close()
	if nh != nil {
		nh.Close()
	}
	r.store.Close()
	r.ring.Wipe()
	kek.Wipe()
}

// running returns the replicas of a running node, or the API error that
// says why the node cannot serve.
func (n *Node) running() (*replicas, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.rv.removed.Load() {
		return nil, errRemoved()
	}
	switch p := n.ph.(type) {
	case *replicas:
		return p, nil
	case *lockedPhase:
		return nil, errLocked()
	}
	return nil, errNotInitialized()
}

// current returns the replicas of a running node, or nil.
func (n *Node) current() *replicas {
	n.mu.RLock()
	defer n.mu.RUnlock()
	r, _ := n.ph.(*replicas)
	return r
}

func errNotInitialized() *api.Error {
	return api.Errorf(api.CodeNotInitialized, "this node is not part of a cluster").
		WithHint("run `vault cluster init` to create one")
}

// identity returns the node's identity; nil while uninitialized.
func (n *Node) identity() *statedir.Node {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.identityLocked()
}

// identityLocked is identity for a caller holding n.mu.
func (n *Node) identityLocked() *statedir.Node {
	if n.ph == nil {
		return nil
	}
	return n.ph.identity()
}

func (n *Node) shardCount() int {
	if st := n.identity(); st != nil {
		return st.Shards
	}
	return 0
}

// enterRunning makes r the node's phase.
func (n *Node) enterRunning(r *replicas) {
	n.mu.Lock()
	n.ph = r
	n.mu.Unlock()
	n.auditUnlocked(r.ring)
}

// enterLocked puts the node in the locked phase: identity known, no keys, no
// replicas; it serves status and unlock only. It takes store. reason is
// logged; "" (an unlock that failed goes back) logs nothing.
func (n *Node) enterLocked(st *statedir.Node, store *raftsm.Store, reason string) {
	lk := &lockedPhase{st: st, store: store, peer: n.startLockedPeer(st.NodeID)}
	n.mu.Lock()
	n.ph = lk
	n.mu.Unlock()
	if reason != "" {
		n.log.Info("node is locked: run `vault unlock`", "reason", reason, "node_id", st.NodeID, "cluster_id", st.ClusterID)
	}
}

// enterBetween leaves the node initialized as st, neither locked nor
// running (a removed node, or one whose replicas are being built).
func (n *Node) enterBetween(st *statedir.Node) {
	n.mu.Lock()
	n.ph = between{st}
	n.mu.Unlock()
}

// leaveLocked ends the locked phase, returning its store for an unlock
// (the status server stops, freeing the API address for the manager API).
func (n *Node) leaveLocked() *raftsm.Store {
	n.mu.Lock()
	lk := n.locked()
	if lk != nil {
		n.ph = between{lk.st}
	}
	n.mu.Unlock()
	if lk == nil {
		return nil
	}
	lk.close(true)
	return lk.store
}

// shutdownRaft ends the running phase and forgets the node's identity.
func (n *Node) shutdownRaft() { n.leaveRunning(false) }

// leaveRunning ends the running phase: it stops the replicas and wipes
// keys from memory. The node keeps its identity if keepIdentity (it locks,
// or was removed).
func (n *Node) leaveRunning(keepIdentity bool) {
	n.mu.Lock()
	r, _ := n.ph.(*replicas)
	st := n.identityLocked()
	switch {
	case !keepIdentity || st == nil:
		n.ph = nil
	default:
		n.ph = between{st}
	}
	n.mu.Unlock()
	n.auditLocked()
	if r != nil {
		r.handOffLeadership()
		r.close()
	}
}
