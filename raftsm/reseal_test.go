package raftsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// fakeEnvelope is an envelope header naming key version v (enough for
// crypto.EnvelopeKeyVersion; the walk never opens anything).
func fakeEnvelope(v uint32) []byte {
	b := make([]byte, crypto.Overhead+4)
	b[0], b[1], b[2] = 'v', 'l', 1
	binary.BigEndian.PutUint32(b[3:7], v)
	return b
}

// fakeDataEnvelope is a data version's envelope: under DEK v1 or v2, or
// under its own data key, which no rotation re-seals.
func fakeDataEnvelope(rng *rand.Rand) []byte {
	return fakeEnvelope([]uint32{1, 2, DataKeyVersion}[rng.IntN(3)])
}

// TestResealPagesMatchCandidates: walking a group page by page finds
// exactly the secrets the whole-group query lists, whatever the page size,
// and the count agrees.
func TestResealPagesMatchCandidates(t *testing.T) {
	if v, err := crypto.EnvelopeKeyVersion(fakeEnvelope(7)); err != nil || v != 7 {
		t.Fatalf("fake envelope: %d, %v", v, err)
	}
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	rng := rand.New(rand.NewPCG(1, 2))
	idx := uint64(1)
	for i := range 300 {
		id := fmt.Sprintf("%03x", rng.IntN(4096))
		if i%7 == 0 {
			id = id[:2] // some ids are prefixes of others
		}
		c := create(id, "n"+id, int64(i))
		c.Secret.Record = fakeEnvelope(uint32(1 + rng.IntN(2)))
		c.Secret.Data = fakeDataEnvelope(rng)
		n.apply(t, idx, c)
		idx++
		for v := uint32(2); v <= uint32(rng.IntN(4)); v++ {
			u := &Command{Op: OpSecretUpdate, RequestID: reqID(), Time: int64(i), Secret: &SecretWrite{
				ID: id, NameMAC: mac("n" + id), ExpectGen: idx - 1, Record: fakeEnvelope(2), Version: v, Data: fakeDataEnvelope(rng),
			}}
			n.apply(t, idx, u)
			idx++
		}
	}
	all, err := n.sm.Lookup(QueryReseal{Target: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := all.([]ResealCandidate)
	if len(want) == 0 {
		t.Fatal("no candidates: the test sets nothing up")
	}
	for _, q := range []QueryResealPage{{Limit: 1}, {Limit: 3}, {Limit: 50}, {}, {Limit: 3, Full: true}, {Full: true}} {
		limit := q.Limit
		var got []ResealCandidate
		after := ""
		count := 0
		for {
			out, err := n.sm.Lookup(QueryResealPage{Target: 2, After: after, Limit: limit, Full: q.Full})
			if err != nil {
				t.Fatal(err)
			}
			p := out.(*ResealPage)
			got = append(got, p.Candidates...)
			c, _ := n.sm.Lookup(QueryResealPage{Target: 2, After: after, Count: true})
			if after == "" {
				count = c.(*ResealPage).Count
			}
			if !p.More {
				break
			}
			after = p.Next
		}
		if q.Full {
			checkFullCandidates(t, n, got, 2)
		}
		same := slices.EqualFunc(got, want, func(a, b ResealCandidate) bool { return a.ID == b.ID && a.Gen == b.Gen })
		if !same {
			t.Fatalf("limit %d: pages found %d candidates, the whole query %d:\n%v\n%v", limit, len(got), len(want), got, want)
		}
		if count != len(want) {
			t.Fatalf("count %d, want %d", count, len(want))
		}
	}
}

// checkFullCandidates: a Full page's candidates carry their stored record
// and exactly their data versions not sealed under target.
func checkFullCandidates(t *testing.T, n *testNode, cands []ResealCandidate, target uint32) {
	t.Helper()
	for _, c := range cands {
		out, err := n.sm.Lookup(QueryIDPrefix{Prefix: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		var rec []byte
		for _, s := range out.([]StoredSecret) {
			if s.ID == c.ID {
				rec = s.Sealed
			}
		}
		if !bytes.Equal(c.Sealed, rec) {
			t.Fatalf("%s: page carries record %x, stored %x", c.ID, c.Sealed, rec)
		}
		var want []DataVersion
		for v := uint32(1); v <= 4; v++ {
			d, err := n.sm.Lookup(QueryData{ID: c.ID, Version: v})
			if err != nil {
				t.Fatal(err)
			}
			if d := d.([]byte); d != nil {
				if kv, _ := crypto.EnvelopeKeyVersion(d); kv != target && kv != DataKeyVersion {
					want = append(want, DataVersion{Version: v, Data: d})
				}
			}
		}
		same := slices.EqualFunc(c.Data, want, func(a, b DataVersion) bool { return a.Version == b.Version && bytes.Equal(a.Data, b.Data) })
		if !same {
			t.Fatalf("%s: page carries data %v, want %v", c.ID, c.Data, want)
		}
	}
}
