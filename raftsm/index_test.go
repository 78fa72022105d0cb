package raftsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// withMask runs f with the index's hashes narrowed to mask.
func withMask(mask uint64, f func()) {
	old := indexHashMask
	indexHashMask = mask
	defer func() { indexHashMask = old }()
	f()
}

// reopen restarts the node's replica on the same store: the index is
// rebuilt from the database.
func (n *testNode) reopen(t testing.TB) {
	t.Helper()
	n.sm.Close()
	n.sm = &StateMachine{store: n.store, shard: n.sm.shard, replica: 1, hooks: n.sm.hooks}
	if _, err := n.sm.Open(nil); err != nil {
		t.Fatal(err)
	}
}

// waitIndex waits until the replica's background index scan is merged.
func (n *testNode) waitIndex(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n.sm.mu.RLock()
		building := n.sm.idx.building
		n.sm.mu.RUnlock()
		if !building {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the index scan did not finish")
		}
		time.Sleep(time.Millisecond)
	}
}

// holdIndexScans makes background index scans wait before merging. The
// returned release lets every waiting and later scan through until rearm
// holds scans again.
func holdIndexScans(t *testing.T) (release, rearm func()) {
	var mu sync.Mutex
	gate := make(chan struct{})
	open := false
	indexMergeHook = func() {
		mu.Lock()
		g := gate
		mu.Unlock()
		<-g
	}
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		if !open {
			close(gate)
			open = true
		}
	}
	rearm = func() {
		mu.Lock()
		defer mu.Unlock()
		if open {
			gate, open = make(chan struct{}), false
		}
	}
	t.Cleanup(func() {
		release()
		indexMergeHook = nil
	})
	return release, rearm
}

// snapshotTo streams n's state into dst's replica.
func (n *testNode) snapshotTo(t testing.TB, dst *testNode) {
	t.Helper()
	var buf bytes.Buffer
	ctx, err := n.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if err := dst.sm.RecoverFromSnapshot(&buf, nil); err != nil {
		t.Fatal(err)
	}
}

// assertIndexCovers checks the index's promise: every name, object and
// request record in the live generation is in the index. A built index
// also holds no more name and object keys than the database (no leak).
func assertIndexCovers(t *testing.T, n *testNode) {
	t.Helper()
	s := n.sm
	s.mu.RLock() // a background scan may merge meanwhile
	defer s.mu.RUnlock()
	base := dataKey(s.shard, s.gen)
	stored := 0
	defer func() {
		if s.idx.building {
			return
		}
		held := len(s.idx.base)
		for _, c := range s.idx.added {
			held += int(c)
		}
		for _, c := range s.idx.gone {
			held -= int(c)
		}
		if held != stored {
			t.Fatalf("index holds %d name and object keys, the database %d", held, stored)
		}
	}()
	s.store.with(func(db *pebble.DB) error {
		it := db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
		defer it.Close()
		for it.First(); it.Valid(); it.Next() {
			sub := it.Key()[len(base):]
			switch sub[0] {
			case subName, subObject:
				stored++
				if !s.idx.mayHave(sub) {
					t.Fatalf("key %q is stored but not in the index", sub)
				}
			case subReqTime:
				ts, id, _ := splitReqTimeKey(sub)
				found := false
				for _, x := range s.idx.requestTimes(id, nil) {
					found = found || x == ts
				}
				if !found {
					t.Fatalf("request %x at %d is stored but not in the index", id, ts)
				}
			case subRequests:
				if len(sub) > 1 {
					t.Fatalf("old-layout request record %x left", sub)
				}
			}
		}
		return nil
	})
}

// The index is a cache of the database: after random creates, updates,
// removes, re-seals, retries, prunes, restarts and snapshot recoveries, a
// replica answers exactly as one whose index holds every hash (so it looks
// every key up), and both hold the same state. Background scans are held
// for a few rounds at a time, so applies also run while the index is
// building and are replayed over the scan.
func TestIndexNeverDecidesDifferently(t *testing.T) {
	for _, tc := range []struct {
		name string
		mask uint64
	}{
		{"full hashes", ^uint64(0)},
		{"colliding hashes", 0x7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(n int) { indexCompactMin = n }(indexCompactMin)
			indexCompactMin = 2 // merge changes into the sorted array often
			key, _ := crypto.GenerateKey(1)
			rng := mathrand.New(mathrand.NewPCG(22, tc.mask))
			release, rearm := holdIndexScans(t)
			var a, ref *testNode
			withMask(tc.mask, func() { a = newTestNode(t, key, 2) })
			withMask(0, func() { ref = newTestNode(t, key, 2) })
			var history []*Command
			now, index := int64(1e12), uint64(1)
			for round := range 120 {
				var cmds []*Command
				for range 1 + rng.IntN(8) {
					now += rng.Int64N(40e9)
					if len(history) > 0 && rng.IntN(4) == 0 {
						// A retried proposal, possibly after its id was pruned.
						cmds = append(cmds, history[rng.IntN(len(history))])
						continue
					}
					id, name := fmt.Sprintf("id%d", rng.IntN(6)), mac(fmt.Sprintf("n%d", rng.IntN(6)))
					w := &SecretWrite{ID: id, NameMAC: name, Record: fmt.Appendf(nil, "rec-%d", index)}
					c := &Command{RequestID: reqID(), Time: now, Secret: w}
					switch rng.IntN(5) {
					case 0, 1:
						c.Op, w.Version, w.Data = OpSecretCreate, 1, []byte("d1")
					case 2:
						c.Op, w.Version, w.Data = OpSecretUpdate, uint32(2+rng.IntN(3)), []byte("d")
					case 3:
						c.Op, w.Record = OpSecretRemove, nil
					case 4:
						c.Op, w.ExpectGen = OpSecretReseal, uint64(1+rng.IntN(int(index)))
						w.Resealed = []DataVersion{{Version: 1, Data: []byte("r1")}}
					}
					cmds = append(cmds, c)
					history = append(history, c)
				}
				ra, rr := a.apply(t, index, cmds...), ref.apply(t, index, cmds...)
				for i := range ra {
					if ra[i].Value != rr[i].Value || !bytes.Equal(ra[i].Data, rr[i].Data) {
						t.Fatalf("round %d entry %d: indexed %+v, reference %+v", round, i, ra[i], rr[i])
					}
				}
				index += uint64(len(cmds))
				assertSameShard(t, a.store, ref.store, 2)
				assertIndexCovers(t, a)
				assertIndexCovers(t, ref)
				switch rng.IntN(8) {
				case 0:
					withMask(tc.mask, func() { a.reopen(t) })
				case 1:
					withMask(0, func() { ref.reopen(t) })
				case 2:
					withMask(tc.mask, func() { ref.snapshotTo(t, a) })
				case 3:
					withMask(0, func() { a.snapshotTo(t, ref) })
				}
				if rng.IntN(3) == 0 {
					release()
					a.waitIndex(t)
					ref.waitIndex(t)
					rearm()
				}
				assertIndexCovers(t, a)
			}
		})
	}
}

// The name and object hashes are a multiset: whatever adds and removes
// (each remove of a key that is there), with compactions in between and
// colliding hashes, a key is reported while it is there.
func TestKeyIndexCounts(t *testing.T) {
	defer func(n int) { indexCompactMin = n }(indexCompactMin)
	indexCompactMin = 3
	rng := mathrand.New(mathrand.NewPCG(7, 7))
	for _, mask := range []uint64{^uint64(0), 0xf, 0x1} {
		var x *keyIndex
		withMask(mask, func() { x = newKeyIndex() })
		have := map[string]bool{}
		for range 5000 {
			k := []byte{subObject, byte('a' + rng.IntN(40))}
			if have[string(k)] {
				x.remove(k)
			} else {
				x.add(k)
			}
			have[string(k)] = !have[string(k)]
			for c := byte('a'); c < 'a'+40; c++ {
				k := []byte{subObject, c}
				if have[string(k)] && !x.mayHave(k) {
					t.Fatalf("mask %#x: key %q is there but not reported", mask, k)
				}
				if !have[string(k)] && x.mayHave(k) && mask == ^uint64(0) {
					t.Fatalf("key %q is gone but reported", k)
				}
			}
		}
	}
}

// A retried proposal applies once: across a prune that keeps its id, a
// restart and a snapshot recovery; once its id is older than the window, it
// is a new proposal.
func TestRetryAppliesOnceAcrossPruneRestartAndSnapshot(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	t0 := int64(1e12)
	c := create("a", "alpha", t0)
	if r := n.apply(t, 1, c); r[0].Value != ResultOK {
		t.Fatalf("create = %+v", r)
	}
	index := uint64(2)
	retry := func(when string, want uint64) {
		t.Helper()
		if r := n.apply(t, index, c); r[0].Value != want {
			t.Fatalf("retry %s = %d, want %d", when, r[0].Value, want)
		}
		index++
	}
	// Each minute of proposer time prunes; the id stays for dedupWindow.
	for m := int64(1); m <= 9; m++ {
		n.apply(t, index, create(fmt.Sprintf("x%d", m), fmt.Sprintf("x%d", m), t0+m*prunePeriod))
		index++
		retry(fmt.Sprintf("after the prune at minute %d", m), ResultOK)
	}
	n.reopen(t)
	retry("after a restart", ResultOK)

	dst := newTestNode(t, key, 2)
	n.snapshotTo(t, dst)
	n = dst
	retry("after a snapshot recovery", ResultOK)
	n.reopen(t)
	retry("after a snapshot recovery and a restart", ResultOK)

	n.apply(t, index, create("late", "late", t0+dedupWindow+1))
	index++
	retry("after its id was pruned", ResultExists)
}

// putOldRequest writes a request record in the layout used before records
// were keyed by time.
func putOldRequest(t testing.TB, s *Store, shard, gen uint64, id []byte, when int64, code uint64) {
	t.Helper()
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(when))
	binary.BigEndian.PutUint64(v[8:], code)
	v = append(v, "result"...)
	err := s.with(func(db *pebble.DB) error {
		return db.Set(dataKey(shard, gen, append([]byte{subRequests}, id...)...), v, pebble.NoSync)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Request records of the old layout are migrated on open and when they
// arrive in a snapshot stream, and keep answering retries.
func TestOldLayoutRequestsMigrate(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	t0 := int64(1e12)
	n.apply(t, 1, create("a", "alpha", t0))
	old := create("b", "beta", t0+1)
	putOldRequest(t, n.store, 2, n.sm.gen, old.RequestID, t0+1, ResultConflict)
	stale := reqID()
	putOldRequest(t, n.store, 2, n.sm.gen, stale, t0-2*dedupWindow, ResultOK)

	// A snapshot taken before the migration carries the old layout.
	src := newTestNode(t, key, 2)
	n.snapshotTo(t, src)
	n.reopen(t)
	later := create("c", "gamma", t0+prunePeriod)
	for _, x := range []*testNode{n, src} {
		assertIndexCovers(t, x)
		r := x.apply(t, 2, old)
		if r[0].Value != ResultConflict || string(r[0].Data) != "result" {
			t.Fatalf("retry of an old-layout request = %+v", r)
		}
		// The stale record goes with the next prune.
		x.apply(t, 3, later)
		var left int
		x.store.with(func(db *pebble.DB) error {
			base := dataKey(2, x.sm.gen, subReqTime)
			it := db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
			for it.First(); it.Valid(); it.Next() {
				if _, id, _ := splitReqTimeKey(it.Key()[len(base)-1:]); bytes.Equal(id, stale) {
					left++
				}
			}
			return it.Close()
		})
		if left != 0 {
			t.Fatal("an old-layout record older than the window survived a prune")
		}
	}
	assertSameShard(t, n.store, src.store, 2)
}
