package vault

import (
	"log/slog"

	"github.com/lni/dragonboat/v4/raftio"

	"github.com/vaultd/vault/internal/metrics"
)

// events turns the Raft events an operator cares about into log lines.
// Dragonboat calls these from one goroutine: they must not block.
type events struct {
	log     *slog.Logger
	m       *metrics.Metrics // nil: off
	leaders *leaderWatch
}

var (
	_ raftio.ISystemEventListener = events{}
	_ raftio.IRaftEventListener   = events{}
)

func (e events) LeaderUpdated(i raftio.LeaderInfo) {
	e.leaders.changed(i.ShardID, i.LeaderID)
	e.m.LeaderChanged(i.ShardID, i.LeaderID)
	if i.LeaderID != 0 {
		e.log.Debug("group leader", "shard", i.ShardID, "leader_replica", i.LeaderID, "term", i.Term)
	}
}
func (events) NodeHostShuttingDown()        {}
func (events) NodeUnloaded(raftio.NodeInfo) {}
func (events) NodeDeleted(raftio.NodeInfo)  {}
func (events) NodeReady(raftio.NodeInfo)    {}
func (e events) MembershipChanged(i raftio.NodeInfo) {
	e.log.Debug("group membership changed", "shard", i.ShardID)
}
func (events) ConnectionEstablished(raftio.ConnectionInfo) {}
func (events) ConnectionFailed(raftio.ConnectionInfo)      {}
func (e events) SendSnapshotStarted(i raftio.SnapshotInfo) {
	e.log.Info("sending a snapshot to a manager that fell behind", "shard", i.ShardID, "to_replica", i.ReplicaID, "index", i.Index)
}
func (events) SendSnapshotCompleted(raftio.SnapshotInfo) {}
func (e events) SendSnapshotAborted(i raftio.SnapshotInfo) {
	e.log.Warn("sending a snapshot was aborted; it will be retried", "shard", i.ShardID, "to_replica", i.ReplicaID)
}
func (e events) SnapshotReceived(i raftio.SnapshotInfo) {
	e.log.Info("caught up from a snapshot sent by another manager", "shard", i.ShardID, "from_replica", i.From, "index", i.Index)
}
func (events) SnapshotRecovered(raftio.SnapshotInfo) {}
func (events) SnapshotCreated(raftio.SnapshotInfo)   {}
func (events) SnapshotCompacted(raftio.SnapshotInfo) {}
func (events) LogCompacted(raftio.EntryInfo)         {}
func (events) LogDBCompacted(raftio.EntryInfo)       {}
