package logdb

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	sm "github.com/lni/dragonboat/v4/statemachine"
	"github.com/lni/vfs"
)

// countingSM counts the entries it applied.
type countingSM struct{ n uint64 }

func (s *countingSM) Update(sm.Entry) (sm.Result, error) { s.n++; return sm.Result{Value: s.n}, nil }
func (s *countingSM) Lookup(any) (any, error)            { return s.n, nil }
func (s *countingSM) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (s *countingSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error {
	return nil
}
func (s *countingSM) Close() error { return nil }

const syncTestShard = 9

// syncTestHost starts replica id of a two-replica group on fs, with the
// LogDB vault uses (expertConfig's layout, one shard). Its election timeout
// is a second, so that a loaded machine does not change terms mid-test.
func syncTestHost(t *testing.T, fs vfs.FS, dir string, id uint64, members map[uint64]string) *dragonboat.NodeHost {
	t.Helper()
	nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
		NodeHostDir: dir, RTTMillisecond: 5, RaftAddress: members[id],
		Expert: config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig(), FS: fs},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = nh.StartReplica(members, false,
		func(uint64, uint64) sm.IStateMachine { return &countingSM{} },
		config.Config{ShardID: syncTestShard, ReplicaID: id, ElectionRTT: 200, HeartbeatRTT: 2, CheckQuorum: true, PreVote: true})
	if err != nil {
		nh.Close()
		t.Fatal(err)
	}
	return nh
}

// propose proposes one entry through nh, retrying while the group has no
// leader.
func propose(t *testing.T, nh *dragonboat.NodeHost) {
	t.Helper()
	proposeCmd(t, nh, []byte("x"))
}

// proposeCmd proposes cmd as one entry through nh, retrying while the
// group has no leader.
func proposeCmd(t *testing.T, nh *dragonboat.NodeHost, cmd []byte) {
	t.Helper()
	if _, err := proposeRetry(nh, cmd); err != nil {
		t.Fatalf("propose: %v", err)
	}
}

// proposeRetry is proposeCmd for callers without a *testing.T: it returns
// the entry's result, or the last error after a minute.
func proposeRetry(nh *dragonboat.NodeHost, cmd []byte) (sm.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		r, err := nh.SyncPropose(ctx, nh.GetNoOPSession(syncTestShard), cmd)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		time.Sleep(5 * time.Millisecond) // no leader yet
	}
}

// quietDragonboat keeps Dragonboat's own logging to errors.
func quietDragonboat() {
	for _, p := range []string{"dragonboat", "raft", "rsm", "transport", "logdb", "raftpb", "config", "settings", "grpc", "pebblekv", "registry"} {
		logger.GetLogger(p).SetLevel(logger.ERROR)
	}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitApplied polls until nh's replica has applied n entries.
func waitApplied(t *testing.T, nh *dragonboat.NodeHost, n uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := nh.StaleRead(syncTestShard, nil)
		if err == nil && v.(uint64) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica has not applied %d entries after a minute: %v, %v", n, v, err)
		}
		time.Sleep(5 * time.Millisecond) // not ready yet, or behind
	}
}

// TestCommitOnlySaveIsNotSynced checks the LogDB patch in
// third_party/dragonboat: a Raft state save in which only the commit index
// moved is written without a sync, while entries stay synced. A replica
// of a two-replica group (so a commit needs its acknowledgement, which it
// sends only once the entry is saved) loses everything unsynced in a
// simulated power cut right after it learned the last commit: it must come
// back with every entry, a persisted commit index behind the last entry,
// and then catch up and serve.
func TestCommitOnlySaveIsNotSynced(t *testing.T) {
	quietDragonboat()
	members := map[uint64]string{}
	for id := uint64(1); id <= 2; id++ {
		members[id] = freeAddr(t)
	}
	fsA, fsB := vfs.NewStrictMem(), vfs.NewStrictMem()
	a := syncTestHost(t, fsA, "/nh", 1, members)
	defer a.Close()
	b := syncTestHost(t, fsB, "/nh", 2, members)
	bOpen := true
	defer func() {
		if bOpen {
			b.Close()
		}
	}()

	// A new term after the last entry is a synced save that would carry
	// the commit index with it: then the cut proves nothing, and the test
	// writes one more entry and cuts again (elections are rare with the
	// one-second election timeout used here).
	n := uint64(0)
	for attempt := 1; ; attempt++ {
		for range 10 {
			propose(t, a)
			n++
		}
		// b applied every entry, so it knows the last one is committed
		// and has saved that commit index, synced or not (the save runs
		// beside the apply: give it a moment).
		waitApplied(t, b, n)
		time.Sleep(200 * time.Millisecond)
		lr, err := b.GetLogReader(syncTestShard)
		if err != nil {
			t.Fatal(err)
		}
		_, last := lr.GetRange()
		lastTerm, err := lr.Term(last)
		if err != nil {
			t.Fatal(err)
		}

		// Power cut on b: what was not synced is gone.
		fsB.SetIgnoreSyncs(true)
		b.Close()
		bOpen = false
		fsB.ResetToSyncedState()
		fsB.SetIgnoreSyncs(false)

		b = syncTestHost(t, fsB, "/nh", 2, members)
		bOpen = true
		if lr, err = b.GetLogReader(syncTestShard); err != nil {
			t.Fatal(err)
		}
		st, _ := lr.NodeState()
		_, last2 := lr.GetRange()
		t.Logf("attempt %d: before the cut: last entry %d (term %d); after: last entry %d, persisted commit %d, term %d",
			attempt, last, lastTerm, last2, st.Commit, st.Term)
		if last2 != last {
			t.Fatalf("after the power cut the log ends at %d, want %d: a saved entry was not synced", last2, last)
		}
		if st.Term != lastTerm {
			if attempt == 3 {
				t.Fatalf("a new term after the last entry in each of %d attempts", attempt)
			}
			waitApplied(t, b, n)
			continue
		}
		if st.Commit >= last {
			t.Fatalf("after the power cut the persisted commit index is %d, the last entry %d: "+
				"the save that only moved the commit index was synced (is go.mod's replace of Dragonboat in place?)", st.Commit, last)
		}
		if st.Commit == 0 {
			t.Fatalf("after the power cut no commit index was persisted")
		}
		break
	}
	// b learns the commit again, applies every entry and serves.
	waitApplied(t, b, n)
	propose(t, b)
	waitApplied(t, a, n+1)
	waitApplied(t, b, n+1)
}
