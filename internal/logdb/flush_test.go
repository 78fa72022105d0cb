package logdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

// TestFlushLogDBLeavesNoRemovedEntry checks the LogDB patch in
// third_party/dragonboat that a full rotation's compaction relies on
// (vault/rotation.go, compactLocal): once the log is cut behind a snapshot,
// NodeHost.FlushLogDB and a log compaction leave no byte of the removed
// entries in any file of the NodeHost's directory, without closing it.
//
// Entries carrying a marker are written into the live WAL file (50 KiB, no
// memtable switch). The flushes make that file obsolete; Pebble keeps such
// files to reuse them as the next WAL, and a reuse overwrites only the
// file's start: without the patch's noReuseFS the marker stays in it. A
// control run does the same without FlushLogDB and must still find the
// marker on disk (the log compaction's own flush leaves the file kept for
// reuse): otherwise this test proves nothing.
func TestFlushLogDBLeavesNoRemovedEntry(t *testing.T) {
	quietDragonboat()
	for _, flush := range []bool{false, true} {
		marker := []byte("REMOVED-ENTRY-" + randomHex(t))
		dir := t.TempDir()
		nh := flushTestHost(t, dir)
		for range 50 {
			proposeCmd(t, nh, append(append([]byte{}, marker...), bytes.Repeat([]byte{'m'}, 1024)...))
		}
		// The log keeps the entry at the snapshot's index: not a marked one.
		for range 5 {
			proposeCmd(t, nh, []byte("x"))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		index, err := nh.SyncRequestSnapshot(ctx, syncTestShard, dragonboat.SnapshotOption{OverrideCompactionOverhead: true, CompactionOverhead: 0})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			lr, err := nh.GetLogReader(syncTestShard)
			if err != nil {
				t.Fatal(err)
			}
			if first, _ := lr.GetRange(); first > index {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the log was not cut behind snapshot %d in a minute", index)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if flush {
			if err := nh.FlushLogDB(); err != nil {
				t.Fatal(err)
			}
		}
		// Dragonboat compacts the log range itself once it cut the log,
		// and then rejects this; vault's compaction asks all the same.
		if op, err := nh.RequestCompaction(syncTestShard, 1); err == nil {
			<-op.ResultC()
		} else if err != dragonboat.ErrRejected {
			t.Fatal(err)
		}
		// What a stolen disk holds while the node runs: the files now
		// (obsolete ones go away in the background: give them a moment).
		time.Sleep(500 * time.Millisecond)
		hits := filesHolding(t, dir, marker)
		nh.Close()
		switch {
		case !flush && len(hits) == 0:
			t.Fatalf("control: without FlushLogDB no file holds the removed entries' marker; the test cannot tell the patch works")
		case flush && len(hits) > 0:
			t.Errorf("after FlushLogDB and a log compaction, removed entries are still in %v", hits)
		}
		t.Logf("flush %v: the removed entries are in %d files %v", flush, len(hits), hits)
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// flushTestHost starts a one-replica group on the disk under dir, with
// the LogDB layout vault uses (one shard).
func flushTestHost(t *testing.T, dir string) *dragonboat.NodeHost {
	t.Helper()
	nh, err := oneReplicaHost(dir, freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return nh
}

// oneReplicaHost is flushTestHost at a given Raft address (a restarted
// host must keep its own), for callers without a *testing.T.
func oneReplicaHost(dir, addr string) (*dragonboat.NodeHost, error) {
	lc := config.GetTinyMemLogDBConfig()
	lc.Shards = 1
	nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
		NodeHostDir: dir, RTTMillisecond: 5, RaftAddress: addr,
		Expert: config.ExpertConfig{LogDB: lc},
	})
	if err != nil {
		return nil, err
	}
	err = nh.StartReplica(map[uint64]string{1: addr}, false,
		func(uint64, uint64) sm.IStateMachine { return &countingSM{} },
		config.Config{ShardID: syncTestShard, ReplicaID: 1, ElectionRTT: 20, HeartbeatRTT: 2})
	if err != nil {
		nh.Close()
		return nil, err
	}
	return nh, nil
}

// filesHolding lists the files under root whose bytes contain b.
func filesHolding(t *testing.T, root string, b []byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if bytes.Contains(data, b) {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRequestedSnapshotCutsBehindAnAutomaticOne checks the Dragonboat
// patch that a rotation's compaction relies on when a group has applied
// nothing since its last snapshot: a snapshot that kept CompactionOverhead
// entries below its index (as every automatic one does) leaves them in the
// log, and the requested snapshot, asking for none, is rejected as having
// nothing new. With the patch the rejected request still cuts the log
// behind the existing snapshot.
func TestRequestedSnapshotCutsBehindAnAutomaticOne(t *testing.T) {
	quietDragonboat()
	nh := flushTestHost(t, t.TempDir())
	defer nh.Close()
	for range 10 {
		proposeCmd(t, nh, []byte("x"))
	}
	snapshot := func(overhead uint64) (uint64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return nh.SyncRequestSnapshot(ctx, syncTestShard, dragonboat.SnapshotOption{OverrideCompactionOverhead: true, CompactionOverhead: overhead})
	}
	first := func() uint64 {
		lr, err := nh.GetLogReader(syncTestShard)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := lr.GetRange()
		return f
	}
	// As an automatic snapshot does: keep 3 entries below the index.
	index, err := snapshot(3)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for first() != index-2 {
		if time.Now().After(deadline) {
			t.Fatalf("the log was not cut to %d behind snapshot %d: first entry %d", index-3, index, first())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := snapshot(0); err != dragonboat.ErrRejected {
		t.Fatalf("a snapshot with nothing new: %v, want %v", err, dragonboat.ErrRejected)
	}
	deadline = time.Now().Add(10 * time.Second)
	for first() <= index {
		if time.Now().After(deadline) {
			t.Fatalf("the rejected request left the log from entry %d, behind snapshot %d", first(), index)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
