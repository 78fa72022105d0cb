package vault

import (
	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

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
			s.KEKVersion, s.ActiveDEK = statedir.OperatorKEKVersion(w.KEKVersion), w.Active()
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
		s.KEKVersion = statedir.OperatorKEKVersion(n.kek.Version())
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
