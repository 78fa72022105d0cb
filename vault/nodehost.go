package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// openNodeHost creates the NodeHost and starts every replica on it.
// Its hooks act on r, whose NodeHost it becomes.
func (n *Node) openNodeHost(r *replicas, members map[uint64]string, join bool) (*dragonboat.NodeHost, error) {
	st, store, ring, tm := r.st, r.store, r.ring, r.tls
	nh, err := dragonboat.NewNodeHost(n.nodeHostConfig(st, tm))
	if err == nil && nh == nil { // it recovered a panic of its own (logged by dbLogger)
		err = errors.New("the Raft library failed to start; its error is logged above")
	}
	if err != nil {
		if isHostnameChange(err) {
			return nil, fmt.Errorf("start raft: the hostname changed since this state dir was created: %w", err)
		}
		return nil, fmt.Errorf("start raft on %s: %w", st.RaftAddr, err)
	}
	n.resetStopped() // every replica starts again
	create, err := raftsm.NewFactory(store, raftsm.Hooks{
		Keys:           ring,
		SnapshotKey:    ring.Active,
		KeyringApplied: func(shard uint64, b []byte, epoch uint64) { n.keyringApplied(r, shard, b, epoch) },
		SecretsChanged: n.secretsChanged,
		ReplicaFailed:  func(f *raftsm.ReplicaFailure) { n.replicaFailed(nh, f) },
		Observer:       n.raftObserver(),
		Opened:         r.machines.opened,
	})
	if err == nil {
		err = n.startReplicas(nh, st, create, members, join)
	}
	if err != nil {
		nh.Close()
		return nil, err
	}
	return nh, nil
}

// restartRaft closes and reopens the NodeHost; keys stay in memory.
// Requests meanwhile wait and retry.
func (r *replicas) restartRaft(ctx context.Context) error {
	if err := r.live(); err != nil {
		return err
	}
	n, st := r.node, r.st
	r.handOffLeadership(ctx)
	r.host().Close()
	nh2, err := n.openNodeHost(r, nil, false)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nh = nh2
	r.mu.Unlock()
	// Back only once every group has a leader again, so that the managers
	// an operation reopens one after another never take a quorum down.
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.waitReadyOrStopped(wctx, nh2, statedir.AllShards(st.Shards)); err != nil {
		return err
	}
	n.log.Info("reopened the Raft log database")
	return nil
}
