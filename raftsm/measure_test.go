//go:build measure

// Measurements, not checks: they build a million-secret index or 700,000
// request ids and print figures. Run them with
//
//	go test -tags measure -run 'TestIndexMemory|TestPruneTime' -v ./raftsm

package raftsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/vaultd/vault/crypto"
)

// TestIndexMemory reports the index's heap per secret at 1M secrets
// (it also times the rebuild from a real store).
func TestIndexMemory(t *testing.T) {
	const secrets = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := newKeyIndex()
	m := make([]byte, 33)
	for i := range secrets {
		m[0] = subName
		binary.BigEndian.PutUint64(m[1:], uint64(i)*0x9e3779b97f4a7c15)
		x.add(m)
		x.add(fmt.Appendf(nil, "o%016x%016x", i, i*7))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := after.HeapAlloc - before.HeapAlloc
	t.Logf("index of %d secrets (2 keys each): %d bytes, %.1f bytes/secret", secrets, heap, float64(heap)/secrets)
	runtime.KeepAlive(x)

	// Remembered request ids: ten minutes of 700,000 creates.
	const ids = 700_000
	runtime.GC()
	runtime.ReadMemStats(&before)
	x = newKeyIndex()
	id := make([]byte, 16)
	for i := range ids {
		binary.BigEndian.PutUint64(id, uint64(i)*0x9e3779b97f4a7c15)
		x.addRequest(id, int64(i)*int64(dedupWindow/ids))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap = after.HeapAlloc - before.HeapAlloc
	t.Logf("index of %d request ids: %d bytes, %.1f bytes/id", ids, heap, float64(heap)/ids)
	runtime.KeepAlive(x)

	// Rebuild time from a store holding 1M secrets (names and records of
	// 200 bytes; data versions are not read by the rebuild).
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	rec := bytes.Repeat([]byte{1}, 208)
	err := n.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		for i := range secrets {
			id := fmt.Sprintf("%016x%016x", i, i*7)
			m[0] = subName
			binary.BigEndian.PutUint64(m[1:], uint64(i)*0x9e3779b97f4a7c15)
			b.Set(dataKey(2, 1, m...), []byte(id), nil)
			b.Set(dataKey(2, 1, append([]byte{subObject}, id...)...), rec, nil)
			if b.Len() > 8<<20 {
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
				b = db.NewBatch()
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		return db.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n.reopen(t)
	t.Logf("open at %d secrets: %v", secrets, time.Since(start))
	n.waitIndex(t)
	t.Logf("index scan merged after %v", time.Since(start))
	if !n.sm.idx.mayHave(append([]byte{subObject}, fmt.Sprintf("%016x%016x", 5, 35)...)) {
		t.Fatal("rebuilt index misses a secret")
	}
}

// TestPruneTime reports how long the prune of 700,000 remembered request
// ids takes.
func TestPruneTime(t *testing.T) {
	const ids = 700_000
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	t0 := int64(1e12)
	n.apply(t, 1, create("a", "alpha", t0)) // the first prune, at t0
	err := n.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		v := make([]byte, 24)
		id := make([]byte, 16)
		for i := range ids {
			// Ten minutes of ids, the oldest tenth past the window at the
			// prune below.
			when := t0 + int64(i)*int64(dedupWindow/ids)
			binary.BigEndian.PutUint64(v, uint64(when))
			binary.BigEndian.PutUint64(id, uint64(i)*0x9e3779b97f4a7c15)
			b.Set(dataKey(2, 1, reqTimeKey(when, id)...), v, nil)
			if b.Len() > 8<<20 {
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
				b = db.NewBatch()
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		return db.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n.reopen(t)
	t.Logf("open with %d remembered ids: %v", ids, time.Since(start))

	// The same ids in the old layout: the open migrates them.
	m := newTestNode(t, key, 2)
	m.apply(t, 1, create("a", "alpha", t0))
	id := make([]byte, 16)
	for i := range ids {
		when := t0 + int64(i)*int64(dedupWindow/ids)
		binary.BigEndian.PutUint64(id, uint64(i)*0x9e3779b97f4a7c15)
		putOldRequest(t, m.store, 2, 1, id, when, ResultOK)
	}
	start = time.Now()
	m.reopen(t)
	t.Logf("open migrating %d old-layout ids: %v", ids, time.Since(start))
	start = time.Now()
	n.apply(t, 2, create("b", "beta", t0+dedupWindow+dedupWindow/10))
	t.Logf("apply with a prune of %d remembered ids: %v", ids, time.Since(start))
}

// TestResealWalkTime compares the queries of a full rotation's re-sealing
// in steps of 256 over a group of stale secrets: listing every candidate
// on each step (as before) against walking the group page by page. The
// re-seal itself is a direct write of an envelope under the target key.
//
//	go test -tags measure -run TestResealWalkTime -v ./raftsm
func TestResealWalkTime(t *testing.T) {
	for _, secrets := range []int{10_000, 40_000} {
		for _, paged := range []bool{false, true} {
			key, _ := crypto.GenerateKey(1)
			n := newTestNode(t, key, 2)
			old, target := fakeEnvelope(1), fakeEnvelope(2)
			err := n.store.with(func(db *pebble.DB) error {
				b := db.NewBatch()
				for i := range secrets {
					id := fmt.Sprintf("%016x%016x", i, i*7)
					b.Set(dataKey(2, 1, append([]byte{subObject}, id...)...), append(make([]byte, 8), old...), nil)
					b.Set(dataKey(2, 1, append(dataPrefix(id), u32(1)...)...), old, nil)
				}
				return b.Commit(pebble.NoSync)
			})
			if err != nil {
				t.Fatal(err)
			}
			reseal := func(id string) {
				n.store.with(func(db *pebble.DB) error {
					b := db.NewBatch()
					b.Set(dataKey(2, 1, append([]byte{subObject}, id...)...), append(make([]byte, 8), target...), nil)
					b.Set(dataKey(2, 1, append(dataPrefix(id), u32(1)...)...), target, nil)
					return b.Commit(pebble.NoSync)
				})
			}
			start, steps, done := time.Now(), 0, 0
			var inQueries time.Duration
			after := ""
			for {
				steps++
				q0 := time.Now()
				var cands []ResealCandidate
				more := false
				if paged {
					out, err := n.sm.Lookup(QueryResealPage{Target: 2, After: after, Limit: 256})
					if err != nil {
						t.Fatal(err)
					}
					p := out.(*ResealPage)
					cands, more, after = p.Candidates, p.More, p.Next
				} else {
					out, err := n.sm.Lookup(QueryReseal{Target: 2})
					if err != nil {
						t.Fatal(err)
					}
					cands = out.([]ResealCandidate)
					more = len(cands) > 256
					cands = cands[:min(256, len(cands))]
				}
				inQueries += time.Since(q0)
				for _, c := range cands {
					reseal(c.ID)
					done++
				}
				if !more {
					break
				}
			}
			if done != secrets {
				t.Fatalf("re-sealed %d of %d", done, secrets)
			}
			t.Logf("%d secrets, paged %v: %d steps, %v in queries, %v in all", secrets, paged, steps, inQueries.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		}
	}
}
