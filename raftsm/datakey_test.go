package raftsm

import (
	"testing"

	"github.com/vaultd/vault/crypto"
)

// A data version under its own data key is never a re-seal candidate, nor
// counted under a DEK; one under an old DEK is. A secret is a candidate
// for its record alone when only the record is under an old DEK.
func TestDataKeyVersionsAreNotResealed(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	put := func(idx uint64, id string, rec, data uint32) {
		c := create(id, "n"+id, 1)
		c.Secret.Record, c.Secret.Data = fakeEnvelope(rec), fakeEnvelope(data)
		n.apply(t, idx, c)
	}
	put(1, "current", 2, DataKeyVersion)    // nothing to do
	put(2, "old-record", 1, DataKeyVersion) // the record only
	put(3, "old-data", 2, 1)                // a version from before data keys
	put(4, "current-dek", 2, 2)             // under the target already
	for _, full := range []bool{false, true} {
		out, err := n.sm.Lookup(QueryResealPage{Target: 2, Full: full})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range out.(*ResealPage).Candidates {
			ids = append(ids, c.ID)
			if full && c.ID == "old-record" && len(c.Data) != 0 {
				t.Errorf("old-record carries %d data versions to re-seal, want none", len(c.Data))
			}
			if full && c.ID == "old-data" && len(c.Data) != 1 {
				t.Errorf("old-data carries %d data versions to re-seal, want 1", len(c.Data))
			}
		}
		if len(ids) != 2 || ids[0] != "old-data" || ids[1] != "old-record" {
			t.Fatalf("full=%v: candidates %v, want [old-data old-record]", full, ids)
		}
	}
	counts, err := n.store.ValueKeyVersions(2)
	if err != nil {
		t.Fatal(err)
	}
	if counts[DataKeyVersion] != 0 || counts[1] != 2 || counts[2] != 4 {
		t.Fatalf("values by key version %v, want v1: 2, v2: 4 and none under data keys", counts)
	}
}
