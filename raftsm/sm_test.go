package raftsm

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

type testNode struct {
	store  *Store
	key    *crypto.Key
	sm     *StateMachine
	rings  [][]byte
	epochs []uint64 // the epochs the keyring hook was given, with rings
}

func newTestNode(t testing.TB, key *crypto.Key, shard uint64) *testNode {
	t.Helper()
	return newTestNodeAt(t, filepath.Join(t.TempDir(), "state"), key, shard)
}

// newTestNodeAt is newTestNode with its state database in dir.
func newTestNodeAt(t testing.TB, dir string, key *crypto.Key, shard uint64) *testNode {
	t.Helper()
	store, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n := &testNode{store: store, key: key}
	create, err := NewFactory(store, Hooks{
		Keys:           key,
		SnapshotKey:    func() (*crypto.Key, error) { return key, nil },
		KeyringApplied: func(_ uint64, w []byte, e uint64) { n.rings, n.epochs = append(n.rings, w), append(n.epochs, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	n.sm = create(shard, 1).(*StateMachine)
	if idx, err := n.sm.Open(nil); err != nil || idx != 0 {
		t.Fatalf("Open = %d, %v", idx, err)
	}
	return n
}

func reqID() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

func mac(name string) []byte {
	m := make([]byte, 32)
	copy(m, name)
	return m
}

func (n *testNode) apply(t testing.TB, index uint64, cmds ...*Command) []sm.Result {
	t.Helper()
	var ents []sm.Entry
	for i, c := range cmds {
		b, err := SealCommand(n.key, n.sm.shard, c)
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, sm.Entry{Index: index + uint64(i), Cmd: b})
	}
	out, err := n.sm.Update(ents)
	if err != nil {
		t.Fatal(err)
	}
	var res []sm.Result
	for _, e := range out {
		res = append(res, e.Result)
	}
	return res
}

func create(id, name string, time int64) *Command {
	return &Command{Op: OpSecretCreate, RequestID: reqID(), Time: time, Secret: &SecretWrite{
		ID: id, NameMAC: mac(name), Record: []byte("rec-" + id), Version: 1, Data: []byte("data-" + id),
	}}
}

func TestUpdateCreateUpdateRemove(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	res := n.apply(t, 1, create("a", "alpha", 1), create("b", "alpha", 2), create("c", "gamma", 3))
	if res[0].Value != ResultOK || res[1].Value != ResultExists || res[2].Value != ResultOK {
		t.Fatalf("results %+v", res)
	}
	got, err := n.sm.Lookup(QueryName{MAC: mac("alpha")})
	if err != nil {
		t.Fatal(err)
	}
	s := got.(*StoredSecret)
	if s == nil || s.ID != "a" || s.Gen != 1 || string(s.Sealed) != "rec-a" {
		t.Fatalf("lookup alpha = %+v", s)
	}
	// Update with a stale generation conflicts; with the right one it applies.
	up := func(gen uint64) *Command {
		return &Command{Op: OpSecretUpdate, RequestID: reqID(), Time: 4, Secret: &SecretWrite{
			ID: "a", NameMAC: mac("alpha"), ExpectGen: gen, Record: []byte("rec-a2"), Version: 2, Data: []byte("data-a2"),
		}}
	}
	res = n.apply(t, 4, up(99), up(1))
	if res[0].Value != ResultConflict || res[1].Value != ResultOK {
		t.Fatalf("update results %+v", res)
	}
	d, _ := n.sm.Lookup(QueryData{ID: "a", Version: 2})
	if string(d.([]byte)) != "data-a2" {
		t.Fatalf("data v2 = %q", d)
	}
	rm := &Command{Op: OpSecretRemove, RequestID: reqID(), Time: 5, Secret: &SecretWrite{ID: "a", NameMAC: mac("alpha")}}
	res = n.apply(t, 6, rm, rm)
	if res[0].Value != ResultOK || res[1].Value != ResultOK {
		t.Fatalf("rm results %+v (a retried request must answer as the first time)", res)
	}
	for _, v := range []uint32{1, 2} {
		d, _ := n.sm.Lookup(QueryData{ID: "a", Version: v})
		if d.([]byte) != nil {
			t.Fatalf("data v%d survived rm", v)
		}
	}
	list, _ := n.sm.Lookup(QueryIDPrefix{})
	if l := list.([]StoredSecret); len(l) != 1 || l[0].ID != "c" {
		t.Fatalf("list after rm = %+v", l)
	}
	seals, _ := n.sm.Lookup(QuerySeals{})
	if c := seals.(map[uint32]uint64)[1]; c != 7 {
		t.Fatalf("seal count under v1 = %d, want 7", c)
	}
	// The applied index is persisted: a reopened replica resumes from it.
	n.sm.Close()
	again := &StateMachine{store: n.store, shard: 2, replica: 1, hooks: n.sm.hooks}
	if idx, err := again.Open(nil); err != nil || idx != 7 {
		t.Fatalf("reopen = %d, %v; want 7", idx, err)
	}
}

// A re-seal is bound to the object: it replaces the record at the
// generation it read, and the data versions that still exist at any
// generation. An update or rm is also bound to the name.
func TestResealNeedsObjectOnly(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	n.apply(t, 1, create("a", "alpha", 1))
	other := &SecretWrite{ID: "a", NameMAC: mac("not-alpha"), ExpectGen: 1, Record: []byte("rec-a-x")}
	up := &Command{Op: OpSecretUpdate, RequestID: reqID(), Time: 2, Secret: other}
	if res := n.apply(t, 2, up); res[0].Value != ResultInvalid {
		t.Fatalf("update through another name: %+v", res)
	}
	// At a stale generation (the record was rewritten since the re-seal
	// read it) the data versions are re-sealed and the record is kept.
	stale := &Command{Op: OpSecretReseal, RequestID: reqID(), Time: 3, Secret: &SecretWrite{
		ID: "a", NameMAC: mac("alpha"), ExpectGen: 99, Record: []byte("rec-a-stale"),
		Resealed: []DataVersion{{Version: 1, Data: []byte("data-a-s")}}}}
	if res := n.apply(t, 3, stale); res[0].Value != ResultOK || getU64(res[0].Data) != 1 {
		t.Fatalf("re-seal at a stale generation: %+v", res)
	}
	got, _ := n.sm.Lookup(QueryName{MAC: mac("alpha")})
	if s := got.(*StoredSecret); s == nil || string(s.Sealed) != "rec-a" || s.Gen != 1 {
		t.Fatalf("a re-seal at a stale generation replaced the record: %+v", s)
	}
	if d, _ := n.sm.Lookup(QueryData{ID: "a", Version: 1}); string(d.([]byte)) != "data-a-s" {
		t.Fatalf("a re-seal at a stale generation left the data: %q", d)
	}
	rs := &Command{Op: OpSecretReseal, RequestID: reqID(), Time: 4, Secret: &SecretWrite{
		ID: "a", NameMAC: mac("not-alpha"), ExpectGen: 1, Record: []byte("rec-a-r"),
		Resealed: []DataVersion{{Version: 1, Data: []byte("data-a-r")}, {Version: 7, Data: []byte("gone")}}}}
	if res := n.apply(t, 4, rs); res[0].Value != ResultOK {
		t.Fatalf("re-seal: %+v", res)
	}
	d, _ := n.sm.Lookup(QueryData{ID: "a", Version: 1})
	if string(d.([]byte)) != "data-a-r" {
		t.Fatalf("data after re-seal = %q", d)
	}
	if d, _ := n.sm.Lookup(QueryData{ID: "a", Version: 7}); d.([]byte) != nil {
		t.Fatalf("re-seal brought back a version that did not exist: %q", d)
	}
	got, _ = n.sm.Lookup(QueryName{MAC: mac("alpha")})
	if s := got.(*StoredSecret); s == nil || s.ID != "a" || string(s.Sealed) != "rec-a-r" || s.Gen != 4 {
		t.Fatalf("after re-seal the name leads to %+v", s)
	}
}

func TestUpdateRejectsForeignEntries(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	other, _ := crypto.GenerateKey(1)
	for name, cmd := range map[string]func() []byte{
		"other key":   func() []byte { b, _ := SealCommand(other, 2, create("a", "x", 1)); return b },
		"other shard": func() []byte { b, _ := SealCommand(key, 3, create("a", "x", 1)); return b },
		"plaintext":   func() []byte { return []byte(`{"op":"secret.create"}`) },
	} {
		n := newTestNode(t, key, 2)
		out, err := n.sm.Update([]sm.Entry{{Index: 1, Cmd: cmd()}})
		if err != nil {
			t.Errorf("%s: Update returned %v: Dragonboat would panic the whole node", name, err)
		}
		if len(out) != 1 || out[0].Result.Value != ResultFailed {
			t.Errorf("%s: results %+v, want ResultFailed", name, out)
		}
		if n.sm.Failure() == nil {
			t.Errorf("%s: Update accepted it", name)
		}
		if idx, _ := n.store.get(dataKey(2, 1, subApplied)); idx != nil {
			t.Fatalf("%s: a rejected batch moved the applied index", name)
		}
	}
}

// TestBadEntryStopsOnlyTheReplica: an entry sealed under a DEK the node
// does not hold stops that replica where it is, without an error to
// Dragonboat (which would panic the node): the entries before it are
// applied, nothing after it is, reads and snapshots are refused, the node
// is told once, and a restarted replica resumes from the last applied
// entry and applies everything once it holds the key.
func TestBadEntryStopsOnlyTheReplica(t *testing.T) {
	k1, _ := crypto.GenerateKey(1)
	k2, _ := crypto.GenerateKey(2)
	store, err := OpenStore(filepath.Join(t.TempDir(), "state"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var failures []*ReplicaFailure
	hooks := func(ks crypto.KeySource) Hooks {
		return Hooks{
			Keys:           ks,
			SnapshotKey:    func() (*crypto.Key, error) { return k1, nil },
			KeyringApplied: func(uint64, []byte, uint64) {},
			ReplicaFailed:  func(f *ReplicaFailure) { failures = append(failures, f) },
		}
	}
	seal := func(k *crypto.Key, c *Command) []byte {
		b, err := SealCommand(k, 2, c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ents := []sm.Entry{
		{Index: 1, Cmd: seal(k1, create("a", "alpha", 1))},
		{Index: 2, Cmd: seal(k2, create("b", "beta", 2))}, // v2: not held
		{Index: 3, Cmd: seal(k1, create("c", "gamma", 3))},
	}
	clone := func() []sm.Entry { return append([]sm.Entry(nil), ents...) }

	create1, _ := NewFactory(store, hooks(k1))
	r := create1(2, 1).(*StateMachine)
	if _, err := r.Open(nil); err != nil {
		t.Fatal(err)
	}
	out, err := r.Update(clone())
	if err != nil {
		t.Fatalf("Update returned %v: Dragonboat would panic the whole node", err)
	}
	if got := []uint64{out[0].Result.Value, out[1].Result.Value, out[2].Result.Value}; got[0] != ResultOK || got[1] != ResultFailed || got[2] != ResultFailed {
		t.Fatalf("results %v, want OK, failed, failed", got)
	}
	if len(failures) != 1 {
		t.Fatalf("node told %d times, want once", len(failures))
	}
	f := failures[0]
	if f.Shard != 2 || f.Index != 2 || f.Applied != 1 || f.KeyVersion != 2 || !f.MissingKey() || !errors.Is(f, ErrReplicaFailed) {
		t.Fatalf("failure %+v (missing key %v)", f, f.MissingKey())
	}
	// Later batches change nothing and do not tell the node again.
	if out, err := r.Update([]sm.Entry{{Index: 4, Cmd: seal(k1, create("d", "delta", 4))}}); err != nil || out[0].Result.Value != ResultFailed {
		t.Fatalf("after the failure: %+v, %v", out, err)
	}
	if len(failures) != 1 {
		t.Fatalf("node told %d times, want once", len(failures))
	}
	if _, err := r.Lookup(QueryName{MAC: mac("alpha")}); !errors.Is(err, ErrReplicaFailed) {
		t.Fatalf("read from a failed replica: %v", err)
	}
	if err := r.Sync(); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("Sync of a failed replica = %v: a snapshot would record entries it never applied", err)
	}
	if _, err := r.PrepareSnapshot(); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Fatalf("PrepareSnapshot of a failed replica = %v", err)
	}
	if err := r.RecoverFromSnapshot(bytes.NewReader(nil), nil); !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Fatalf("RecoverFromSnapshot of a failed replica = %v", err)
	}

	// Restarted with both keys: it resumes after entry 1 and applies the rest.
	both := keysOf{1: k1, 2: k2}
	create2, _ := NewFactory(store, hooks(both))
	r2 := create2(2, 1).(*StateMachine)
	idx, err := r2.Open(nil)
	if err != nil || idx != 1 {
		t.Fatalf("Open after the failure = %d, %v; want the last applied entry, 1", idx, err)
	}
	out, err = r2.Update(clone()[1:])
	if err != nil || out[0].Result.Value != ResultOK || out[1].Result.Value != ResultOK {
		t.Fatalf("replay with the key: %+v, %v", out, err)
	}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		if got, err := r2.Lookup(QueryName{MAC: mac(name)}); err != nil || got.(*StoredSecret) == nil {
			t.Fatalf("%s after the replay: %v, %v", name, got, err)
		}
	}
}

// keysOf is a KeySource holding several versions.
type keysOf map[uint32]*crypto.Key

func (k keysOf) Key(v uint32) (*crypto.Key, error) {
	if key, ok := k[v]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w: %d", crypto.ErrUnknownKeyVersion, v)
}

func TestSnapshotStreamsIntoFreshReplica(t *testing.T) {
	key, _ := crypto.GenerateKey(3)
	src := newTestNode(t, key, 2)
	var cmds []*Command
	cmds = append(cmds, &Command{Op: OpKeyringSet, RequestID: reqID(), Time: 1, Keyring: []byte("wrapped-keyring"), KeyringEpoch: 1})
	for i := range 300 {
		c := create(fmt.Sprintf("id%03d", i), fmt.Sprintf("name%03d", i), int64(i+2))
		c.Secret.Data = bytes.Repeat([]byte{byte(i)}, 1000) // several stream chunks
		cmds = append(cmds, c)
	}
	src.apply(t, 1, cmds...)

	var buf bytes.Buffer
	ctx, err := src.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("rec-id001")) || bytes.Contains(buf.Bytes(), []byte("wrapped-keyring")) {
		t.Fatal("snapshot stream holds plaintext")
	}

	dst := newTestNode(t, key, 2)
	dst.apply(t, 1, create("stale", "stale", 1)) // replaced by the snapshot
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	if dst.sm.applied != 301 {
		t.Fatalf("applied after recover = %d, want 301", dst.sm.applied)
	}
	if len(dst.rings) != 1 || string(dst.rings[0]) != "wrapped-keyring" || dst.epochs[0] != 1 {
		t.Fatalf("keyring hook after recover: %q, epochs %v", dst.rings, dst.epochs)
	}
	assertSameShard(t, src.store, dst.store, 2)
	if got, _ := dst.sm.Lookup(QueryName{MAC: mac("stale")}); got.(*StoredSecret) != nil {
		t.Fatal("state from before the snapshot survived")
	}
	// Restart: Open reports the recovered index.
	again := &StateMachine{store: dst.store, shard: 2, replica: 1, hooks: dst.sm.hooks}
	if idx, err := again.Open(nil); err != nil || idx != 301 {
		t.Fatalf("reopen after recover = %d, %v", idx, err)
	}
}

func TestRecoverRejectsDamagedStreamAndKeepsState(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	src := newTestNode(t, key, 2)
	for i := range 100 {
		c := create(fmt.Sprintf("id%03d", i), fmt.Sprintf("n%03d", i), int64(i+1))
		c.Secret.Data = bytes.Repeat([]byte{1}, 2000)
		src.apply(t, uint64(i+1), c)
	}
	var buf bytes.Buffer
	ctx, _ := src.sm.PrepareSnapshot()
	if err := src.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	damaged := map[string][]byte{
		"truncated":    full[:len(full)-100],
		"cut in half":  full[:len(full)/2],
		"flipped byte": flip(full, len(full)/3),
		"extra bytes":  append(append([]byte(nil), full...), 1, 2, 3),
	}
	for name, b := range damaged {
		t.Run(name, func(t *testing.T) {
			dst := newTestNode(t, key, 2)
			dst.apply(t, 1, create("keep", "keep", 1))
			err := dst.sm.RecoverFromSnapshot(bytes.NewReader(b), nil)
			if err == nil {
				t.Fatal("damaged stream recovered")
			}
			// The replica stops (Dragonboat would apply the entries after
			// the snapshot to the old state) and keeps its state for a
			// restart.
			if dst.sm.Failure() == nil {
				t.Fatal("a failed recovery did not stop the replica")
			}
			again := &StateMachine{store: dst.store, shard: 2, replica: 1, hooks: dst.sm.hooks}
			if idx, err := again.Open(nil); err != nil || idx != 1 {
				t.Fatalf("reopen after a failed recovery = %d, %v", idx, err)
			}
			if got, _ := again.Lookup(QueryName{MAC: mac("keep")}); got.(*StoredSecret) == nil {
				t.Fatal("live state lost after a failed recovery")
			}
			// Nothing of the failed generation is left behind.
			n := 0
			dst.store.with(func(db *pebble.DB) error {
				it := db.NewIter(&pebble.IterOptions{LowerBound: dataKey(2, 2), UpperBound: shardEnd(2)})
				for it.First(); it.Valid(); it.Next() {
					n++
				}
				return it.Close()
			})
			if n != 0 {
				t.Fatalf("%d keys of the failed generation left", n)
			}
		})
	}
	// Another shard's stream does not recover here.
	dst := newTestNode(t, key, 3)
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(full), nil); !crypto.IsIntegrityError(err) {
		t.Fatalf("shard 2 stream into shard 3: %v, want integrity error", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

// assertSameShard compares a shard's live data in two stores, key by key.
func assertSameShard(t *testing.T, a, b *Store, shard uint64) {
	t.Helper()
	dump := func(s *Store) map[string]string {
		gen, _ := s.Generation(shard)
		out := map[string]string{}
		base := dataKey(shard, gen)
		s.with(func(db *pebble.DB) error {
			it := db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
			for it.First(); it.Valid(); it.Next() {
				out[string(it.Key()[len(base):])] = string(it.Value())
			}
			return it.Close()
		})
		return out
	}
	da, db := dump(a), dump(b)
	if len(da) != len(db) {
		t.Fatalf("shard %d: %d keys vs %d", shard, len(da), len(db))
	}
	for k, v := range da {
		if db[k] != v {
			t.Fatalf("shard %d: key %q differs", shard, k)
		}
	}
}

func FuzzSnapshotReader(f *testing.F) {
	var buf bytes.Buffer
	WriteSnapshot(&buf, 2, 7, func(emit func(k, v []byte) error) error {
		emit([]byte("k"), []byte("wrapped"))
		return emit([]byte("oabc"), []byte("value"))
	})
	f.Add(buf.Bytes())
	f.Add([]byte("vault-snapshot\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewSnapshotReader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("header error not ErrBadSnapshot: %v", err)
			}
			return
		}
		for {
			_, _, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadSnapshot) {
					t.Fatalf("error not ErrBadSnapshot: %v", err)
				}
				return
			}
		}
	})
}

func FuzzOpenCommand(f *testing.F) {
	key, _ := crypto.NewKey(1, bytes.Repeat([]byte{7}, 32))
	good, _ := SealCommand(key, 2, create("a", "b", 1))
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte(`{"op":"secret.create","req":"AAAAAAAAAAAAAAAAAAAAAA==","secret":{"id":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// b as an entry off the disk, and b as the plaintext inside a
		// genuine envelope (exercising the decoder and validation).
		sealed, err := crypto.Seal(key, EntryBinding(2), b)
		if err != nil {
			t.Fatal(err)
		}
		for _, entry := range [][]byte{b, sealed} {
			c, _, err := OpenCommand(key, 2, entry)
			if err == nil && c.Validate() != nil {
				t.Fatal("OpenCommand returned an invalid command")
			}
		}
	})
}

func TestKeyringEpochs(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 1)
	set := func(ring string, epoch uint64, cas bool, expect uint64) uint64 {
		c := &Command{Op: OpKeyringSet, RequestID: reqID(), Time: 1, Keyring: []byte(ring), KeyringEpoch: epoch, KeyringCAS: cas, ExpectEpoch: expect}
		return n.apply(t, n.sm.applied+1, c)[0].Value
	}
	for _, tc := range []struct {
		ring        string
		epoch       uint64
		cas         bool
		expect      uint64
		want        uint64
		wantApplied int
	}{
		{"r1", 1, true, 0, ResultOK, 1},
		{"r2", 2, true, 0, ResultConflict, 1}, // another operation got there first
		{"r2", 2, true, 1, ResultOK, 2},
		{"r2", 2, false, 0, ResultStale, 2}, // replayed distribution: no change
		{"rX", 2, false, 0, ResultConflict, 2},
		{"r1", 1, false, 0, ResultStale, 2}, // an older ring never overwrites a newer one
		{"r5", 5, false, 0, ResultOK, 3},
	} {
		if got := set(tc.ring, tc.epoch, tc.cas, tc.expect); got != tc.want {
			t.Fatalf("set %s epoch %d: result %d, want %d", tc.ring, tc.epoch, got, tc.want)
		}
		if len(n.rings) != tc.wantApplied {
			t.Fatalf("after %s: keyring hook ran %d times, want %d", tc.ring, len(n.rings), tc.wantApplied)
		}
		if tc.want == ResultOK && n.epochs[len(n.epochs)-1] != tc.epoch {
			t.Fatalf("after %s: keyring hook was given epoch %d, want %d", tc.ring, n.epochs[len(n.epochs)-1], tc.epoch)
		}
	}
	got, _ := n.sm.Lookup(QueryKeyringEpoch{})
	if k := got.(*StoredKeyring); string(k.Ring) != "r5" || k.Epoch != 5 {
		t.Fatalf("stored %+v", k)
	}
}

// TestSnapshotUnderMissingKeyStopsReplica: a snapshot stream sealed under a
// DEK the replica does not hold stops it like an entry would, names the
// stream's key version, and returns only once the node stopped the replica
// (Dragonboat would otherwise apply the entries after the snapshot to the
// old state, or panic on the hole).
func TestSnapshotUnderMissingKeyStopsReplica(t *testing.T) {
	k2, _ := crypto.GenerateKey(2)
	src := newTestNode(t, k2, 2)
	src.apply(t, 1, create("a", "alpha", 1))
	var buf bytes.Buffer
	ctx, _ := src.sm.PrepareSnapshot()
	if err := src.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}

	k1, _ := crypto.GenerateKey(1)
	dst := newTestNode(t, k1, 2)
	dst.apply(t, 1, create("keep", "keep", 1))
	stopc := make(chan struct{})
	var got *ReplicaFailure
	dst.sm.hooks.ReplicaFailed = func(f *ReplicaFailure) { got = f; close(stopc) }
	err := dst.sm.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), stopc)
	if !errors.Is(err, sm.ErrSnapshotStopped) {
		t.Fatalf("recover = %v, want ErrSnapshotStopped (an abort, not a panic)", err)
	}
	if got == nil || got.Index != 0 || got.Applied != 1 || got.KeyVersion != 2 || !got.MissingKey() {
		t.Fatalf("failure %+v", got)
	}
}
