package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lni/dragonboat/v4"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// Defaults for automatic DEK rotation (cluster update --dek-max-age,
// --dek-max-seals). XChaCha20-Poly1305's random nonces put no practical
// limit on seals; the count bounds how much data one key protects.
const (
	DefaultDEKMaxAge   = 30 * 24 * time.Hour
	DefaultDEKMaxSeals = 1 << 30
)

// StartFullRotation rotates the DEK and records it as the target of a full
// rotation, or resumes the one in progress.
func (n *Node) StartFullRotation(ctx context.Context) (*api.RotateResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.startFullRotation(ctx)
}

func (r *replicas) startFullRotation(ctx context.Context) (*api.RotateResponse, error) {
	n := r.node
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.syncKeyrings(ctx); err != nil {
		return nil, err
	}
	w, _, err := r.controlKeyring(ctx)
	if err != nil {
		return nil, err
	}
	if rec.FullRotation != 0 && rec.FullRotation == w.Active() {
		n.log.Info("resuming a full key rotation", "dek_version", rec.FullRotation)
		return &api.RotateResponse{Version: rec.FullRotation, Full: true, Resumed: true}, nil
	}
	v, err := r.rotateDEK(ctx, "full rotation")
	if err != nil {
		return nil, err
	}
	if _, err := r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		rec.FullRotation = v
		return nil
	}); err != nil {
		return nil, err
	}
	return &api.RotateResponse{Version: v, Full: true}, nil
}

// ResealStep re-seals the cluster record under the active DEK, and on
// every manager up to limit secrets (0: as many as it can in
// localResealStep; resealEverywhere), and says how many remain.
func (n *Node) ResealStep(ctx context.Context, limit int) (*api.ResealProgress, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.resealStep(ctx, limit)
}

func (r *replicas) resealStep(ctx context.Context, limit int) (*api.ResealProgress, error) {
	ring := r.ring
	active, err := ring.Active()
	if err != nil {
		return nil, err
	}
	target := active.Version()
	p := &api.ResealProgress{Target: target}
	// The cluster record: any write re-seals it under the active key.
	sc, err := readAs[*raftsm.StoredCluster](ctx, r, raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, err
	}
	if sc != nil {
		if v, err := crypto.EnvelopeKeyVersion(sc.Sealed); err == nil && v != target {
			if _, err := r.updateCluster(ctx, func(*raftsm.ClusterRecord) error { return nil }); err != nil {
				return nil, err
			}
			p.Resealed++
		}
	}
	if err := r.resealEverywhere(ctx, target, limit, p); err != nil {
		return nil, err
	}
	return p, nil
}

// compactLocal snapshots every group on this manager and drops every log
// entry the snapshot covers, so no entry sealed under an old key remains.
func (n *Node) compactLocal(ctx context.Context) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	return r.compactLocal(ctx)
}

func (r *replicas) compactLocal(ctx context.Context) error {
	n := r.node
	nh := r.host()
	t0 := time.Now()
	opt := dragonboat.SnapshotOption{OverrideCompactionOverhead: true, CompactionOverhead: 0}
	for _, shard := range statedir.AllShards(r.st.Shards) {
		if err := n.groupStopped(shard); err != nil {
			return err // its log cannot be compacted behind entries it never applied
		}
		// Catch up first: a linearizable read returns once this replica
		// has applied everything committed before the compaction was
		// asked for (a retirement's keyring change, a rotation's last
		// writes). A replica that lags (its Raft traffic cut, or just
		// slow) would otherwise snapshot and purge before the change,
		// keeping what the change replaces live through the purge, and
		// as an overwritten copy in its files once it caught up.
		if err := r.catchUp(ctx, shard); err != nil {
			return fmt.Errorf("catch up with group %d before compacting it: %w", shard, err)
		}
		var index uint64
		err := withRetry(ctx, "snapshot", func(ctx context.Context) error {
			var err error
			index, err = nh.SyncRequestSnapshot(ctx, shard, opt)
			return err
		})
		if err != nil && !errors.Is(err, dragonboat.ErrRejected) {
			return fmt.Errorf("snapshot group %d: %w", shard, n.explain(err))
		}
		if errors.Is(err, dragonboat.ErrRejected) {
			// Nothing applied since the group's last snapshot, which may
			// have kept entries below it (an automatic one keeps
			// CompactionOverhead of them): the request still cuts the log
			// behind it (third_party/dragonboat/PATCHES.md).
			index = latestSnapshotIndex(nh, shard)
		}
		// The snapshot returns before Dragonboat cuts the log behind it;
		// the flush below must come after the cut, or the entries it
		// removes could still be in a WAL file the flush does not reach.
		if index > 0 {
			waitLogCut(ctx, nh, shard, index)
		}
	}
	// Compacted entries can survive in the Raft log database's write-ahead
	// files. The LogDB never recycles one (third_party/dragonboat,
	// PATCHES.md), and flushing its memtables enough times makes every
	// file written before obsolete and deletes it; compacting the log
	// ranges then rewrites the tables without the deleted entries. Nothing
	// stops: the groups keep their leaders and the writes go on.
	t1 := time.Now()
	if err := nh.FlushLogDB(); err != nil {
		return fmt.Errorf("flush the Raft log database: %w", n.explain(err))
	}
	t2 := time.Now()
	store := r.store
	for _, shard := range statedir.AllShards(r.st.Shards) {
		op, err := nh.RequestCompaction(shard, r.st.ReplicaID)
		if err != nil {
			if !errors.Is(err, dragonboat.ErrRejected) {
				n.log.Debug("log compaction request", "shard", shard, "err", err)
			}
			continue
		}
		select {
		case <-op.ResultC():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t3 := time.Now()
	clean, _ := store.DataRangesClean() // the purge leaves the data ranges as they are
	if err := store.Purge(); err != nil {
		return err
	}
	n.log.Info("compacted", "snapshots", t1.Sub(t0).Round(time.Millisecond), "logdb_flush", t2.Sub(t1).Round(time.Millisecond),
		"log_compaction", t3.Sub(t2).Round(time.Millisecond), "state_purge", time.Since(t3).Round(time.Millisecond), "data_left_as_is", clean)
	return nil
}

// catchUp returns once this replica of shard has applied everything
// committed before it was called. A replica catching up from a snapshot or
// cut off from its leader takes longer than one request's timeout, so it
// reads again until ctx (the compaction's own timeout) ends.
func (r *replicas) catchUp(ctx context.Context, shard uint64) error {
	logged := false
	for {
		_, err := r.read(ctx, shard, raftsm.QueryKeyringEpoch{})
		if err == nil || ctx.Err() != nil || r.node.groupStopped(shard) != nil {
			return err
		}
		if !logged {
			r.node.log.Warn("waiting for a group to catch up before compacting it", "shard", shard, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CompactAll compacts every manager's logs, all at once: a compaction
// takes no group down (compactLocal).
func (n *Node) CompactAll(ctx context.Context) (*api.CompactResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.compactAll(ctx)
}

func (r *replicas) compactAll(ctx context.Context) (*api.CompactResponse, error) {
	n := r.node
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	tm, self := r.tls, r.st.NodeID
	errs := make([]error, len(rec.Members))
	onEveryManager(rec.Members, func(i int, m raftsm.Member) {
		if m.NodeID == self {
			errs[i] = r.compactLocal(ctx)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, compactTimeout+slowWriteMargin)
		errs[i] = n.peerCall(cctx, tm, m.APIAddr, "POST", "/v1/peer/compact", nil, nil)
		cancel()
	})
	resp := &api.CompactResponse{}
	for i, m := range rec.Members {
		if errs[i] != nil {
			return nil, fmt.Errorf("compact manager %s: %w", m.NodeID, errs[i])
		}
		resp.Managers = append(resp.Managers, m.NodeID)
	}
	return resp, nil
}

// FinishFullRotation checks that no manager holds anything under a DEK
// other than the target and clears the rotation marker.
func (n *Node) FinishFullRotation(ctx context.Context) (*api.KeyStatus, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.finishFullRotation(ctx)
}

func (r *replicas) finishFullRotation(ctx context.Context) (*api.KeyStatus, error) {
	n := r.node
	ks, err := r.keyStatus(ctx)
	if err != nil {
		return nil, err
	}
	if len(ks.Unreachable) > 0 {
		return ks, api.Errorf(api.CodeUnavailable, "managers %v did not answer: the rotation cannot be checked on them", ks.Unreachable).
			WithHint("bring them back and run `vault key rotate --full` again: it continues where it stopped")
	}
	var target uint32
	for _, d := range ks.DEKs {
		if d.State == keys.DEKActive.String() {
			target = d.Version
		}
	}
	for _, d := range ks.DEKs {
		if d.Version != target && d.Values+d.LogEntries+d.Snapshots > 0 {
			return ks, api.Errorf(api.CodeConflict, "data key v%d still holds %d values, %d log entries, %d snapshots", d.Version, d.Values, d.LogEntries, d.Snapshots).
				WithHint("run `vault key rotate --full` again: it continues where it stopped")
		}
	}
	if _, err := r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		rec.FullRotation = 0
		return nil
	}); err != nil {
		return nil, err
	}
	n.log.Info("full key rotation finished", "dek_version", target)
	ks.Rotation = 0
	return ks, nil
}

// SetRotationPolicy sets the automatic rotation limits.
func (n *Node) SetRotationPolicy(ctx context.Context, req *api.RotationPolicy) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	return r.setRotationPolicy(ctx, req)
}

func (r *replicas) setRotationPolicy(ctx context.Context, req *api.RotationPolicy) error {
	if req.MaxAge < 0 || (req.MaxAge > 0 && req.MaxAge < time.Minute) {
		return api.Errorf(api.CodeInvalid, "--dek-max-age %s: give at least 1m (or 0 for the default, %s)", req.MaxAge, DefaultDEKMaxAge)
	}
	_, err := r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if req.SetMaxAge {
			rec.DEKMaxAge = int64(req.MaxAge)
		}
		if req.SetMaxSeals {
			rec.DEKMaxSeals = req.MaxSeals
		}
		return nil
	})
	return err
}

// rotationLoop rotates the DEK automatically on the control group's leader.
func (n *Node) rotationLoop(stop <-chan struct{}) {
	every(stop, 10*time.Second, func() {
		if reason := n.rotationDue(); reason != "" {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if _, err := n.RotateDEK(ctx, reason); err != nil {
				n.log.Warn("automatic data key rotation failed; it will be retried", "err", err)
			}
			cancel()
		}
	})
}

// rotationDue says why the active DEK must rotate now ("" if not). Only the
// control group's leader decides.
func (n *Node) rotationDue() string {
	r := n.current()
	if r == nil {
		return ""
	}
	nh, st := r.host(), r.st
	if leader, _, ok, err := nh.GetLeaderID(raftsm.ControlShard); err != nil || !ok || leader != st.ReplicaID {
		return ""
	}
	rec, err := n.staleCluster()
	if err != nil {
		return ""
	}
	sk, err := staleReadAs[*raftsm.StoredKeyring](nh, raftsm.ControlShard, raftsm.QueryKeyringEpoch{})
	if err != nil || sk == nil {
		return ""
	}
	w, err := keys.UnmarshalWrappedKeyring(sk.Ring)
	if err != nil {
		return ""
	}
	d, _ := w.Lookup(w.Active())
	maxAge, maxSeals := time.Duration(rec.DEKMaxAge), rec.DEKMaxSeals
	if maxAge == 0 {
		maxAge = DefaultDEKMaxAge
	}
	if maxSeals == 0 {
		maxSeals = DefaultDEKMaxSeals
	}
	if age := time.Since(time.Unix(0, d.Created)); age > maxAge {
		return fmt.Sprintf("automatic: data key v%d is %s old (limit %s)", d.Version, age.Round(time.Second), maxAge)
	}
	var seals uint64
	for _, shard := range statedir.AllShards(st.Shards) {
		if s, err := staleReadAs[map[uint32]uint64](nh, shard, raftsm.QuerySeals{}); err == nil {
			seals += s[d.Version]
		}
	}
	if seals >= maxSeals {
		return fmt.Sprintf("automatic: data key v%d sealed %d entries (limit %d)", d.Version, seals, maxSeals)
	}
	return ""
}

// latestSnapshotIndex is the index of shard's latest snapshot on nh (0:
// none).
func latestSnapshotIndex(nh *dragonboat.NodeHost, shard uint64) uint64 {
	lr, err := nh.GetLogReader(shard)
	if err != nil {
		return 0
	}
	ss := lr.Snapshot()
	if pb.IsEmptySnapshot(ss) {
		return 0
	}
	defer ss.Unref()
	return ss.Index
}

// waitLogCut waits (briefly) until a group's log starts after index.
func waitLogCut(ctx context.Context, nh *dragonboat.NodeHost, shard, index uint64) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		lr, err := nh.GetLogReader(shard)
		if err != nil {
			return
		}
		if first, _ := lr.GetRange(); first > index {
			return
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
