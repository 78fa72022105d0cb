package metrics

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

type countSM struct{ n uint64 }

func (s *countSM) Update(e sm.Entry) (sm.Result, error) { s.n++; return sm.Result{Value: s.n}, nil }
func (s *countSM) Lookup(any) (any, error)              { return s.n, nil }
func (s *countSM) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (s *countSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error {
	return nil
}
func (s *countSM) Close() error { return nil }

// startNodeHost starts a one-replica Dragonboat group (shard 7) with its
// metrics on.
func startNodeHost(tb testing.TB) *dragonboat.NodeHost {
	tb.Helper()
	for _, p := range []string{"dragonboat", "raft", "rsm", "transport", "logdb", "raftpb", "config", "settings", "grpc", "pebblekv", "registry"} {
		logger.GetLogger(p).SetLevel(logger.ERROR)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	nhc := config.NodeHostConfig{
		NodeHostDir: tb.TempDir(), RTTMillisecond: 5, RaftAddress: addr, EnableMetrics: true,
		Expert: config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig()},
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nh.Close)
	err = nh.StartReplica(map[uint64]string{1: addr}, false,
		func(uint64, uint64) sm.IStateMachine { return &countSM{} },
		config.Config{ShardID: 7, ReplicaID: 1, ElectionRTT: 10, HeartbeatRTT: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return nh
}

func propose(tb testing.TB, nh *dragonboat.NodeHost, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 0; i < n; {
		if _, err := nh.SyncPropose(ctx, nh.GetNoOPSession(7), []byte("x")); err != nil {
			if ctx.Err() != nil {
				tb.Fatalf("propose: %v", err)
			}
			time.Sleep(time.Millisecond) // no leader yet: poll
			continue
		}
		i++
	}
}

// TestDragonboatNodeHost runs a real NodeHost with EnableMetrics: its
// per-replica metrics reach the same exposition as vault's, typed.
func TestDragonboatNodeHost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Dragonboat NodeHost")
	}
	nh := startNodeHost(t)
	propose(t, nh, 5)
	m := New(Options{NoProcess: true})
	text := string(exposition(t, m))
	for _, want := range []string{
		`dragonboat_raftnode_has_leader{replicaid="1",shardid="7"} 1`,
		`# TYPE dragonboat_raftnode_campaign_launched_total counter`,
		`# TYPE dragonboat_transport_message_connections gauge`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %q", want)
		}
	}
	runPromtool(t, "", []byte(text), "check", "metrics")
}
