package vault

import (
	"errors"
	"fmt"

	"github.com/lni/dragonboat/v4"

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
