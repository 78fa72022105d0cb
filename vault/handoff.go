package vault

import (
	"context"
	"time"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// handOffLeadership asks another manager to lead each group this node
// leads, and waits (up to handOffWait) until it leads none, before the
// node stops its Raft replicas (SIGTERM, `vault lock`). Without it the
// groups it led had no leader until an election timeout after it stopped
// (0.5-1 s, and longer while the others' connections to it backed off):
// writes to them stalled on every manager, and a rolling restart stalled
// them once per manager. A transfer that does not happen in time is not
// waited for; those groups elect as they would have.
func (r *replicas) handOffLeadership() {
	nh, st := r.host(), r.st
	rec, err := r.staleCluster()
	if err != nil || len(rec.Members) < 2 {
		return
	}
	// Only to managers that answer and serve: when the whole cluster stops
	// at once, the last one does not wait out handOffWait for nobody.
	pctx, cancel := context.WithTimeout(context.Background(), handOffPing)
	live := r.ping(pctx, rec.Members)
	cancel()
	var others []raftsm.Member
	for _, m := range rec.Members {
		if m.ReplicaID != st.ReplicaID && serves(live, m.NodeID) {
			others = append(others, m)
		}
	}
	if len(others) == 0 {
		return // no other manager serves (or this one is no longer a member)
	}
	var shards []uint64
	for _, shard := range statedir.AllShards(st.Shards) {
		if r.leads(shard) {
			shards = append(shards, shard)
		}
	}
	if len(shards) == 0 {
		return
	}
	// A group is handed off once this replica knows another leader: a
	// replica that merely stepped down (the target's vote request has a
	// higher term) may not have sent its vote yet, and the target may
	// need it to win.
	left := func(shards []uint64) []uint64 {
		var out []uint64
		for _, shard := range shards {
			if leader, _, ok, err := nh.GetLeaderID(shard); err != nil || !ok || leader == 0 || leader == st.ReplicaID {
				out = append(out, shard)
			}
		}
		return out
	}
	// A transfer to a replica that does not catch up within an election
	// timeout is dropped by Raft: ask again, of the next manager.
	start := time.Now()
	deadline := start.Add(handOffWait)
	waiting := shards
	for try := 0; len(waiting) > 0 && time.Now().Before(deadline); try++ {
		for i, shard := range waiting {
			targets := handOffOrder(others, i, func(m raftsm.Member) bool {
				_, ok := r.behind(live[m.NodeID], shard)
				return ok
			})
			_ = nh.RequestLeaderTransfer(shard, targets[try%len(targets)])
		}
		retry := time.Now().Add(electionRTT * rttMillisecond * time.Millisecond)
		for len(waiting) > 0 && time.Now().Before(retry) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			waiting = left(waiting)
		}
	}
	if len(waiting) > 0 {
		r.node.log.Warn("stopping before another manager leads these groups: they elect a leader after an election timeout", "shards", waiting)
		return
	}
	r.node.log.Info("handed off the leadership of its groups", "shards", shards, "took", time.Since(start).Round(time.Millisecond))
}

// handOffOrder is the order in which the hand-off asks the managers in
// others to take the i-th group it leads: those caught up with this
// replica first (a transfer to one still catching up waits until it has,
// or times out), turned by i so that the groups spread over them; those
// behind after them, in case nobody else takes it.
func handOffOrder(others []raftsm.Member, i int, caughtUp func(raftsm.Member) bool) []uint64 {
	var ready, late []uint64
	for _, m := range others {
		if caughtUp(m) {
			ready = append(ready, m.ReplicaID)
		} else {
			late = append(late, m.ReplicaID)
		}
	}
	out := make([]uint64, 0, len(others))
	if len(ready) > 0 {
		k := i % len(ready)
		out = append(append(out, ready[k:]...), ready[:k]...)
	}
	return append(out, late...)
}

// handOffPing bounds the check of which managers serve.
const handOffPing = 300 * time.Millisecond

// handOffWait bounds handOffLeadership's wait: a transfer takes one round
// trip and an election among caught-up replicas.
const handOffWait = 3 * time.Second
