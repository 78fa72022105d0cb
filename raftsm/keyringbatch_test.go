package raftsm

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

// hookedKeys is a node's keyring as the keyring hook keeps it: a ring
// "add vN" makes key vN known.
type hookedKeys struct {
	mu   sync.Mutex
	all  map[uint32]*crypto.Key // every key the test has
	held map[uint32]*crypto.Key // the keys the hook made known
}

func (h *hookedKeys) Key(v uint32) (*crypto.Key, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, ok := h.held[v]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("key v%d: %w", v, crypto.ErrUnknownKeyVersion)
}

func (h *hookedKeys) applied(_ uint64, ring []byte, _ uint64) {
	var v uint32
	if _, err := fmt.Sscanf(string(ring), "add v%d", &v); err == nil {
		h.mu.Lock()
		h.held[v] = h.all[v]
		h.mu.Unlock()
	}
}

// A replica catching up gets, in one Update, the keyring entry that
// introduces a DEK and entries sealed under that DEK: the DEK must be known
// (the hook has run) before the entries after the keyring are opened.
func TestKeyringEntryKeysTheRestOfItsUpdate(t *testing.T) {
	k1, _ := crypto.GenerateKey(1)
	k2, _ := crypto.GenerateKey(2)
	keys := &hookedKeys{all: map[uint32]*crypto.Key{1: k1, 2: k2}, held: map[uint32]*crypto.Key{1: k1}}
	store, err := OpenStore(filepath.Join(t.TempDir(), "state"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var failed *ReplicaFailure
	var changed []string
	factory, err := NewFactory(store, Hooks{
		Keys:           keys,
		SnapshotKey:    func() (*crypto.Key, error) { return k1, nil },
		KeyringApplied: keys.applied,
		SecretsChanged: func(_ uint64, ids []string) { changed = append(changed, ids...) },
		ReplicaFailed:  func(f *ReplicaFailure) { failed = f },
	})
	if err != nil {
		t.Fatal(err)
	}
	const shard = 3
	r := factory(shard, 1).(*StateMachine)
	if _, err := r.Open(nil); err != nil {
		t.Fatal(err)
	}
	seal := func(k *crypto.Key, c *Command) []byte {
		b, err := SealCommand(k, shard, c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ring := func(s string, epoch uint64) *Command {
		return &Command{Op: OpKeyringSet, RequestID: reqID(), Time: 1, Keyring: []byte(s), KeyringEpoch: epoch}
	}
	ents := []sm.Entry{
		{Index: 1, Cmd: seal(k1, create("a", "alpha", 1))},
		{Index: 2, Cmd: seal(k1, ring("add v2", 2))},
		{Index: 3, Cmd: seal(k2, create("b", "beta", 2))},
		{Index: 4, Cmd: seal(k2, ring("activate v2", 3))},
		{Index: 5, Cmd: seal(k2, create("c", "gamma", 3))},
	}
	out, err := r.Update(ents)
	if err != nil {
		t.Fatal(err)
	}
	if failed != nil {
		t.Fatalf("the replica stopped: %v", failed)
	}
	for _, e := range out {
		if e.Result.Value != ResultOK {
			t.Fatalf("entry %d: result %d", e.Index, e.Result.Value)
		}
	}
	if r.applied != 5 {
		t.Fatalf("applied %d, want 5", r.applied)
	}
	if fmt.Sprint(changed) != "[a b c]" {
		t.Fatalf("secrets changed %v", changed)
	}
	got, _ := r.Lookup(QueryKeyringEpoch{})
	if k := got.(*StoredKeyring); string(k.Ring) != "activate v2" || k.Epoch != 3 {
		t.Fatalf("stored %+v", k)
	}

	// An entry under a key no ring introduced still stops the replica,
	// after committing what came before it.
	k3, _ := crypto.GenerateKey(3)
	out, err = r.Update([]sm.Entry{
		{Index: 6, Cmd: seal(k2, create("d", "delta", 4))},
		{Index: 7, Cmd: seal(k2, ring("add v4", 4))},
		{Index: 8, Cmd: seal(k3, create("e", "epsilon", 5))},
		{Index: 9, Cmd: seal(k2, create("f", "phi", 6))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if failed == nil || failed.Index != 8 || failed.Applied != 7 || failed.KeyVersion != 3 {
		t.Fatalf("failure %+v, want entry 8 under v3 after 7", failed)
	}
	for i, want := range []uint64{ResultOK, ResultOK, ResultFailed, ResultFailed} {
		if out[i].Result.Value != want {
			t.Fatalf("entry %d: result %d, want %d", out[i].Index, out[i].Result.Value, want)
		}
	}
	if r.applied != 7 {
		t.Fatalf("applied %d, want 7", r.applied)
	}
}
