package vault

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

// keyringApplied unwraps DEK versions a shard's log introduced.
// It acts on r, the replicas whose state machine applied it (running or
// being started). epoch is the ring's keyring epoch.
//
// One ring serves every group, but each group applies its keyrings on its
// own: a group that lags (catching up after a restart, or a follower whose
// quorum moved on without it) applies an older ring after another group
// applied a newer one. Update follows the ring it is given, dropping the
// DEKs it lacks, so following that older ring would drop a DEK the newer
// groups' entries are sealed under (they stop: raftsm/failure.go). The
// ring follows only epochs not lower than the one it holds: a newer ring
// holds every DEK an older one's group can still meet.
func (n *Node) keyringApplied(r *replicas, shard uint64, b []byte, epoch uint64) {
	w, err := keys.UnmarshalWrappedKeyring(b)
	if err != nil {
		n.log.Error("a replicated keyring does not decode", "shard", shard, "err", err)
		return
	}
	kek, ring := r.currentKEK(), r.ring
	if !w.WrappedUnder(kek.Version()) {
		if w.KEKVersion < kek.Version() || !n.switchKEK(r, w) {
			if w.KEKVersion > kek.Version() {
				n.log.Error("the keyring was re-wrapped under a KEK this node does not have: restart it and give `vault unlock` the new key", "shard", shard, "kek_version", statedir.OperatorKEKVersion(w.KEKVersion))
				go n.adoptKEKChange()
			}
			return
		}
		kek = r.currentKEK()
	} else if w.HasNext() {
		// Phase 2 of a KEK change: make sure this node holds the next KEK
		// even if it missed the push (it restarted).
		r.mu.RLock()
		missing := r.pendingKEK == nil && kek.Version() < w.NextKEKVersion
		r.mu.RUnlock()
		if missing {
			go n.adoptKEKChange()
		}
	} else if stale, autolock := n.staleKEKFiles(r, kek); stale {
		// Switched by an unlock with the new key: files follow.
		if err := n.finishKEKFiles(kek, autolock); err != nil {
			n.log.Error("switching the state dir to the new KEK", "err", err)
		}
	}
	if taken, err := r.updateRing(ring, w, kek, epoch); err != nil {
		n.log.Error("a replicated keyring does not open with this node's KEK", "shard", shard, "err", err)
		return
	} else if !taken {
		n.log.Debug("a group applied an older keyring than the node holds: kept the newer", "shard", shard, "epoch", epoch)
		return
	}
	// A joined node's groups now hold the keyring: the copy it received at
	// join time is no longer needed.
	if err := os.Remove(filepath.Join(n.cfg.StateDir, statedir.JoinKeyringFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("removing the join keyring", "err", err)
	}
}

// updateRing brings ring in line with w (Keyring.Update) unless the ring
// already follows a higher keyring epoch; it reports whether it did.
func (r *replicas) updateRing(ring *keys.Keyring, w *keys.WrappedKeyring, kek *crypto.Key, epoch uint64) (bool, error) {
	r.ringMu.Lock()
	defer r.ringMu.Unlock()
	if epoch < r.ringEpoch {
		return false, nil
	}
	if err := ring.Update(w, kek); err != nil {
		return false, err
	}
	r.ringEpoch = epoch
	return true, nil
}
