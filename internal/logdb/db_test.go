package logdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	pb "github.com/lni/dragonboat/v4/raftpb"
	sm "github.com/lni/dragonboat/v4/statemachine"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, k := range []Key{
		{Kind: KindEntry, Shard: 1, Replica: 2, Index: 3},
		{Kind: KindEntryBatch, Shard: 9, Replica: 1, Index: 0},
		{Kind: KindSnapshot, Shard: 1 << 60, Replica: 7, Index: 1<<64 - 1},
		{Kind: KindState, Shard: 4, Replica: 5},
		{Kind: KindMaxIndex, Shard: 4, Replica: 5},
		{Kind: KindBootstrap, Shard: 4, Replica: 5},
		{Kind: KindNodeInfo, Shard: 4, Replica: 5},
	} {
		got, err := ParseKey(k.Encode())
		if err != nil || got != k {
			t.Errorf("ParseKey(Encode(%v)) = %v, %v", k, got, err)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	good := Key{Kind: KindEntry, Shard: 1, Replica: 1, Index: 1}.Encode()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short":          good[:3],
		"truncated":      good[:27],
		"long":           append(good, 0),
		"mixed header":   append([]byte{1, 2}, good[2:]...),
		"nonzero pad":    append([]byte{1, 1, 0, 1}, good[4:]...),
		"unknown kind":   append([]byte{9, 9}, good[2:]...),
		"state as entry": append([]byte{2, 2}, good[2:]...),
	} {
		if _, err := ParseKey(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseKey = %v, want ErrMalformed", name, err)
		}
	}
}

func TestPayload(t *testing.T) {
	tests := []struct {
		name string
		e    pb.Entry
		want string
		err  error
	}{
		{"application", pb.Entry{Type: pb.ApplicationEntry, Cmd: []byte("x")}, "x", nil},
		{"empty", pb.Entry{Type: pb.ApplicationEntry}, "", nil},
		{"encoded plain", pb.Entry{Type: pb.EncodedEntry, Cmd: []byte("\x00abc")}, "abc", nil},
		{"encoded snappy", pb.Entry{Type: pb.EncodedEntry, Cmd: []byte("\x02abc")}, "", ErrCompressed},
		{"encoded session", pb.Entry{Type: pb.EncodedEntry, Cmd: []byte("\x01abc")}, "", ErrMalformed},
		{"encoded version", pb.Entry{Type: pb.EncodedEntry, Cmd: []byte("\x10abc")}, "", ErrMalformed},
		{"encoded empty", pb.Entry{Type: pb.EncodedEntry}, "", ErrMalformed},
		{"unknown type", pb.Entry{Type: 9}, "", ErrMalformed},
	}
	for _, tt := range tests {
		got, err := Payload(tt.e)
		if !errors.Is(err, tt.err) || string(got) != tt.want {
			t.Errorf("%s: Payload = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

// writeDB writes raw records into a new Pebble database.
func writeDB(t *testing.T, recs map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "logdb-0")
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range recs {
		if err := db.Set([]byte(k), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func marshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Damaged values are reported with their key and the walk goes on; batched
// entries are read too.
func TestEntriesReportsDamageAndReadsBatches(t *testing.T) {
	ent := func(i uint64) []byte {
		return marshal(t, &pb.Entry{Index: i, Term: 1, Cmd: []byte(fmt.Sprint("cmd", i))})
	}
	k := func(kind Kind, shard, index uint64) string {
		return string(Key{Kind: kind, Shard: shard, Replica: 1, Index: index}.Encode())
	}
	batch := marshal(t, &pb.EntryBatch{Entries: []pb.Entry{{Index: 10, Term: 2, Cmd: []byte("b10")}, {Index: 11, Term: 2, Cmd: []byte("b11")}}})
	dir := writeDB(t, map[string][]byte{
		k(KindEntry, 1, 1):      ent(1),
		k(KindEntry, 1, 2):      []byte{0xff, 0xff, 0xff},
		k(KindEntry, 1, 3):      ent(4), // stored under the wrong index
		k(KindEntry, 1, 5):      ent(5),
		k(KindEntry, 2, 1):      ent(1), // another shard
		k(KindEntryBatch, 3, 1): batch,
		k(KindState, 1, 0):      marshal(t, &pb.State{Term: 2, Vote: 1, Commit: 5}),
		k(KindMaxIndex, 1, 0):   {0, 0, 0, 0, 0, 0, 0, 5},
		k(KindSnapshot, 1, 4):   marshal(t, &pb.Snapshot{Index: 4, Term: 1, Membership: pb.Membership{Addresses: map[uint64]string{1: "a:1"}}}),
		k(KindSnapshot, 1, 2):   marshal(t, &pb.Snapshot{Index: 2, Term: 1}),
		k(KindBootstrap, 3, 0):  marshal(t, &pb.Bootstrap{Addresses: map[uint64]string{1: "a:1"}}),
	})
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var got []string
	err = db.Entries(1, 1, 0, 0, func(r Record) error {
		if r.Err != nil {
			got = append(got, fmt.Sprintf("err@%d", r.Key.Index))
		} else {
			got = append(got, string(r.Entry.Cmd))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, ","); s != "cmd1,err@2,err@3,cmd5" {
		t.Fatalf("entries: %s", s)
	}
	got = nil
	if err := db.Entries(1, 1, 2, 3, func(r Record) error { got = append(got, fmt.Sprint(r.Key.Index)); return nil }); err != nil || strings.Join(got, ",") != "2,3" {
		t.Fatalf("range [2,3]: %v %v", got, err)
	}
	got = nil
	if err := db.Entries(3, 1, 11, 0, func(r Record) error { got = append(got, string(r.Entry.Cmd)); return r.Err }); err != nil || strings.Join(got, ",") != "b11" {
		t.Fatalf("batched: %v %v", got, err)
	}

	st, ok, err := db.State(1, 1)
	if err != nil || !ok || st.Commit != 5 || st.Term != 2 {
		t.Fatalf("State = %+v %v %v", st, ok, err)
	}
	if mi, ok, err := db.MaxIndex(1, 1); err != nil || !ok || mi != 5 {
		t.Fatalf("MaxIndex = %d %v %v", mi, ok, err)
	}
	if ss, ok, err := db.Snapshot(1, 1); err != nil || !ok || ss.Index != 4 || ss.Membership.Addresses[1] != "a:1" {
		t.Fatalf("Snapshot = %+v %v %v", ss, ok, err)
	}
	if _, ok, err := db.Snapshot(2, 1); err != nil || ok {
		t.Fatalf("Snapshot of shard without one = %v %v", ok, err)
	}
	if bs, ok, err := db.Bootstrap(3, 1); err != nil || !ok || bs.Addresses[1] != "a:1" {
		t.Fatalf("Bootstrap = %+v %v %v", bs, ok, err)
	}
	reps, err := db.Replicas()
	if err != nil || fmt.Sprint(reps) != "[{1 1} {3 1}]" {
		t.Fatalf("Replicas = %v %v", reps, err)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("Open of a missing directory succeeded")
	}
}

// testSM is a minimal in-memory state machine for a real NodeHost.
type testSM struct{}

func (testSM) Update(e sm.Entry) (sm.Result, error)      { return sm.Result{Value: 1}, nil }
func (testSM) Lookup(q interface{}) (interface{}, error) { return nil, nil }
func (testSM) SaveSnapshot(io.Writer, sm.ISnapshotFileCollection, <-chan struct{}) error {
	return nil
}
func (testSM) RecoverFromSnapshot(io.Reader, []sm.SnapshotFile, <-chan struct{}) error { return nil }
func (testSM) Close() error                                                            { return nil }

// TestReadsDragonboatLogDB writes a log with Dragonboat itself and reads it
// back: the key and value format this package assumes is Dragonboat's.
func TestReadsDragonboatLogDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Dragonboat NodeHost")
	}
	for _, p := range []string{"dragonboat", "raft", "rsm", "transport", "logdb", "raftpb", "config", "settings", "grpc", "pebblekv", "registry"} {
		logger.GetLogger(p).SetLevel(logger.ERROR)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	const shard, did = 7, 42
	nh, err := dragonboat.NewNodeHost(config.NodeHostConfig{
		NodeHostDir: dir, RTTMillisecond: 5, RaftAddress: addr, DeploymentID: did,
		Expert: config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig()},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = nh.StartReplica(map[uint64]string{1: addr}, false,
		func(uint64, uint64) sm.IStateMachine { return testSM{} },
		config.Config{ShardID: shard, ReplicaID: 1, ElectionRTT: 10, HeartbeatRTT: 1})
	if err != nil {
		nh.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	propose := func(cmd string) {
		for {
			_, err := nh.SyncPropose(ctx, nh.GetNoOPSession(shard), []byte(cmd))
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				nh.Close()
				t.Fatalf("propose: %v", err)
			}
		}
	}
	for i := 1; i <= 5; i++ {
		propose(fmt.Sprint("cmd-", i))
	}
	if err := nh.SyncRequestAddNonVoting(ctx, shard, 2, "127.0.0.1:1", 0); err != nil {
		nh.Close()
		t.Fatal(err)
	}
	propose("cmd-6")
	nh.Close()

	host, _ := os.Hostname()
	base := filepath.Join(dir, host, fmt.Sprintf("%020d", did))
	var cmds []string
	var ccs []pb.ConfigChange
	var last uint64
	found := 0
	for i := 0; i < 16; i++ {
		db, err := Open(filepath.Join(base, fmt.Sprintf("logdb-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		reps, err := db.Replicas()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			if r != (Replica{shard, 1}) {
				t.Errorf("logdb-%d: unexpected replica %+v", i, r)
			}
			found++
			err = db.Entries(shard, 1, 0, 0, func(r Record) error {
				if r.Err != nil {
					return r.Err
				}
				if last != 0 && r.Entry.Index != last+1 {
					t.Errorf("entry %d after %d", r.Entry.Index, last)
				}
				last = r.Entry.Index
				switch r.Entry.Type {
				case pb.ConfigChangeEntry:
					cc, err := DecodeConfigChange(r.Entry)
					if err != nil {
						return err
					}
					ccs = append(ccs, cc)
				default:
					// Dragonboat stores proposals as EncodedEntry: a
					// one-byte header before the command.
					p, err := Payload(r.Entry)
					if err != nil {
						return err
					}
					if len(p) > 0 {
						cmds = append(cmds, string(p))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			st, ok, err := db.State(shard, 1)
			if err != nil || !ok || st.Commit != last || st.Vote != 1 {
				t.Errorf("state = %+v %v %v (last index %d)", st, ok, err, last)
			}
			bs, ok, err := db.Bootstrap(shard, 1)
			if err != nil || !ok || bs.Addresses[1] != addr {
				t.Errorf("bootstrap = %+v %v %v", bs, ok, err)
			}
		}
		db.Close()
	}
	if found != 1 {
		t.Fatalf("replica found in %d LogDBs, want 1", found)
	}
	if got := strings.Join(cmds, ","); got != "cmd-1,cmd-2,cmd-3,cmd-4,cmd-5,cmd-6" {
		t.Fatalf("commands: %s", got)
	}
	// The bootstrap writes the initial member as the first entry.
	if len(ccs) != 2 || ccs[0].Type != pb.AddNode || !ccs[0].Initialize || ccs[0].ReplicaID != 1 ||
		ccs[1].Type != pb.AddNonVoting || ccs[1].ReplicaID != 2 || ccs[1].Address != "127.0.0.1:1" {
		t.Fatalf("config changes: %+v", ccs)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add(Key{Kind: KindEntry, Shard: 1, Replica: 1, Index: 5}.Encode())
	f.Add(Key{Kind: KindState, Shard: 1, Replica: 1}.Encode())
	f.Add([]byte{7, 7, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(k.Encode(), b) {
			t.Fatalf("ParseKey(%x) = %v does not encode back", b, k)
		}
	})
}

// FuzzDecodeRecords feeds the same bytes to every value decoder: none may
// panic, and an accepted entry keeps its type in range.
func FuzzDecodeRecords(f *testing.F) {
	for _, m := range []interface{ Marshal() ([]byte, error) }{
		&pb.Entry{Index: 3, Term: 1, Cmd: []byte("cmd")},
		&pb.Entry{Index: 4, Term: 1, Type: pb.ConfigChangeEntry, Cmd: []byte{8, 1}},
		&pb.EntryBatch{Entries: []pb.Entry{{Index: 1, Cmd: []byte("a")}, {Index: 2}}},
		&pb.State{Term: 1, Vote: 1, Commit: 9},
		&pb.Snapshot{Index: 9, Membership: pb.Membership{Addresses: map[uint64]string{1: "x"}}},
		&pb.Bootstrap{Addresses: map[uint64]string{1: "x"}},
		&pb.ConfigChange{Type: pb.AddNode, ReplicaID: 2, Address: "y"},
	} {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := DecodeEntry(b); err == nil {
			if e.Type > pb.MetadataEntry || e.Index == 0 {
				t.Fatalf("accepted entry %+v", e)
			}
			Payload(e)
			DecodeConfigChange(pb.Entry{Type: pb.ConfigChangeEntry, Index: 1, Cmd: e.Cmd})
		}
		DecodeEntryBatch(b)
		DecodeState(b)
		DecodeSnapshot(b)
		DecodeBootstrap(b)
		DecodeMaxIndex(b)
		Payload(pb.Entry{Type: pb.EncodedEntry, Index: 1, Cmd: b})
	})
}
