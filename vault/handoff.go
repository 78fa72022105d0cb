package vault

import (
	"context"
	"time"

	"github.com/vaultd/vault/internal/statedir"
)

// handOffLeadership asks another manager to lead each group this node
// leads, and waits (up to handOffWait) until it leads none, so that
// closing its Raft node (restartRaft: a full rotation's compaction,
// retiring a key) leaves no group without a leader until an election
// timeout: the writes beside it go on on the other managers. A transfer
// that does not happen in time is not waited for; the groups then elect as
// they would have.
func (r *replicas) handOffLeadership(ctx context.Context) {
	nh, st := r.host(), r.st
	rec, err := r.staleCluster()
	if err != nil || len(rec.Members) < 2 {
		return
	}
	var others []uint64
	for _, m := range rec.Members {
		if m.ReplicaID != st.ReplicaID {
			others = append(others, m.ReplicaID)
		}
	}
	led := func() []uint64 {
		var out []uint64
		for _, shard := range statedir.AllShards(st.Shards) {
			if leader, _, ok, err := nh.GetLeaderID(shard); err == nil && ok && leader == st.ReplicaID {
				out = append(out, shard)
			}
		}
		return out
	}
	shards := led()
	for i, shard := range shards {
		_ = nh.RequestLeaderTransfer(shard, others[i%len(others)])
	}
	deadline := time.Now().Add(handOffWait)
	for len(shards) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		shards = led()
	}
	if len(shards) > 0 {
		r.node.log.Debug("groups still led here when the Raft node closes", "shards", shards)
	}
}

// handOffWait bounds handOffLeadership's wait.
const handOffWait = 3 * time.Second
