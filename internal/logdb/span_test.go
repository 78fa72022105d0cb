package logdb

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// holesOf walks present (ascending) through a span's Holes.
func holesOf(s Span, lo, hi uint64, present []uint64) []Gap {
	h := s.Holes(lo, hi)
	var out []Gap
	for _, i := range present {
		if g, ok := h.Saw(i); ok {
			out = append(out, g)
		}
	}
	if g, ok := h.End(); ok {
		out = append(out, g)
	}
	return out
}

func TestSpanHoles(t *testing.T) {
	seq := func(lo, hi uint64) []uint64 {
		var out []uint64
		for i := lo; i <= hi; i++ {
			out = append(out, i)
		}
		return out
	}
	cat := func(parts ...[]uint64) []uint64 {
		var out []uint64
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	const max64 = 1<<64 - 1
	tests := []struct {
		name    string
		span    Span
		lo, hi  uint64
		present []uint64
		want    string
	}{
		{"whole log, no snapshot", Span{Last: 8, HasLast: true}, 0, 0, seq(1, 8), "[]"},
		{"first entries missing, no snapshot", Span{Last: 8, HasLast: true}, 0, 0, seq(3, 8), "[{1 2}]"},
		{"compacted to the snapshot", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, seq(20, 30), "[]"},
		{"compacted past the snapshot entry", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, seq(21, 30), "[]"},
		{"compaction overhead left below the snapshot", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, seq(10, 30), "[]"},
		// A follower held 316 to 325, installed the leader's snapshot at
		// 326 and went on from 327.
		{"installed snapshot above older entries", Span{Snapshot: 326, Last: 340, HasLast: true}, 0, 0, cat(seq(316, 325), seq(327, 340)), "[]"},
		{"holes below the snapshot", Span{Snapshot: 347, Last: 360, HasLast: true}, 0, 0, cat(seq(300, 310), seq(330, 338), seq(348, 360)), "[]"},
		{"hole after the snapshot", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, cat(seq(15, 24), seq(26, 30)), "[{25 25}]"},
		{"first entry after the snapshot missing", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, cat(seq(10, 18), seq(22, 30)), "[{21 21}]"},
		{"tail missing", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, seq(20, 27), "[{28 30}]"},
		{"nothing after the snapshot", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, seq(10, 19), "[{21 30}]"},
		{"snapshot is the last index", Span{Snapshot: 30, Last: 30, HasLast: true}, 0, 0, seq(25, 30), "[]"},
		{"cut-off tail above the max index", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 0, cat(seq(20, 30), seq(33, 35)), "[]"},
		{"no max index record", Span{Snapshot: 20}, 0, 0, cat(seq(20, 25), seq(28, 29)), "[{26 27}]"},
		{"range inside the span", Span{Snapshot: 20, Last: 30, HasLast: true}, 24, 27, []uint64{24, 26, 27}, "[{25 25}]"},
		{"range starts below the snapshot", Span{Snapshot: 20, Last: 30, HasLast: true}, 5, 0, cat(seq(5, 12), seq(22, 30)), "[{21 21}]"},
		{"range ends before a missing tail", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 25, seq(21, 25), "[]"},
		{"range ends inside a missing tail", Span{Snapshot: 20, Last: 30, HasLast: true}, 0, 25, seq(21, 23), "[{24 25}]"},
		{"unordered and repeated indexes", Span{Last: 5, HasLast: true}, 0, 0, []uint64{1, 2, 2, 1, 3, 4, 5}, "[]"},
		{"snapshot at the largest index", Span{Snapshot: max64, Last: max64, HasLast: true}, 0, 0, []uint64{1, max64}, "[]"},
		{"entry at the largest index", Span{}, 0, 0, []uint64{1, 2, max64}, fmt.Sprintf("[{3 %d}]", uint64(max64-1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(holesOf(tt.span, tt.lo, tt.hi, tt.present)); got != tt.want {
				t.Fatalf("holes = %s, want %s", got, tt.want)
			}
		})
	}
}

// countSM is an in-memory state machine that keeps the index it applied
// last, in snapshots too.
type countSM struct{ applied *atomic.Uint64 }

func (m countSM) Update(e sm.Entry) (sm.Result, error) {
	m.applied.Store(e.Index)
	return sm.Result{Value: e.Index}, nil
}
func (countSM) Lookup(interface{}) (interface{}, error) { return nil, nil }
func (m countSM) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	_, err := w.Write(binary.BigEndian.AppendUint64(nil, m.applied.Load()))
	return err
}
func (m countSM) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	m.applied.Store(binary.BigEndian.Uint64(b[:]))
	return nil
}
func (countSM) Close() error { return nil }

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// TestSpanOfInstalledSnapshot builds, with three real NodeHosts, the log
// of a follower that was down while its peers took a snapshot and
// compacted their logs, as `vault key rotate --full` makes every manager
// do: back up, it installs the leader's snapshot over the entries it still
// holds. Its LogDB then keeps those old entries below the snapshot index,
// then a hole up to it, then the entries after it. Dragonboat reads that
// log back without complaint; Span must find no hole in it, and still find
// one made in the part Dragonboat reads.
func TestSpanOfInstalledSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Dragonboat NodeHosts")
	}
	for _, p := range []string{"dragonboat", "raft", "rsm", "transport", "logdb", "raftpb", "config", "settings", "grpc", "pebblekv", "registry"} {
		logger.GetLogger(p).SetLevel(logger.CRITICAL)
	}
	const shard, did, overhead = 9, 43, 10
	members := map[uint64]string{}
	dirs := map[uint64]string{}
	applied := map[uint64]*atomic.Uint64{}
	for id := uint64(1); id <= 3; id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		members[id] = l.Addr().String()
		l.Close()
		dirs[id] = t.TempDir()
		applied[id] = new(atomic.Uint64)
	}
	hosts := map[uint64]*dragonboat.NodeHost{}
	defer func() {
		for _, nh := range hosts {
			nh.Close()
		}
	}()
	start := func(id uint64, initial map[uint64]string) {
		t.Helper()
		nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
			NodeHostDir: dirs[id], RTTMillisecond: 5, RaftAddress: members[id], DeploymentID: did,
			Expert: config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig()},
		})
		if err != nil {
			t.Fatal(err)
		}
		hosts[id] = nh
		err = nh.StartReplica(initial, false,
			func(uint64, uint64) sm.IStateMachine { return countSM{applied[id]} },
			config.Config{ShardID: shard, ReplicaID: id, ElectionRTT: 20, HeartbeatRTT: 1,
				CheckQuorum: true, PreVote: true, CompactionOverhead: overhead})
		if err != nil {
			t.Fatal(err)
		}
	}
	stop := func(id uint64) {
		hosts[id].Close()
		delete(hosts, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for id := range members {
		start(id, members)
	}
	// propose proposes n commands through a running host and returns the
	// index of the last one.
	propose := func(n int) uint64 {
		t.Helper()
		var last uint64
		for range n {
			for {
				var nh *dragonboat.NodeHost
				for _, h := range hosts {
					nh = h
					break
				}
				// A proposal can be dropped (the follower that forwards
				// it went down, the leader changed): try again.
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				r, err := nh.SyncPropose(pctx, nh.GetNoOPSession(shard), []byte("cmd"))
				cancel()
				if err == nil {
					last = r.Value
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("propose: %v", err)
				}
			}
		}
		return last
	}
	appliedBy := func(ids []uint64, index uint64) func() bool {
		return func() bool {
			for _, id := range ids {
				if applied[id].Load() < index {
					return false
				}
			}
			return true
		}
	}

	held := propose(20)
	waitUntil(t, ctx, "every replica to apply the first entries", appliedBy([]uint64{1, 2, 3}, held))
	var leader uint64
	waitUntil(t, ctx, "a leader", func() bool {
		id, _, ok, err := hosts[1].GetLeaderID(shard)
		leader = id
		return err == nil && ok
	})
	follower := leader%3 + 1
	var others []uint64
	for id := range members {
		if id != follower {
			others = append(others, id)
		}
	}
	stop(follower)

	// While the follower is down, its peers go on by fewer entries than the
	// compaction overhead, take a snapshot and compact their logs to it.
	last := propose(overhead / 2)
	waitUntil(t, ctx, "the others to apply", appliedBy(others, last))
	var snapshot uint64
	for _, id := range others {
		idx, err := hosts[id].SyncRequestSnapshot(ctx, shard, dragonboat.SnapshotOption{OverrideCompactionOverhead: true, CompactionOverhead: 0})
		if err != nil {
			t.Fatalf("snapshot on %d: %v", id, err)
		}
		snapshot = max(snapshot, idx)
		// The snapshot compacts the log a moment after it is taken.
		waitUntil(t, ctx, "the log compaction", func() bool {
			lr, err := hosts[id].GetLogReader(shard)
			if err != nil {
				return false
			}
			first, _ := lr.GetRange()
			return first > idx
		})
	}
	if snapshot <= held || snapshot-held >= overhead {
		t.Fatalf("snapshot at %d after the follower's %d: not the layout wanted", snapshot, held)
	}

	start(follower, nil)
	last = propose(5)
	waitUntil(t, ctx, "the follower to catch up", appliedBy([]uint64{follower}, last))
	for id := range hosts {
		stop(id)
	}

	host, _ := os.Hostname()
	base := filepath.Join(dirs[follower], host, fmt.Sprintf("%020d", did))
	var dir string
	var span Span
	var present []uint64
	for i := 0; i < 16; i++ {
		d := filepath.Join(base, fmt.Sprintf("logdb-%d", i))
		db, err := Open(d)
		if err != nil {
			t.Fatal(err)
		}
		ss, ok, err := db.Snapshot(shard, follower)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			dir = d
			span.Snapshot = ss.Index
			if span.Last, span.HasLast, err = db.MaxIndex(shard, follower); err != nil {
				t.Fatal(err)
			}
			err = db.Entries(shard, follower, 0, 0, func(r Record) error {
				present = append(present, r.Entry.Index)
				return r.Err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	if dir == "" {
		t.Fatal("the follower has no snapshot record")
	}

	// The layout: entries the follower held before the snapshot, a hole
	// that ends at the snapshot index, the entries after it.
	below, gapAt := 0, uint64(0)
	for i, idx := range present {
		if idx < span.Snapshot {
			below++
		}
		if i > 0 && idx != present[i-1]+1 {
			gapAt = idx
		}
	}
	if span.Snapshot < snapshot || below == 0 || gapAt == 0 || gapAt > span.Snapshot+1 || !span.HasLast || span.Last < last {
		t.Fatalf("follower's log: span %+v, entries %v: not the layout wanted", span, present)
	}
	t.Logf("follower's log: snapshot %d, max index %d, entries %d..%d and %d..%d",
		span.Snapshot, span.Last, present[0], present[below-1], present[below], present[len(present)-1])
	if got := holesOf(span, 0, 0, present); len(got) != 0 {
		t.Fatalf("holes in a healthy log: %v", got)
	}

	// The same log with an entry after the snapshot gone, and then its
	// last entry: both are real holes.
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{span.Snapshot + 2, span.Last} {
		if err := db.Delete(Key{Kind: KindEntry, Shard: shard, Replica: follower, Index: idx}.Encode(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	h := span.Holes(0, 0)
	var got []Gap
	err = ro.Entries(shard, follower, 0, 0, func(r Record) error {
		if g, ok := h.Saw(r.Entry.Index); ok {
			got = append(got, g)
		}
		return r.Err
	})
	if g, ok := h.End(); ok {
		got = append(got, g)
	}
	want := []Gap{{span.Snapshot + 2, span.Snapshot + 2}, {span.Last, span.Last}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("holes after deleting entries %d and %d: %v, %v; want %v", span.Snapshot+2, span.Last, got, err, want)
	}
}
