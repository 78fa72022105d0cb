package vault

import (
	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

// Status reports the node's state.
func (n *Node) Status() *api.Status {
	if w := n.worker(); w != nil {
		return w.status()
	}
	n.mu.RLock()
	s := &api.Status{Audit: n.auditStatus()}
	st := n.identityLocked()
	if st == nil {
		n.mu.RUnlock()
		return s
	}
	s.Initialized = true
	s.NodeID, s.ClusterID, s.Addr, s.APIAddr, s.Shards = st.NodeID, st.ClusterID, st.RaftAddr, st.APIAddr, st.Shards
	s.Removed = n.rv.removed.Load()
	if lk := n.locked(); lk != nil {
		s.Locked, s.Autolock = true, true
		if w := newestKeyring(lk.store, st); w != nil {
			s.KEKVersion, s.ActiveDEK = statedir.OperatorKEKVersion(w.KEKVersion), w.Active()
			for _, d := range w.DEKs {
				if d.State != keys.DEKRetired {
					s.DEKVersions = append(s.DEKVersions, d.Version)
				}
			}
		}
		if lk.shares != nil {
			s.SharesGiven, s.SharesNeeded = lk.shares.Progress()
		}
		n.mu.RUnlock()
		return s
	}
	r, _ := n.ph.(*replicas)
	n.mu.RUnlock()
	if r != nil {
		s.KEKVersion = statedir.OperatorKEKVersion(r.currentKEK().Version())
		if k, err := r.ring.Active(); err == nil {
			s.ActiveDEK = k.Version()
		}
		s.DEKVersions = r.ring.Versions()
		if rec, err := n.staleCluster(); err == nil {
			s.Autolock = rec.Autolock
		}
		s.StoppedGroups = n.stoppedGroups()
	}
	return s
}
