package vault

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

// keyringApplied unwraps DEK versions a shard's log introduced.
// It acts on r, the replicas whose state machine applied it (running or
// being started).
func (n *Node) keyringApplied(r *replicas, shard uint64, b []byte) {
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
	if err := ring.Update(w, kek); err != nil {
		n.log.Error("a replicated keyring does not open with this node's KEK", "shard", shard, "err", err)
		return
	}
	// A joined node's groups now hold the keyring: the copy it received at
	// join time is no longer needed.
	if err := os.Remove(filepath.Join(n.cfg.StateDir, statedir.JoinKeyringFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("removing the join keyring", "err", err)
	}
}
