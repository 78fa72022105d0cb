package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	pb "github.com/lni/dragonboat/v4/raftpb"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/logdb"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// fixture is a state dir built by hand, laid out as a node writes it: node.json,
// the KEK file (or none, for a locked node), the state database written by
// the real state machine, a LogDB holding the same sealed commands, and a
// received snapshot stream. Shard 2's state machine has applied entries up
// to stateApplied; its log goes on to index 8, all committed.
type fixture struct {
	dir       string
	clusterID string
	unlock    *keys.UnlockKey // locked fixtures only
	dek       *crypto.Key
}

const (
	fixtureHost     = "fixturehost"
	fixtureDID      = 7
	fixtureAddr     = "127.0.0.1:4700"
	stateApplied    = 5 // shard 2's applied index in the state database
	snapshotApplied = 4 // shard 2's received snapshot stream
)

type quietPebble struct{}

func (quietPebble) Infof(string, ...interface{})         {}
func (quietPebble) Fatalf(f string, args ...interface{}) { panic(fmt.Sprintf(f, args...)) }

func newFixture(t *testing.T, locked bool) *fixture {
	t.Helper()
	f := &fixture{dir: filepath.Join(t.TempDir(), "state"), clusterID: "fixturecluster"}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	node, _ := json.Marshal(map[string]any{
		"format": 1, "node_id": "fixturenode", "replica_id": 1, "cluster_id": f.clusterID,
		"raft_addr": fixtureAddr, "hostname": fixtureHost, "shards": 1, "deployment_id": fixtureDID,
	})
	write(t, filepath.Join(f.dir, "node.json"), node)

	var kek *crypto.Key
	var err error
	if locked {
		if f.unlock, err = keys.GenerateUnlockKey(f.clusterID); err != nil {
			t.Fatal(err)
		}
		kek, err = f.unlock.KEK(f.clusterID, 1)
	} else {
		kek, err = crypto.GenerateKey(1)
		if err == nil {
			raw, _ := crypto.ExportKey(kek)
			b := append([]byte("vault-kek\x00\x01"), 0, 0, 0, 1)
			write(t, filepath.Join(f.dir, "kek"), append(b, raw...))
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	w, ring, err := keys.NewKeyring(kek, now)
	if err != nil {
		t.Fatal(err)
	}
	if f.dek, err = ring.Active(); err != nil {
		t.Fatal(err)
	}
	index, _ := ring.IndexKey()
	nameMAC := func(name string) []byte {
		m, err := crypto.MAC(index, crypto.Binding{Purpose: crypto.PurposeName}, []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	seal := func(shard uint64, object, b []byte) []byte {
		s, err := crypto.Seal(f.dek, raftsm.ValueBinding(shard, object), b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rid := byte(0)
	cmd := func(c *raftsm.Command) *raftsm.Command {
		rid++
		c.RequestID = bytes.Repeat([]byte{rid}, 16)
		c.Time = now.UnixNano()
		return c
	}
	secret := func(op raftsm.Op, id, name string, versions int, data string, expect uint64) *raftsm.Command {
		w := &raftsm.SecretWrite{ID: id, NameMAC: nameMAC(name), ExpectGen: expect}
		if op != raftsm.OpSecretRemove {
			rec := raftsm.SecretRecord{ID: id, Name: name, Created: now.UnixNano(), Updated: now.UnixNano()}
			for v := 1; v <= versions; v++ {
				rec.Versions = append(rec.Versions, raftsm.VersionInfo{Version: uint32(v), Size: len(data), Created: now.UnixNano()})
			}
			if name != "alpha" {
				// As vault writes them: the data under a data key of its
				// own, which the record holds.
				sw, err := raftsm.SealSecretWrite(f.dek, 2, w.NameMAC, &rec, expect, []byte(data))
				if err != nil {
					t.Fatal(err)
				}
				return cmd(&raftsm.Command{Op: op, Secret: sw})
			}
			// alpha's versions are sealed under the DEK itself, as vault
			// wrote them before data keys.
			b, _ := json.Marshal(rec)
			w.Record = seal(2, raftsm.RecordObject(id), b)
			w.Version = uint32(versions)
			w.Data = seal(2, raftsm.DataObject(id, w.Version), []byte(data))
		}
		return cmd(&raftsm.Command{Op: op, Secret: w})
	}
	clusterRec, _ := json.Marshal(raftsm.ClusterRecord{
		ID: f.clusterID, Shards: 1, Created: now.UnixNano(),
		Members:   []raftsm.Member{{NodeID: "fixturenode", ReplicaID: 1, Addr: fixtureAddr, Role: "manager"}},
		CAKey:     []byte("-----BEGIN EC PRIVATE KEY-----\nFIXTURE-CA-KEY\n-----END EC PRIVATE KEY-----\n"),
		Tokens:    map[string][]byte{"manager": []byte("FIXTURE-TOKEN")},
		UnlockKey: "VLTKEY-1-FIXTURE-UNLOCK-KEY",
	})
	keyringSet := func() *raftsm.Command {
		return cmd(&raftsm.Command{Op: raftsm.OpKeyringSet, Keyring: w.Marshal(), KeyringEpoch: 1})
	}
	// Commands by shard and index; indexes 1 and 2 are the initial
	// configuration change and the leader's empty entry.
	logs := map[uint64][]*raftsm.Command{
		1: {keyringSet(), cmd(&raftsm.Command{Op: raftsm.OpClusterSet, Cluster: seal(1, raftsm.ClusterObject, clusterRec)})},
		2: {
			keyringSet(), // 3
			secret(raftsm.OpSecretCreate, "alphaid", "alpha", 1, "ALPHA-ONE", 0), // 4
			secret(raftsm.OpSecretCreate, "betaid", "beta", 1, "BETA-ONE", 0),    // 5
			secret(raftsm.OpSecretUpdate, "alphaid", "alpha", 2, "ALPHA-TWO", 4), // 6
			secret(raftsm.OpSecretRemove, "betaid", "beta", 0, "", 5),            // 7
			secret(raftsm.OpSecretCreate, "gammaid", "gamma", 1, "GAMMA-ONE", 0), // 8
		},
	}
	sealed := map[uint64][][]byte{}
	for shard, cmds := range logs {
		for _, c := range cmds {
			b, err := raftsm.SealCommand(f.dek, shard, c)
			if err != nil {
				t.Fatal(err)
			}
			sealed[shard] = append(sealed[shard], b)
		}
	}

	// The state database, written by the state machine itself.
	applied := map[uint64]uint64{1: 4, 2: stateApplied}
	f.applyState(t, filepath.Join(f.dir, "state"), ring, sealed, applied)

	// The LogDB: shard 1 in logdb-1 and shard 2 in logdb-2, as Dragonboat
	// places them.
	base := filepath.Join(f.dir, "raft", fixtureHost, fmt.Sprintf("%020d", fixtureDID))
	for shard, cmds := range sealed {
		recs := map[logdb.Key][]byte{}
		cc, _ := (&pb.ConfigChange{Type: pb.AddNode, ReplicaID: 1, Address: fixtureAddr, Initialize: true}).Marshal()
		ents := []pb.Entry{{Index: 1, Term: 1, Type: pb.ConfigChangeEntry, Cmd: cc}, {Index: 2, Term: 2}}
		for i, c := range cmds {
			ents = append(ents, pb.Entry{Index: uint64(3 + i), Term: 2, Type: pb.EncodedEntry, Cmd: append([]byte{0}, c...)})
		}
		last := ents[len(ents)-1].Index
		for _, e := range ents {
			recs[logdb.Key{Kind: logdb.KindEntry, Shard: shard, Replica: 1, Index: e.Index}] = marshal(t, &e)
		}
		recs[logdb.Key{Kind: logdb.KindState, Shard: shard, Replica: 1}] = marshal(t, &pb.State{Term: 2, Vote: 1, Commit: last})
		recs[logdb.Key{Kind: logdb.KindMaxIndex, Shard: shard, Replica: 1}] = binary.BigEndian.AppendUint64(nil, last)
		recs[logdb.Key{Kind: logdb.KindBootstrap, Shard: shard, Replica: 1}] = marshal(t, &pb.Bootstrap{Addresses: map[uint64]string{1: fixtureAddr}})
		if shard == 2 {
			recs[logdb.Key{Kind: logdb.KindSnapshot, Shard: shard, Replica: 1, Index: snapshotApplied}] = marshal(t, &pb.Snapshot{
				Index: snapshotApplied, Term: 2, ShardID: 2, Membership: pb.Membership{Addresses: map[uint64]string{1: fixtureAddr}, Removed: map[uint64]bool{3: true}},
			})
		}
		writePebble(t, filepath.Join(base, fmt.Sprintf("logdb-%d", shard)), recs)
	}

	// A snapshot stream of shard 2 received from a peer: the state at
	// snapshotApplied, sealed, in Dragonboat's file framing.
	tmpStore := filepath.Join(t.TempDir(), "snapstate")
	f.applyState(t, tmpStore, ring, map[uint64][][]byte{2: sealed[2]}, map[uint64]uint64{2: snapshotApplied})
	f.writeSnapshotFile(t, filepath.Join(base, "snapshot-part-2", "snapshot-2-1", fmt.Sprintf("snapshot-%016X", snapshotApplied)), tmpStore)
	return f
}

// applyState applies each shard's sealed commands (indexes 3...) up to
// applied with the real state machine, and closes the store.
func (f *fixture) applyState(t *testing.T, dir string, ring *keys.Keyring, sealed map[uint64][][]byte, applied map[uint64]uint64) {
	t.Helper()
	store, err := raftsm.OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	create, err := raftsm.NewFactory(store, raftsm.Hooks{
		Keys:           ring,
		SnapshotKey:    ring.Active,
		KeyringApplied: func(uint64, []byte, uint64) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	for shard, cmds := range sealed {
		m := create(shard, 1)
		if _, err := m.Open(nil); err != nil {
			t.Fatal(err)
		}
		var ents []sm.Entry
		for i, c := range cmds {
			if idx := uint64(3 + i); idx <= applied[shard] {
				ents = append(ents, sm.Entry{Index: idx, Cmd: c})
			}
		}
		if _, err := m.Update(ents); err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	// Reopening replays the log into a table, as a node's restart does.
	store.Close()
	if store, err = raftsm.OpenStore(dir, false); err != nil {
		t.Fatal(err)
	}
	store.Close()
}

// writeSnapshotFile writes dir/snapshot-IDX.gbsnap holding the sealed
// stream of shard 2's state in store.
func (f *fixture) writeSnapshotFile(t *testing.T, dir, store string) {
	t.Helper()
	st, err := raftsm.OpenStore(store, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	view, err := st.NewView(2)
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	var stream bytes.Buffer
	sw, err := crypto.NewStreamWriter(&stream, f.dek, raftsm.SnapshotBinding(2))
	if err != nil {
		t.Fatal(err)
	}
	err = raftsm.WriteSnapshot(sw, 2, view.Applied(), func(emit func(k, v []byte) error) error {
		return view.Walk(func(r raftsm.StateRecord) error {
			if r.Key.Kind == raftsm.SubApplied {
				return nil
			}
			return emit(r.Raw, r.Value)
		})
	})
	if err == nil {
		err = sw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, filepath.Base(dir)+".gbsnap"), gbsnap(t, stream.Bytes()))
}

// gbsnap frames a state machine payload as Dragonboat's snapshot file
// version 2 (one block suffices here).
func gbsnap(t *testing.T, payload []byte) []byte {
	h, err := (&pb.SnapshotHeader{Version: 2, ChecksumType: pb.CRC32IEEE}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 1024)
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	copy(out[8:], h)
	data := binary.LittleEndian.AppendUint64(nil, 4096) // empty session table
	data = binary.LittleEndian.AppendUint64(data, 0)
	data = append(data, payload...)
	out = append(out, data...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(data))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(data)+4))
	return append(out, 0x3F, 0x5B, 0xCB, 0xF1, 0xFA, 0xBA, 0x81, 0x9F)
}

func marshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePebble(t *testing.T, dir string, recs map[logdb.Key][]byte) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range recs {
		if err := db.Set(k.Encode(), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Flush so the database has a table (and a log) like a live one.
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
