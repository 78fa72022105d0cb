//go:build measure

package vault

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// TestMeasureEntryCount asks whether the number of Raft entries matters
// once Dragonboat has batched concurrent proposals into one LogDB write:
// three NodeHosts in this process (vault's engine and LogDB settings,
// fsync on, plain TCP on loopback) replicate the same bytes once as many
// 1 KiB entries from 64 proposers and once as 16 KiB entries (what a
// command carrying 16 writes would be) from 4, into a state machine that
// only counts. It prints the process CPU per KiB and per entry: the
// per-entry share is what a multi-write command could save.
//
//	go test -tags measure -run TestMeasureEntryCount -v ./vault
func TestMeasureEntryCount(t *testing.T) {
	nhs := startMeasureHosts(t, 3)
	const shard = 1
	leader := waitMeasureLeader(t, nhs, shard)
	for _, w := range []struct{ size, clients int }{{1024, 64}, {16 << 10, 4}, {1024, 64}, {16 << 10, 4}} {
		entries, kib, cpu, wall := proposeFor(t, leader, shard, w.size, w.clients, 5*time.Second)
		t.Logf("%2d clients x %5d-byte entries: %6d entries/s, %7.0f KiB/s, CPU %5.1f µs/KiB, %6.1f µs/entry",
			w.clients, w.size, int(float64(entries)/wall.Seconds()), kib/wall.Seconds(),
			float64(cpu.Microseconds())/kib, float64(cpu.Microseconds())/float64(entries))
	}
}

func proposeFor(t *testing.T, nh *dragonboat.NodeHost, shard uint64, size, clients int, d time.Duration) (int64, float64, time.Duration, time.Duration) {
	var n atomic.Int64
	cmd := make([]byte, size)
	deadline := time.Now().Add(d)
	cpu0 := measureCPU(t)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := nh.GetNoOPSession(shard)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := nh.SyncPropose(ctx, s, cmd)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	return n.Load(), float64(n.Load()) * float64(size) / 1024, measureCPU(t) - cpu0, wall
}

func measureCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startMeasureHosts(t *testing.T, count int) []*dragonboat.NodeHost {
	dir := t.TempDir()
	addrs := map[uint64]string{}
	for i := 1; i <= count; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[uint64(i)] = l.Addr().String()
		l.Close()
	}
	var nhs []*dragonboat.NodeHost
	for i := 1; i <= count; i++ {
		nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
			NodeHostDir:    filepath.Join(dir, fmt.Sprint(i)),
			RTTMillisecond: rttMillisecond,
			RaftAddress:    addrs[uint64(i)],
			Expert:         expertConfig(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nh.Close)
		err = nh.StartReplica(addrs, false, func(uint64, uint64) sm.IStateMachine { return &countingSM{} }, config.Config{
			ShardID: 1, ReplicaID: uint64(i), ElectionRTT: electionRTT, HeartbeatRTT: heartbeatRTT, CheckQuorum: true, PreVote: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		nhs = append(nhs, nh)
	}
	return nhs
}

func waitMeasureLeader(t *testing.T, nhs []*dragonboat.NodeHost, shard uint64) *dragonboat.NodeHost {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, nh := range nhs {
			id, _, ok, err := nh.GetLeaderID(shard)
			if err == nil && ok && id >= 1 && id <= uint64(len(nhs)) {
				return nhs[id-1] // replica i+1 runs on nhs[i]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil
}

// countingSM counts the bytes it applies.
type countingSM struct{ bytes uint64 }

func (s *countingSM) Update(e sm.Entry) (sm.Result, error) {
	s.bytes += uint64(len(e.Cmd))
	return sm.Result{Value: uint64(len(e.Cmd))}, nil
}
func (s *countingSM) Lookup(any) (any, error) { return s.bytes, nil }
func (s *countingSM) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (s *countingSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error {
	return nil
}
func (s *countingSM) Close() error { return nil }
