package raftsm

import (
	"fmt"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// The values batches carry (applycarry.go) must be what the database holds:
// seal counts and the prune time after one-entry batches, a restart and a
// snapshot recovery, with the carried values checked against a fresh read.
func TestCarriedValuesMatchTheStore(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	t0 := int64(1e12)
	index, applied := uint64(1), uint64(0)
	step := func(m int64) {
		t.Helper()
		name := fmt.Sprintf("s%d", index)
		if r := n.apply(t, index, create(name, name, t0+m*prunePeriod)); r[0].Value != ResultOK {
			t.Fatalf("create %s = %+v", name, r)
		}
		index++
		applied++
	}
	check := func(when string) {
		t.Helper()
		got, err := n.sm.Lookup(QuerySeals{})
		if err != nil {
			t.Fatal(err)
		}
		if s := got.(map[uint32]uint64); s[1] != applied {
			t.Fatalf("%s: stored seal count %d, want %d", when, s[1], applied)
		}
		if c := n.sm.idx.carry; c.seals != nil && c.seals[1] != applied {
			t.Fatalf("%s: carried seal count %d, want %d", when, c.seals[1], applied)
		}
		stored, err := n.store.get(dataKey(n.sm.shard, n.sm.gen, subRequests))
		if err != nil {
			t.Fatal(err)
		}
		if c := n.sm.idx.carry; c.pruneKnown && c.lastPrune != int64(getU64(stored)) {
			t.Fatalf("%s: carried prune time %d, stored %d", when, c.lastPrune, getU64(stored))
		}
	}
	for m := int64(0); m < 5; m++ {
		step(m)
		step(m)
		check(fmt.Sprintf("minute %d", m))
	}
	if !n.sm.idx.carry.pruneKnown || n.sm.idx.carry.seals[1] != applied {
		t.Fatalf("nothing carried between batches: %+v", n.sm.idx.carry)
	}
	n.reopen(t)
	check("after a restart")
	step(5)
	check("after a restart and a create")
	dst := newTestNode(t, key, 2)
	n.snapshotTo(t, dst)
	n = dst
	check("after a snapshot recovery")
	step(6)
	step(6)
	check("after a snapshot recovery and creates")
}
