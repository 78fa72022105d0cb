package raftpatch

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// gateSM applies an entry only while its gate is open (or not closed).
type gateSM struct {
	closed *atomic.Bool // nil: never closed
	gate   chan struct{}
	n      uint64
}

func (s *gateSM) Update(sm.Entry) (sm.Result, error) {
	if s.closed != nil && s.closed.Load() {
		<-s.gate
	}
	s.n++
	return sm.Result{Value: s.n}, nil
}
func (s *gateSM) Lookup(any) (any, error) { return s.n, nil }
func (s *gateSM) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (s *gateSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error {
	return nil
}
func (s *gateSM) Close() error { return nil }

const shard = 5

// TestTransferToAReplicaThatIsApplying: a leadership transfer succeeds to a
// replica that has an entry committed and not yet applied (the usual state
// of a follower under writes). Upstream took any such entry for a pending
// membership change and skipped the campaign the transfer asked for; the
// transfer then timed out, and the leader dropped every proposal until it
// did. Replica 3's state machine here holds an entry at the gate while the
// transfer runs.
func TestTransferToAReplicaThatIsApplying(t *testing.T) {
	for _, p := range []string{"dragonboat", "raft", "rsm", "transport", "logdb", "config", "raftpb"} {
		logger.GetLogger(p).SetLevel(logger.CRITICAL)
	}
	addrs := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[id] = l.Addr().String()
		l.Close()
	}
	dir := t.TempDir()
	gate := make(chan struct{})
	var closed atomic.Bool
	hosts := map[uint64]*dragonboat.NodeHost{}
	for id := uint64(1); id <= 3; id++ {
		nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
			NodeHostDir: filepath.Join(dir, strconv.FormatUint(id, 10)), RTTMillisecond: 5, RaftAddress: addrs[id],
			Expert: config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig()},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer nh.Close()
		hosts[id] = nh
		var c *atomic.Bool
		if id == 3 {
			c = &closed
		}
		// vault's settings (vault/raft.go), its election timeout 0.5 s.
		err = nh.StartReplica(addrs, false, func(uint64, uint64) sm.IStateMachine { return &gateSM{closed: c, gate: gate} },
			config.Config{ShardID: shard, ReplicaID: id, ElectionRTT: 100, HeartbeatRTT: 20, CheckQuorum: true, PreVote: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	gateOpen := false
	open := func() {
		if !gateOpen {
			close(gate)
			gateOpen = true
		}
	}
	defer open()

	leader := func(id uint64) uint64 {
		l, _, ok, err := hosts[id].GetLeaderID(shard)
		if err != nil || !ok {
			return 0
		}
		return l
	}
	waitLeader := func(want func(uint64) bool, within time.Duration) uint64 {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if l := leader(1); l != 0 && want(l) && leader(2) == l {
				return l
			}
			time.Sleep(10 * time.Millisecond)
		}
		return 0
	}
	if waitLeader(func(uint64) bool { return true }, 30*time.Second) == 0 {
		t.Fatal("no leader")
	}
	for try := 0; leader(1) == 3; try++ {
		// Replica 3 must be a follower: move the leadership while its
		// gate is open.
		if try == 10 {
			t.Fatal("replica 3 keeps the leadership")
		}
		_ = hosts[3].RequestLeaderTransfer(shard, 1)
		waitLeader(func(l uint64) bool { return l != 3 }, time.Second)
	}
	l := leader(1)
	closed.Store(true)

	// An entry that replica 3 commits and cannot apply.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := hosts[l].SyncPropose(ctx, hosts[l].GetNoOPSession(shard), []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The commit index reaches replica 3 with the next heartbeat.
	time.Sleep(300 * time.Millisecond)

	if err := hosts[l].RequestLeaderTransfer(shard, 3); err != nil {
		t.Fatal(err)
	}
	if got := waitLeader(func(l uint64) bool { return l == 3 }, 3*time.Second); got != 3 {
		t.Fatalf("replica 3 did not take the leadership while applying (leader %d)", leader(1))
	}
	open()
}
