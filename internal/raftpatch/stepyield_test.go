package raftpatch

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// batchSM records how many entries each Update is given.
type batchSM struct {
	mu      sync.Mutex
	batches []int
}

func (s *batchSM) Update(es []sm.Entry) ([]sm.Entry, error) {
	n := 0
	for i := range es {
		if len(es[i].Cmd) > 0 {
			n++
		}
		es[i].Result = sm.Result{Value: es[i].Index}
	}
	if n > 0 {
		s.mu.Lock()
		s.batches = append(s.batches, n)
		s.mu.Unlock()
	}
	return es, nil
}

func (s *batchSM) take() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches
	s.batches = nil
	return b
}

func (s *batchSM) Lookup(any) (any, error)       { return nil, nil }
func (s *batchSM) PrepareSnapshot() (any, error) { return nil, nil }
func (s *batchSM) SaveSnapshot(any, io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (s *batchSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error {
	return nil
}
func (s *batchSM) Close() error { return nil }

// TestStepWorkerTakesWhatIsReadyToPropose: a step worker woken for work
// yields once before it takes the work (PATCHES.md, "A woken step worker
// lets ready goroutines go first"). Upstream's worker, woken by the first
// of many proposers that are all ready to run, stepped that one proposal
// alone (it ran as soon as its proposer waited), saved and committed it,
// and so on: a save and an apply each for about every proposal. With one P,
// so that the order in which goroutines run is the scheduler's alone,
// proposers released together must reach the state machine in a few
// batches. Upstream's worker took 48 proposals in a median of 22-26 batches
// in three runs (one proposal a batch, then the rest); patched, 1 or 2.
func TestStepWorkerTakesWhatIsReadyToPropose(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const shard, proposers, rounds = 1, 48, 5
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
		NodeHostDir: filepath.Join(t.TempDir(), "nh"), RTTMillisecond: 5, RaftAddress: addr,
		Expert: config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	rec := &batchSM{}
	err = nh.StartConcurrentReplica(map[uint64]string{1: addr}, false,
		func(uint64, uint64) sm.IConcurrentStateMachine { return rec },
		config.Config{ShardID: shard, ReplicaID: 1, ElectionRTT: 100, HeartbeatRTT: 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, _, ok, _ := nh.GetLeaderID(shard); ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The first proposal, alone: the replica is ready for the rounds.
	if _, err := nh.SyncPropose(ctx, nh.GetNoOPSession(shard), []byte("x")); err != nil {
		t.Fatal(err)
	}
	rec.take()

	var counts []int
	for r := 0; r < rounds; r++ {
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, proposers)
		for i := 0; i < proposers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := nh.SyncPropose(ctx, nh.GetNoOPSession(shard), []byte("x")); err != nil {
					errs <- err
				}
			}()
		}
		time.Sleep(20 * time.Millisecond) // every proposer waits at start
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		b := rec.take()
		total := 0
		for _, n := range b {
			total += n
		}
		if total != proposers {
			t.Fatalf("round %d: %d entries applied in %v, want %d", r, total, b, proposers)
		}
		counts = append(counts, len(b))
		t.Logf("round %d: %d proposals in %d batches %v", r, proposers, len(b), b)
	}
	sort.Ints(counts)
	if median := counts[len(counts)/2]; median > 4 {
		t.Fatalf("%d proposals ready together reached the state machine in a median of %d batches (rounds: %v), want at most 4: the step worker does not take what is ready", proposers, median, counts)
	}
}
