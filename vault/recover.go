package vault

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/tools"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/backup"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// importSnapshot is Dragonboat's repair tool: the NodeHost must be closed.
func importSnapshot(cfg config.NodeHostConfig, dir string, members map[uint64]string, replicaID uint64) error {
	return tools.ImportSnapshot(cfg, dir, members, replicaID)
}

// Recover makes this manager the only member of its cluster, with every
// write it has applied, after the cluster lost its quorum for good (Swarm's
// `--force-new-cluster`). Writes the other managers committed and this one
// had not applied are lost. With dryRun it only says what it would do.
//
// It needs the running phase: a locked manager is unlocked first (with the
// unlock key or shares), which works without a quorum.
func (n *Node) Recover(ctx context.Context, dryRun bool) (*api.RecoverResponse, error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	st := r.st
	// No quorum to read through: this manager's own applied state.
	sc, err := readAs[*raftsm.StoredCluster](WithStaleReads(ctx), n, raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, err
	}
	rec, err := n.openCluster(sc)
	if err != nil {
		return nil, err
	}
	if rec.Member(st.NodeID) == nil {
		return nil, api.Errorf(api.CodeInvalid, "this node is not a manager of its cluster as far as it knows").
			WithHint("run `vault cluster recover` on a manager that is")
	}
	resp := &api.RecoverResponse{NodeID: st.NodeID}
	old := map[uint64]string{}
	for _, m := range rec.Members {
		old[m.ReplicaID] = m.Addr
		if m.NodeID != st.NodeID {
			resp.Removed = append(resp.Removed, m.NodeID)
		}
	}
	nh := r.host()
	for _, shard := range statedir.AllShards(st.Shards) {
		g := api.RecoverGroup{Shard: shard}
		if v, err := r.store.NewView(shard); err == nil {
			g.Applied = v.Applied()
			v.Close()
		}
		_, _, g.Leader, _ = nh.GetLeaderID(shard)
		resp.Groups = append(resp.Groups, g)
	}
	if dryRun {
		return resp, nil
	}
	if rec.KEKChange != nil {
		// The change cannot finish without the removed managers; the
		// recovered cluster keeps the KEK this manager holds.
		n.log.Warn("recovering during a KEK change: the change is dropped; this manager keeps the key it holds", "phase", rec.KEKChange.Phase)
		rec.KEKChange = nil
	}
	now := time.Now()
	self := *rec.Member(st.NodeID)
	for _, m := range rec.Members {
		if m.NodeID != st.NodeID {
			rec.Removed = append(rec.Removed, raftsm.RemovedMember{NodeID: m.NodeID, CertSerial: m.CertSerial, Removed: now.UnixNano()})
		}
	}
	rec.Members = []raftsm.Member{self}
	cluster, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer statedir.Wipe(cluster)

	dir, err := os.MkdirTemp(n.cfg.StateDir, snapshotTmpPrefix)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The Raft term of each group goes with its state into the import.
	terms := map[uint64]uint64{}
	for _, shard := range statedir.AllShards(st.Shards) {
		_, terms[shard], _, _ = nh.GetLeaderID(shard)
	}
	n.log.Warn("recovering: this manager becomes the only member of the cluster", "removed", len(resp.Removed))
	// Stopped first: what the replicas applied is then final, and read
	// from the store as it is (a replica that applied nothing since its
	// start has no membership for Dragonboat to export).
	nh.Close()
	fail := func(err error) (*api.RecoverResponse, error) {
		// The NodeHost is closed and some groups may be rewritten: a
		// restart of the daemon opens what is there.
		return nil, fmt.Errorf("recover: %w (restart the daemon, then run `vault cluster recover` again)", err)
	}
	dek, err := r.ring.Active()
	if err != nil {
		return fail(err)
	}
	var groups []exportedGroup
	for _, shard := range statedir.AllShards(st.Shards) {
		g, err := localGroup(r.store, dek, shard, dir)
		if err != nil {
			return fail(err)
		}
		g.Term = terms[shard]
		groups = append(groups, g)
	}
	err = n.importGroups(st, r.tls, r.ring, dir, groups, func(i int) (io.Reader, error) {
		return os.Open(groups[i].stream)
	}, nil, cluster, old)
	if err != nil {
		return fail(err)
	}
	nh2, err := n.openNodeHost(r, nil, false)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.nh = nh2
	r.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.waitReadyOrStopped(wctx, nh2, statedir.AllShards(st.Shards)); err != nil {
		return nil, err
	}
	if err := n.touchGroups(wctx, statedir.AllShards(st.Shards)); err != nil {
		return nil, err
	}
	if _, _, err := n.readCluster(wctx); err != nil {
		return nil, err
	}
	for i, g := range groups {
		resp.Groups[i].Applied = g.Index
		resp.Groups[i].Leader = true
	}
	resp.Done = true
	n.log.Info("recovered: this manager is the only member of the cluster; add managers with `vault cluster join`")
	return resp, nil
}

// touchGroups makes every group apply one entry that changes nothing (its
// keyring, proposed again). Dragonboat's import records no on-disk index
// for the imported snapshot, and a replica streams its state to a new
// member only once it applied an entry after it: without this, managers
// that join a restored or recovered cluster would take the snapshot's
// index and not its state.
func (n *Node) touchGroups(ctx context.Context, shards []uint64) error {
	for _, shard := range shards {
		sk, err := readAs[*raftsm.StoredKeyring](ctx, n, shard, raftsm.QueryKeyringEpoch{})
		if err != nil {
			return err
		}
		if sk == nil {
			return fmt.Errorf("group %d has no keyring", shard)
		}
		if _, err := n.propose(ctx, shard, &raftsm.Command{
			Op: raftsm.OpKeyringSet, RequestID: newRequestID(), Time: time.Now().UnixNano(),
			Keyring: sk.Ring, KeyringEpoch: sk.Epoch,
		}); err != nil {
			return fmt.Errorf("group %d: %w", shard, err)
		}
	}
	return nil
}

// localGroup writes shard's state as this node's store holds it as a
// sealed snapshot stream (what the state machine's SaveSnapshot writes)
// into dir.
func localGroup(store *raftsm.Store, dek *crypto.Key, shard uint64, dir string) (exportedGroup, error) {
	v, err := store.NewView(shard)
	if err != nil {
		return exportedGroup{}, fmt.Errorf("group %d: %w", shard, err)
	}
	defer v.Close()
	g := exportedGroup{Group: backup.Group{Shard: shard, Index: v.Applied()}, stream: filepath.Join(dir, fmt.Sprintf("local-%d", shard))}
	f, err := os.OpenFile(g.stream, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return exportedGroup{}, err
	}
	defer f.Close()
	sw, err := crypto.NewStreamWriter(f, dek, raftsm.SnapshotBinding(shard))
	if err != nil {
		return exportedGroup{}, err
	}
	bw := bufio.NewWriterSize(sw, 1<<16)
	err = raftsm.WriteSnapshot(bw, shard, v.Applied(), func(emit func(k, v []byte) error) error {
		return v.Walk(func(r raftsm.StateRecord) error {
			if r.Err != nil {
				return r.Err
			}
			if r.Key.Kind == raftsm.SubApplied {
				return nil
			}
			return emit(r.Raw, r.Value)
		})
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = sw.Close()
	}
	if err != nil {
		return exportedGroup{}, fmt.Errorf("group %d: %w", shard, err)
	}
	return g, f.Close()
}
