package raftsm

import (
	"reflect"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// TestUpdatePrunesVersions: an update with PruneBelow removes the data
// versions below it and keeps the rest; the command round-trips through
// the codec; PruneBelow is refused anywhere but on an update, and above
// the update's own new version.
func TestUpdatePrunesVersions(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	n.apply(t, 1, create("a", "alpha", 1))
	gen := uint64(1)
	for v := uint32(2); v <= 6; v++ {
		u := &Command{Op: OpSecretUpdate, RequestID: reqID(), Time: int64(v), Secret: &SecretWrite{
			ID: "a", NameMAC: mac("alpha"), ExpectGen: gen, Record: []byte("rec"), Version: v, Data: []byte{byte(v)},
		}}
		if v >= 4 {
			u.Secret.PruneBelow = v - 2 // keep three
		}
		if got, err := DecodeCommand(EncodeCommand(u)); err != nil || !reflect.DeepEqual(got.Secret, u.Secret) {
			t.Fatalf("codec: %+v, %v", got, err)
		}
		gen++
		if res := n.apply(t, gen, u); res[0].Value != ResultOK {
			t.Fatalf("update to v%d: %+v", v, res)
		}
	}
	for v := uint32(1); v <= 6; v++ {
		d, _ := n.sm.Lookup(QueryData{ID: "a", Version: v})
		if kept := d.([]byte) != nil; kept != (v >= 4) {
			t.Errorf("version %d kept: %v", v, kept)
		}
	}
	bad := []*Command{
		{Op: OpSecretCreate, Secret: &SecretWrite{ID: "b", NameMAC: mac("b"), Record: []byte("r"), Version: 1, Data: []byte("d"), PruneBelow: 1}},
		{Op: OpSecretUpdate, Secret: &SecretWrite{ID: "a", NameMAC: mac("alpha"), ExpectGen: gen, Record: []byte("r"), Version: 7, Data: []byte("d"), PruneBelow: 8}},
		{Op: OpSecretRemove, Secret: &SecretWrite{ID: "a", NameMAC: mac("alpha"), PruneBelow: 2}},
	}
	for _, c := range bad {
		c.RequestID, c.Time = reqID(), 9
		if err := c.Validate(); err == nil {
			t.Errorf("%s with PruneBelow %d: valid", c.Op, c.Secret.PruneBelow)
		}
	}
}
