package vault

import (
	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/keys"
)

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
