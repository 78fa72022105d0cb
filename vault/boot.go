package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// boot is what a node needs to start its replicas.
type boot struct {
	st    *statedir.Node
	kek   *crypto.Key
	store *raftsm.Store
	ring  *keys.Keyring
	// ringEpoch is the keyring epoch ring was unwrapped from (0 when not
	// from a group: a new or joining node).
	ringEpoch uint64
	tls       *tlsMaterial
	members   map[uint64]string // initial members of a new cluster
	join      bool              // joining an existing cluster
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
func (n *Node) bringUp(ctx context.Context, st *statedir.Node) error {
	if err := n.checkIdentity(st); err != nil {
		return err
	}
	store, err := raftsm.OpenStore(filepath.Join(n.cfg.StateDir, statedir.StoreDir), false)
	if err != nil {
		return err
	}
	kek, err := statedir.ReadKEK(n.cfg.StateDir, statedir.KEKFile)
	if errors.Is(err, os.ErrNotExist) {
		// Stopped during a change turning autolock off: the new KEK.
		kek, err = statedir.ReadKEK(n.cfg.StateDir, statedir.NextKEKFile)
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
		if next, nerr := statedir.ReadKEK(n.cfg.StateDir, statedir.NextKEKFile); nerr == nil {
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
func (n *Node) startWithKEK(ctx context.Context, st *statedir.Node, store *raftsm.Store, kek *crypto.Key) error {
	b := &boot{st: st, kek: kek}
	err := func() error {
		var err error
		if b.ring, b.ringEpoch, err = loadKeyring(n.cfg.StateDir, store, st, kek); err != nil {
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

// loadKeyring unwraps the newest keyring the shards store (the highest
// keyring epoch) and returns it with its epoch. Older rings are not merged
// in: Update would drop the DEKs they lack, and a newer ring holds every
// DEK a lagging group can meet (its log brings it forward from there; the
// node's ring does not go back, keyringApplied). The keyring a joining
// node received is the source only while no shard stores one.
func loadKeyring(stateDir string, store *raftsm.Store, st *statedir.Node, kek *crypto.Key) (*keys.Keyring, uint64, error) {
	var newest *keys.WrappedKeyring
	var epoch uint64
	from := uint64(0)
	for _, shard := range statedir.AllShards(st.Shards) {
		b, e, err := store.KeyringEpoch(shard)
		if err != nil {
			return nil, 0, err
		}
		if b == nil {
			continue
		}
		w, err := keys.UnmarshalWrappedKeyring(b)
		if err != nil {
			return nil, 0, fmt.Errorf("shard %d keyring: %w", shard, err)
		}
		if !w.WrappedUnder(kek.Version()) {
			if w.KEKVersion < kek.Version() && w.NextKEKVersion < kek.Version() {
				continue // wrapped under an older KEK: its log brings it forward
			}
			// Wrapped under a newer KEK only: this KEK cannot follow the
			// group (a KEK change moved on while this node was down).
			return nil, 0, errKEKMismatch
		}
		if newest == nil || e > epoch {
			newest, epoch, from = w, e, shard
		}
	}
	if newest == nil {
		// A joining node's keyring, until its shards have caught up.
		b, err := os.ReadFile(filepath.Join(stateDir, statedir.JoinKeyringFile))
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, errKEKMismatch
		}
		if err != nil {
			return nil, 0, err
		}
		if newest, err = keys.UnmarshalWrappedKeyring(b); err != nil {
			return nil, 0, fmt.Errorf("shard 0 keyring: %w", err)
		}
		if !newest.WrappedUnder(kek.Version()) {
			return nil, 0, errKEKMismatch
		}
	}
	ring, err := newest.Unwrap(kek)
	if err != nil {
		if errors.Is(err, keys.ErrWrongKey) {
			return nil, 0, fmt.Errorf("shard %d keyring: the KEK file does not open it (%w)", from, err)
		}
		return nil, 0, fmt.Errorf("shard %d keyring: %w", from, err)
	}
	return ring, epoch, nil
}

func (n *Node) checkIdentity(st *statedir.Node) error {
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

// startRaft builds the node's replicas from b and makes them its phase.
// On error, what b holds stays the caller's to release.
func (n *Node) startRaft(ctx context.Context, b *boot) error {
	r, err := n.newReplicas(ctx, b)
	if err != nil {
		return err
	}
	n.enterRunning(r)
	go n.balanceLoop(r.stop)
	go n.removalLoop(r.stop)
	go n.healthLoop(r.stop)
	go n.rotationLoop(r.stop)
	go n.metricsLoop(r)
	// Restarted during a KEK change: take its next KEK from the record
	// once the control group has caught up.
	go n.adoptKEKChangeLater(r.stop)
	return nil
}

// newReplicas is the one constructor of the running phase: it starts the
// replicas on a new NodeHost under b's keys and the manager API. The
// replicas it returns own b's store and keys; on error they stay b's.
func (n *Node) newReplicas(ctx context.Context, b *boot) (*replicas, error) {
	st := b.st
	r := &replicas{node: n, st: st, store: b.store, ring: b.ring, ringEpoch: b.ringEpoch, tls: b.tls, kek: b.kek, stop: make(chan struct{})}
	nh, err := n.openNodeHost(r, b.members, b.join)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.nh = nh
	r.mu.Unlock()
	if b.members != nil || b.join {
		// A new or joining node proposes next: wait for its groups. A
		// restarted node serves at once (its requests wait for a quorum).
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = n.waitReadyOrStopped(wctx, nh, statedir.AllShards(st.Shards))
		cancel()
	}
	if err == nil {
		r.peer, err = n.startPeerServer(st.APIAddr, b.tls)
	}
	if err != nil {
		nh.Close()
		return nil, err
	}
	return r, nil
}
