package raftsm

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// dataKeys lists the data keys of the live generation: "v <id> <version>
// -> at <index>" or "v <id> <version> = <value>" for a value kept where
// versions were kept before, and "w <index> <id>".
func dataKeys(t *testing.T, n *testNode) []string {
	t.Helper()
	var out []string
	base := dataKey(n.sm.shard, n.sm.gen)
	n.store.with(func(db *pebble.DB) error {
		it := db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
		for it.First(); it.Valid(); it.Next() {
			k, err := ParseSubKey(it.Key()[len(base):])
			if err != nil {
				t.Fatal(err)
			}
			switch k.Kind {
			case SubData:
				if at, kv, ok := DataPointer(it.Value()); ok {
					out = append(out, fmt.Sprintf("v %s %d -> at %d (v%d)", k.ID, k.Version, at, kv))
				} else {
					out = append(out, fmt.Sprintf("v %s %d = %q", k.ID, k.Version, it.Value()[crypto.Overhead+4:]))
				}
			case SubDataAt:
				out = append(out, fmt.Sprintf("w %d %s", k.Index, k.ID))
			}
		}
		return it.Close()
	})
	sort.Strings(out)
	return out
}

// sealedData is a fake envelope under key version v carrying marker.
func sealedData(v uint32, marker string) []byte { return append(fakeEnvelope(v), marker...) }

// Versions written before the index layout (their sealed data under the
// id's key) keep being read, re-sealed in place, pruned and removed; new
// versions go under their index; and no value is left behind.
func TestDataLayoutKeepsOlderVersions(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	idx := uint64(1)
	apply := func(c *Command) uint64 {
		t.Helper()
		res := n.apply(t, idx, c)
		idx++
		return res[0].Value
	}
	want := func(when string, keys ...string) {
		t.Helper()
		sort.Strings(keys)
		if got := dataKeys(t, n); fmt.Sprint(got) != fmt.Sprint(keys) {
			t.Fatalf("%s: data keys\n%v\nwant\n%v", when, got, keys)
		}
	}
	read := func(version uint32, wantMarker string) {
		t.Helper()
		d, err := n.sm.Lookup(QueryData{ID: "b", Version: version})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := d.([]byte)
		if wantMarker == "" && got != nil || wantMarker != "" && !bytes.HasSuffix(got, []byte(wantMarker)) {
			t.Fatalf("data b v%d = %q, want %q", version, got, wantMarker)
		}
	}
	c := create("b", "nb", 1)
	c.Secret.Record, c.Secret.Data = fakeEnvelope(1), sealedData(1, "one")
	apply(c)
	want("create", "v b 1 -> at 1 (v1)", "w 1 b")
	read(1, "one")

	// Make version 1 what an older vault wrote: the data under its id.
	n.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		b.Set(dataKey(2, n.sm.gen, append(dataPrefix("b"), u32(1)...)...), sealedData(1, "one"), nil)
		b.Delete(dataKey(2, n.sm.gen, dataAtSub(1, "b")...), nil)
		return b.Commit(pebble.Sync)
	})
	want("older layout", `v b 1 = "one"`)
	read(1, "one")

	// A rotation finds it and re-seals it where it is.
	out, err := n.sm.Lookup(QueryResealPage{Target: 2, Full: true})
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*ResealPage)
	if len(p.Candidates) != 1 || len(p.Candidates[0].Data) != 1 || !bytes.HasSuffix(p.Candidates[0].Data[0].Data, []byte("one")) {
		t.Fatalf("re-seal candidates %+v", p.Candidates)
	}
	r := apply(&Command{Op: OpSecretReseal, RequestID: reqID(), Time: 2, Secret: &SecretWrite{ID: "b", NameMAC: mac("nb"), ExpectGen: 1,
		Record: fakeEnvelope(2), Resealed: []DataVersion{{Version: 1, Data: sealedData(2, "one-v2")}}}})
	if r != ResultOK {
		t.Fatalf("re-seal: %v", r)
	}
	want("re-sealed in place", `v b 1 = "one-v2"`)

	// New versions go under their index; one under a DEK (an older
	// proposer's) is a re-seal candidate read through its pointer.
	upd := func(version, pruneBelow uint32, data []byte) {
		t.Helper()
		gen, _ := n.sm.Lookup(QueryIDPrefix{Prefix: "b"})
		r := apply(&Command{Op: OpSecretUpdate, RequestID: reqID(), Time: int64(idx), Secret: &SecretWrite{ID: "b", NameMAC: mac("nb"),
			ExpectGen: gen.([]StoredSecret)[0].Gen, Record: fakeEnvelope(2), Version: version, Data: data, PruneBelow: pruneBelow}})
		if r != ResultOK {
			t.Fatalf("update to v%d: %v", version, r)
		}
	}
	upd(2, 0, sealedData(DataKeyVersion, "two"))
	upd(3, 0, sealedData(1, "three"))
	want("updates", `v b 1 = "one-v2"`, "v b 2 -> at 3 (v4294967295)", "w 3 b", "v b 3 -> at 4 (v1)", "w 4 b")
	read(2, "two")
	read(3, "three")
	out, _ = n.sm.Lookup(QueryResealPage{Target: 2, Full: true})
	p = out.(*ResealPage)
	if len(p.Candidates) != 1 || len(p.Candidates[0].Data) != 1 || p.Candidates[0].Data[0].Version != 3 || !bytes.HasSuffix(p.Candidates[0].Data[0].Data, []byte("three")) {
		t.Fatalf("re-seal candidates %+v", p.Candidates)
	}
	gen, _ := n.sm.Lookup(QueryIDPrefix{Prefix: "b"})
	r = apply(&Command{Op: OpSecretReseal, RequestID: reqID(), Time: int64(idx), Secret: &SecretWrite{ID: "b", NameMAC: mac("nb"), ExpectGen: gen.([]StoredSecret)[0].Gen,
		Record: fakeEnvelope(2), Resealed: []DataVersion{{Version: 3, Data: sealedData(2, "three-v2")}}}})
	if r != ResultOK {
		t.Fatalf("re-seal: %v", r)
	}
	want("re-sealed at its index", `v b 1 = "one-v2"`, "v b 2 -> at 3 (v4294967295)", "w 3 b", "v b 3 -> at 4 (v2)", "w 4 b")
	read(3, "three-v2")

	// Pruning takes versions of both layouts, values included.
	upd(4, 3, sealedData(DataKeyVersion, "four"))
	want("pruned below 3", "v b 3 -> at 4 (v2)", "w 4 b", "v b 4 -> at 6 (v4294967295)", "w 6 b")
	read(1, "")
	read(2, "")
	read(4, "four")

	// Removing the secret leaves nothing.
	if r := apply(&Command{Op: OpSecretRemove, RequestID: reqID(), Time: int64(idx), Secret: &SecretWrite{ID: "b", NameMAC: mac("nb")}}); r != ResultOK {
		t.Fatalf("remove: %v", r)
	}
	want("removed")
}
