package vault

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// ringEpochs are the rings of a DEK rotation as the control group stores
// them: epoch 1 holds DEK v1, epoch 2 adds v2 (pending), epoch 3 makes v2
// active. kek wraps all of them; ring is epoch 1 unwrapped.
type ringEpochs struct {
	kek   *crypto.Key
	ring  *keys.Keyring
	wraps map[uint64]*keys.WrappedKeyring
}

func newRingEpochs(t *testing.T) *ringEpochs {
	t.Helper()
	kek, err := keys.GenerateKEK(statedir.KEKVersionBase + 4)
	if err != nil {
		t.Fatal(err)
	}
	w1, ring, err := keys.NewKeyring(kek, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w2 := w1.Clone()
	d, dek, err := keys.NewDEK(kek, 2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dek.Wipe()
	if err := w2.AddDEK(d); err != nil {
		t.Fatal(err)
	}
	w3 := w2.Clone()
	if err := w3.Activate(2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ring.Wipe(); kek.Wipe() })
	return &ringEpochs{kek: kek, ring: ring, wraps: map[uint64]*keys.WrappedKeyring{1: w1, 2: w2, 3: w3}}
}

// storeRings writes, through each shard's state machine, the rings of the
// epochs given per shard, in order.
func (re *ringEpochs) storeRings(t *testing.T, store *raftsm.Store, epochs map[uint64][]uint64) {
	t.Helper()
	create, err := raftsm.NewFactory(store, raftsm.Hooks{
		Keys:           re.ring,
		SnapshotKey:    func() (*crypto.Key, error) { return re.ring.Key(1) },
		KeyringApplied: func(uint64, []byte, uint64) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	seal, err := re.ring.Key(1)
	if err != nil {
		t.Fatal(err)
	}
	for shard, es := range epochs {
		s := create(shard, 1)
		if _, err := s.Open(nil); err != nil {
			t.Fatal(err)
		}
		var ents []sm.Entry
		for i, e := range es {
			b, err := raftsm.SealCommand(seal, shard, &raftsm.Command{
				Op: raftsm.OpKeyringSet, RequestID: newRequestID(), Time: time.Now().UnixNano(),
				Keyring: re.wraps[e].Marshal(), KeyringEpoch: e,
			})
			if err != nil {
				t.Fatal(err)
			}
			ents = append(ents, sm.Entry{Index: uint64(i + 1), Cmd: b})
		}
		out, err := s.Update(ents)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out {
			if e.Result.Value != raftsm.ResultOK {
				t.Fatalf("shard %d entry %d: result %d", shard, e.Index, e.Result.Value)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A manager stopped while its control group had applied a new DEK but a
// secret group had not yet applied the ring that adds it: at restart the
// ring must hold the new DEK, which the groups that applied it can meet.
func TestLoadKeyringTakesTheNewestEpoch(t *testing.T) {
	re := newRingEpochs(t)
	st := &statedir.Node{Shards: 4}
	for _, tc := range []struct {
		name   string
		epochs map[uint64][]uint64
	}{
		{"last group behind", map[uint64][]uint64{1: {1, 2, 3}, 2: {1, 2, 3}, 3: {1, 2, 3}, 4: {1, 2}, 5: {1}}},
		{"first group ahead", map[uint64][]uint64{1: {1, 2, 3}, 2: {1}, 3: {1}, 4: {1}, 5: {1}}},
		{"middle group ahead", map[uint64][]uint64{1: {1, 2}, 2: {1}, 3: {1, 2, 3}, 4: {1}, 5: {1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := raftsm.OpenStore(filepath.Join(dir, statedir.StoreDir), false)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			re.storeRings(t, store, tc.epochs)
			ring, epoch, err := loadKeyring(dir, store, st, re.kek)
			if err != nil {
				t.Fatal(err)
			}
			defer ring.Wipe()
			if epoch != 3 {
				t.Errorf("loaded epoch %d, want 3", epoch)
			}
			if _, err := ring.Key(2); err != nil {
				t.Fatalf("the loaded ring lacks DEK v2, which a group's entries are sealed under: %v (versions %v)", err, ring.Versions())
			}
			if k, err := ring.Active(); err != nil || k.Version() != 2 {
				t.Fatalf("active DEK %v, %v: want v2", k, err)
			}
		})
	}
}

// Groups apply their rings independently: a lagging group's older ring,
// applied after a newer one, must not take a DEK out of the node's ring.
func TestKeyringAppliedKeepsTheNewestEpoch(t *testing.T) {
	re := newRingEpochs(t)
	n := &Node{cfg: Config{StateDir: t.TempDir()}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ring, err := re.wraps[1].Unwrap(re.kek)
	if err != nil {
		t.Fatal(err)
	}
	r := &replicas{node: n, ring: ring, kek: re.kek, ringEpoch: 1}
	t.Cleanup(ring.Wipe)
	check := func(what string, wantActive uint32) {
		t.Helper()
		if _, err := ring.Key(2); err != nil {
			t.Fatalf("%s: the ring lacks DEK v2: %v (versions %v)", what, err, ring.Versions())
		}
		if k, err := ring.Active(); err != nil || k.Version() != wantActive {
			t.Fatalf("%s: active DEK %v, %v: want v%d", what, k, err, wantActive)
		}
	}
	n.keyringApplied(r, 5, re.wraps[2].Marshal(), 2)
	check("group 5 added v2", 1)
	n.keyringApplied(r, raftsm.ControlShard, re.wraps[3].Marshal(), 3)
	check("the control group activated v2", 2)
	// Group 3 lags: it applies epochs 1 and 2 only now.
	n.keyringApplied(r, 3, re.wraps[1].Marshal(), 1)
	check("group 3 applied epoch 1 late", 2)
	n.keyringApplied(r, 3, re.wraps[2].Marshal(), 2)
	check("group 3 applied epoch 2 late", 2)
	// The same epoch again (another group) is taken.
	n.keyringApplied(r, 5, re.wraps[3].Marshal(), 3)
	check("group 5 applied epoch 3", 2)
	if r.ringEpoch != 3 {
		t.Fatalf("ring epoch %d, want 3", r.ringEpoch)
	}
}
