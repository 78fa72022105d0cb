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
