package vault

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

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
				n.log.Error("the keyring was re-wrapped under a KEK this node does not have: restart it and give `vault unlock` the new key", "shard", shard, "kek_version", statedir.OperatorKEKVersion(w.KEKVersion))
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
	if err := os.Remove(filepath.Join(n.cfg.StateDir, statedir.JoinKeyringFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("removing the join keyring", "err", err)
	}
}
