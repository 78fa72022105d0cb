package vault

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// pingTimeout bounds one liveness check of another manager.
const pingTimeout = time.Second

// ping asks every member for its status, concurrently. Members that answer
// are recorded as live.
func (n *Node) ping(ctx context.Context, members []raftsm.Member) map[string]*peerStatus {
	r := n.current()
	if r == nil {
		return map[string]*peerStatus{}
	}
	return r.ping(ctx, members)
}

func (r *replicas) ping(ctx context.Context, members []raftsm.Member) map[string]*peerStatus {
	n := r.node
	out := map[string]*peerStatus{}
	tm, self := r.tls, r.st
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range members {
		if m.NodeID == self.NodeID {
			mu.Lock()
			out[m.NodeID] = n.selfPeerStatus()
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			var ps peerStatus
			err := n.peerCall(cctx, tm, m.APIAddr, "GET", "/v1/peer/status", nil, &ps)
			if err == nil && ps.NodeID == m.NodeID {
				mu.Lock()
				out[m.NodeID] = &ps
				mu.Unlock()
			}
			if removedPeerError(err) {
				n.noteRemoved("manager " + m.NodeID + " refused this node's certificate as removed")
			}
		}()
	}
	wg.Wait()
	n.liveMu.Lock()
	if n.live == nil {
		n.live = map[string]time.Time{}
	}
	for id := range out {
		n.live[id] = time.Now()
	}
	n.liveMu.Unlock()
	return out
}

// quorumError explains a request that timed out: how many managers answer.
func (n *Node) quorumError(what string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*pingTimeout)
	defer cancel()
	members := n.cachedMembers()
	if len(members) == 0 {
		return api.Errorf(api.CodeUnavailable, "%s: the Raft group did not answer", what)
	}
	// A locked manager answers but runs no Raft replica: it does not vote.
	up, locked := 0, 0
	for _, ps := range n.ping(ctx, members) {
		if ps.Locked {
			locked++
		} else {
			up++
		}
	}
	lockedNote := ""
	if locked > 0 {
		lockedNote = fmt.Sprintf(", %d more locked", locked)
	}
	if need := len(members)/2 + 1; up >= need {
		return api.Errorf(api.CodeUnavailable, "%s: the Raft group did not answer in time, though %d of %d managers are reachable and unlocked%s", what, up, len(members), lockedNote).
			WithHint("a leader election or a manager catching up may be in progress: retry")
	}
	return api.Errorf(api.CodeUnavailable, "no quorum: %d of %d managers reachable and unlocked%s (%s needs %d)", up, len(members), lockedNote, what, len(members)/2+1).
		WithHint("bring managers back or restore their network, and `vault unlock` locked ones; requests succeed again by themselves once a quorum is up")
}

// cachedMembers reads the membership from this node's own applied state,
// without a quorum (the control group's Raft membership).
func (n *Node) cachedMembers() []raftsm.Member {
	rec, err := n.staleCluster()
	if err != nil {
		return nil
	}
	return rec.Members
}

// staleCluster reads the cluster record from local state (no quorum needed).
func (n *Node) staleCluster() (*raftsm.ClusterRecord, error) {
	r := n.current()
	if r == nil {
		return nil, fmt.Errorf("not running")
	}
	return r.staleCluster()
}

func (r *replicas) staleCluster() (*raftsm.ClusterRecord, error) {
	sc, err := staleReadAs[*raftsm.StoredCluster](r.host(), raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, err
	}
	return r.openCluster(sc)
}

// NodeList lists the managers with their status and leadership counts.
func (n *Node) NodeList(ctx context.Context) ([]api.Node, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.nodeList(ctx)
}

func (r *replicas) nodeList(ctx context.Context) ([]api.Node, error) {
	n := r.node
	nh := r.host()
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		// Without a quorum, show what this node last applied: the operator
		// needs the list most when managers are down.
		if rec, err = r.staleCluster(); err != nil {
			return nil, err
		}
	}
	live := r.ping(ctx, rec.Members)
	locked := lockedPeers(ctx, rec.Members, live)
	leads, secretLeads := map[uint64]int{}, map[uint64]int{}
	for _, shard := range statedir.AllShards(rec.Shards) {
		if id, _, ok, err := nh.GetLeaderID(shard); err == nil && ok {
			leads[id]++
			if shard != raftsm.ControlShard {
				secretLeads[id]++
			}
		}
	}
	self := n.Status().NodeID
	var out []api.Node
	for _, m := range rec.Members {
		status := "unreachable"
		if ps, ok := live[m.NodeID]; ok {
			status = "ready"
			if ps.Locked {
				status = "locked"
			}
		} else if locked[m.NodeID] {
			status = "locked"
		}
		out = append(out, api.Node{
			ID: m.NodeID, Addr: m.Addr, APIAddr: m.APIAddr, Role: m.Role, Status: status,
			Leader: leads[m.ReplicaID], Groups: rec.Shards + 1, SecretLeader: secretLeads[m.ReplicaID], Self: m.NodeID == self,
			JoinedAt: time.Unix(0, m.Joined).UTC(), Labels: rec.NodeLabels[m.NodeID],
		})
	}
	out = append(out, n.workerNodes(ctx, rec)...)
	sort.Slice(out, func(i, j int) bool { return out[i].JoinedAt.Before(out[j].JoinedAt) })
	return out, nil
}

// findMember resolves a node id or unique prefix.
func findMember(rec *raftsm.ClusterRecord, ref string) (*raftsm.Member, error) {
	var found []*raftsm.Member
	for i, m := range rec.Members {
		if m.NodeID == ref {
			return &rec.Members[i], nil
		}
		if ref != "" && strings.HasPrefix(m.NodeID, ref) {
			found = append(found, &rec.Members[i])
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, api.Errorf(api.CodeNotFound, "no such node: %s", ref).WithHint("`vault node ls` lists the managers")
	}
	return nil, api.Errorf(api.CodeAmbiguous, "%q matches %d nodes", ref, len(found)).WithHint("give more of the id")
}

// RemoveNode removes another manager from every group.
func (n *Node) RemoveNode(ctx context.Context, ref string, force bool) (*api.Node, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.removeNode(ctx, ref, force)
}

func (r *replicas) removeNode(ctx context.Context, ref string, force bool) (*api.Node, error) {
	n := r.node
	nh := r.host()
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if id, _, err := findNode(rec, ref); err == nil && rec.Worker(id) != nil {
		return n.removeWorker(ctx, id)
	}
	m, err := findMember(rec, ref)
	if err != nil {
		return nil, err
	}
	if m.NodeID == n.Status().NodeID {
		return nil, api.Errorf(api.CodeInvalid, "node %s is this node", m.NodeID).
			WithHint("to take this node out, run `vault cluster leave` here")
	}
	live := r.ping(ctx, rec.Members)
	if !force {
		if _, up := live[m.NodeID]; up {
			return nil, api.Errorf(api.CodeInvalid, "node %s is up and reachable", m.NodeID).
				WithHint("run `vault cluster leave` on it, or use --force")
		}
		if err := quorumAfter(rec.Members, live, m.NodeID); err != nil {
			return nil, err
		}
	}
	removed := *m
	if err := n.dropMember(ctx, nh, &removed); err != nil {
		return nil, err
	}
	n.log.Info("manager removed", "node_id", removed.NodeID, "replica_id", removed.ReplicaID)
	return &api.Node{ID: removed.NodeID, Addr: removed.Addr, Role: removed.Role}, nil
}

// quorumAfter refuses a removal that would leave fewer live managers than a
// quorum of those that remain.
func quorumAfter(members []raftsm.Member, live map[string]*peerStatus, leaving string) error {
	remain, up := 0, 0
	for _, m := range members {
		if m.NodeID == leaving {
			continue
		}
		remain++
		if _, ok := live[m.NodeID]; ok {
			up++
		}
	}
	if remain == 0 {
		return api.Errorf(api.CodeInvalid, "this is the last manager: leaving would end the cluster").
			WithHint("use --force to end it anyway")
	}
	if need := remain/2 + 1; up < need {
		return api.Errorf(api.CodeInvalid, "no quorum after this: %d of %d remaining managers are reachable, %d needed", up, remain, need).
			WithHint("bring managers back first, or use --force")
	}
	return nil
}

// Leave takes this node out of the cluster and wipes its cluster state.
func (n *Node) Leave(ctx context.Context, force bool) error {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	r, err := n.running()
	if err != nil {
		return err
	}
	nh := r.host()
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return err
	}
	self := rec.Member(r.st.NodeID)
	if self == nil {
		return api.Errorf(api.CodeInternal, "this node is not in the cluster record")
	}
	live := r.ping(ctx, rec.Members)
	if err := quorumAfter(rec.Members, live, self.NodeID); err != nil && !force {
		return err
	}
	if len(rec.Members) > 1 {
		// Another manager removes this one: once the record lists this
		// node as removed, its own Raft connections are refused, so it
		// could not finish the removal itself.
		n.rv.leaving.Store(true)
		err := n.leaveThroughPeer(ctx, rec.Members, live)
		if err != nil && force {
			n.log.Warn("no other manager could remove this node; removing it from here", "err", err)
			me := *self
			err = n.dropMember(ctx, nh, &me)
		}
		if err != nil {
			n.rv.leaving.Store(false)
			return api.Errorf(api.CodeUnavailable, "leave: %v", err).
				WithHint("retry once another manager is reachable, or use --force")
		}
	}
	n.log.Info("left the cluster", "node_id", self.NodeID)
	n.shutdownRaft()
	n.rv.access.Store(nil) // this cluster's; a cluster joined next has its own
	n.rv.leaving.Store(false)
	return n.removeClusterFiles()
}

// balanceLoop spreads group leadership across managers: every few seconds,
// a node leading a group whose preferred leader (by group number, over the
// members in join order) is another live manager hands leadership over.
func (n *Node) balanceLoop(stop <-chan struct{}) {
	every(stop, 3*time.Second, n.balanceOnce)
}

func (n *Node) balanceOnce() {
	r := n.current()
	if r == nil {
		return
	}
	nh, st := r.host(), r.st
	rec, err := r.staleCluster()
	if err != nil || len(rec.Members) < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*pingTimeout)
	defer cancel()
	live := r.ping(ctx, rec.Members)
	members := slices.Clone(rec.Members)
	sort.Slice(members, func(i, j int) bool { return members[i].ReplicaID < members[j].ReplicaID })
	for i, shard := range statedir.AllShards(rec.Shards) {
		if !r.leads(shard) {
			continue
		}
		want := members[i%len(members)]
		if want.ReplicaID == st.ReplicaID || !serves(live, want.NodeID) {
			continue
		}
		// A manager that restarted answers before it has caught up; a
		// transfer to it stops this leader taking writes until it has
		// (or the transfer times out), every round while it catches up.
		if lag, ok := r.behind(live[want.NodeID], shard); !ok {
			n.log.Debug("not handing group leadership over yet: the manager is catching up", "shard", shard, "to", want.NodeID, "entries_behind", lag)
			continue
		}
		if err := nh.RequestLeaderTransfer(shard, want.ReplicaID); err == nil {
			n.log.Debug("handing group leadership over", "shard", shard, "to", want.NodeID)
		}
	}
}

// maxTransferLag is how many entries a manager's replica may be behind
// this one's and still be handed the group's leadership: a Raft transfer
// waits until the target holds the leader's whole log, and a few hundred
// entries reach it in milliseconds, where a replica further behind may
// need a snapshot first.
const maxTransferLag = 1000

// transferLag is maxTransferLag, or less where the leader keeps less of its
// log behind a snapshot: Dragonboat cuts the log compactionOverhead
// entries behind each snapshot, so a replica within that many entries can
// always be caught up from the log. With the default --snapshot-entries
// (10,000) both are 1,000.
func transferLag(snapshotEntries uint64) uint64 {
	return min(maxTransferLag, compactionOverhead(snapshotEntries))
}

// behind says how many entries of shard ps's manager has yet to apply
// that this replica has, and whether that is few enough to hand it the
// group's leadership (transferLag). A manager of an earlier version does
// not say how far it is (ok, as before it was asked); one that holds no
// replica of the group is not ok.
func (r *replicas) behind(ps *peerStatus, shard uint64) (lag uint64, ok bool) {
	if ps == nil || ps.Applied == nil {
		return 0, true
	}
	theirs, has := ps.Applied[shard]
	if !has {
		return 0, false
	}
	var ours uint64
	if s := r.machines.get(shard); s != nil {
		ours = s.Applied()
	}
	return catchUpLag(ours, theirs, transferLag(r.node.cfg.SnapshotEntries))
}

// catchUpLag is behind's rule: a replica that has applied theirs, against
// ours here, is within limit entries.
func catchUpLag(ours, theirs, limit uint64) (lag uint64, ok bool) {
	if theirs >= ours {
		return 0, true
	}
	lag = ours - theirs
	return lag, lag <= limit
}

// appliedTotal is the sum of the groups' applied indexes on this manager:
// it moves whenever any group applies an entry.
func (r *replicas) appliedTotal() uint64 {
	var total uint64
	for _, i := range r.applied() {
		total += i
	}
	return total
}

// applied is each group's last applied index on this manager.
func (r *replicas) applied() map[uint64]uint64 {
	out := map[uint64]uint64{}
	for _, shard := range statedir.AllShards(r.st.Shards) {
		if s := r.machines.get(shard); s != nil {
			out[shard] = s.Applied()
		}
	}
	return out
}

// leads reports whether this replica leads shard, as far as it knows.
func (r *replicas) leads(shard uint64) bool {
	leader, _, ok, err := r.host().GetLeaderID(shard)
	return err == nil && ok && leader == r.st.ReplicaID
}

// serves reports whether the member answered ping (live) ready and
// unlocked: one that can take a group's leadership.
func serves(live map[string]*peerStatus, nodeID string) bool {
	ps, ok := live[nodeID]
	return ok && ps.Ready && !ps.Locked
}

// onEveryManager runs f for each member at once (i is its index in
// members) and returns once every call has.
func onEveryManager(members []raftsm.Member, f func(i int, m raftsm.Member)) {
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i, m)
		}()
	}
	wg.Wait()
}
