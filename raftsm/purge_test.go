package raftsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

// TestPurgeLeavesNoOldValues: after values are overwritten and the store is
// purged, no file of the database holds the old bytes (no recycled WAL, no
// old table).
func TestPurgeLeavesNoOldValues(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(v string) {
		s.with(func(db *pebble.DB) error {
			for i := range 200 {
				if err := db.Set(dataKey(2, 1, subObject, byte(i)), []byte(v), pebble.NoSync); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
	}
	write("OLD-SEALED-VALUE")
	if err := s.Purge(); err != nil { // old values now in a table
		t.Fatal(err)
	}
	write("OLD-SEALED-VALUE-TWO") // and in the WAL
	write("new-value")
	if err := s.Purge(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, []byte("OLD-SEALED-VALUE")) {
			t.Errorf("%s still holds an overwritten value", e.Name())
		}
	}
	got, _ := s.get(dataKey(2, 1, subObject, 7))
	if string(got) != "new-value" {
		t.Fatalf("value after purge: %q", got)
	}
}

// oldCopies lists the files of dir holding marker.
func oldCopies(t *testing.T, dir string, marker []byte) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, marker) {
			out = append(out, e.Name())
		}
	}
	return out
}

// sealedAs is an envelope under key version v that carries marker.
func sealedAs(v uint32, marker string) []byte {
	return append(fakeEnvelope(v), marker...)
}

// TestPurgeOfMarkedStore: a new store is marked (its data ranges hold
// nothing under a DEK), and its purge still removes every old copy of a
// record; a data version written under a DEK clears the mark, so the next
// purge compacts the data ranges too and no old copy of that version is
// left; the purge after which no live version is under a DEK marks the
// store again.
func TestPurgeOfMarkedStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	key, _ := crypto.GenerateKey(1)
	n := newTestNodeAt(t, dir, key, 2)
	clean := func(want bool, when string) {
		t.Helper()
		got, err := n.store.DataRangesClean()
		if err != nil || got != want {
			t.Fatalf("%s: data ranges marked clean %v (%v), want %v", when, got, err, want)
		}
	}
	clean(true, "new store")
	// What key status counts under each DEK, whether or not the data
	// ranges are skipped (a marked store's are).
	counts := func(want map[uint32]int, when string) {
		t.Helper()
		got, err := n.store.ValueKeyVersions(2)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: values by DEK %v (%v), want %v", when, got, err, want)
		}
	}

	idx := uint64(1)
	c := create("a", "na", 1)
	c.Secret.Record, c.Secret.Data = sealedAs(1, "OLD-RECORD-COPY"), sealedAs(DataKeyVersion, "DATA-KEYED-VERSION")
	n.apply(t, idx, c)
	idx++
	clean(true, "after a version under its data key")
	counts(map[uint32]int{1: 1}, "after a version under its data key")
	if err := n.store.Purge(); err != nil { // the record now in a table
		t.Fatal(err)
	}
	reseal := &Command{Op: OpSecretReseal, RequestID: reqID(), Time: 2, Secret: &SecretWrite{ID: "a", NameMAC: mac("na"), ExpectGen: 1, Record: sealedAs(2, "new-record")}}
	n.apply(t, idx, reseal)
	idx++
	if err := n.store.Purge(); err != nil {
		t.Fatal(err)
	}
	if f := oldCopies(t, dir, []byte("OLD-RECORD-COPY")); len(f) > 0 {
		t.Fatalf("an old record survives the purge of a marked store in %v", f)
	}
	if f := oldCopies(t, dir, []byte("DATA-KEYED-VERSION")); len(f) == 0 {
		t.Fatal("the live data version is gone")
	}

	// A version under a DEK (written before data keys) clears the mark.
	c = create("b", "nb", 3)
	c.Secret.Record, c.Secret.Data = sealedAs(2, "rec-b"), sealedAs(1, "OLD-DEK-VERSION")
	n.apply(t, idx, c)
	idx++
	clean(false, "after a version under a DEK")
	counts(map[uint32]int{1: 1, 2: 2}, "after a version under a DEK")
	if err := n.store.Purge(); err != nil {
		t.Fatal(err)
	}
	clean(false, "after a purge with a version under a DEK live")
	reseal = &Command{Op: OpSecretReseal, RequestID: reqID(), Time: 4, Secret: &SecretWrite{ID: "b", NameMAC: mac("nb"), ExpectGen: idx - 1,
		Record: sealedAs(2, "rec-b2"), Resealed: []DataVersion{{Version: 1, Data: sealedAs(2, "dek2-version")}}}}
	if res := n.apply(t, idx, reseal); res[0].Value != ResultOK {
		t.Fatalf("re-seal: %v", res[0])
	}
	idx++
	if err := n.store.Purge(); err != nil {
		t.Fatal(err)
	}
	if f := oldCopies(t, dir, []byte("OLD-DEK-VERSION")); len(f) > 0 {
		t.Fatalf("a version re-sealed under a new DEK survives under the old one in %v", f)
	}
	clean(false, "after a purge with a version under a DEK (v2) live")

	// Once no live version is under a DEK, a purge marks the store again.
	n.apply(t, idx, &Command{Op: OpSecretRemove, RequestID: reqID(), Time: 5, Secret: &SecretWrite{ID: "b", NameMAC: mac("nb")}})
	if err := n.store.Purge(); err != nil {
		t.Fatal(err)
	}
	clean(true, "after a purge with no version under a DEK left")
	counts(map[uint32]int{2: 1}, "after a purge with no version under a DEK left")
	if f := oldCopies(t, dir, []byte("dek2-version")); len(f) > 0 {
		t.Fatalf("a removed version under a DEK survives the purge in %v", f)
	}
}

// A snapshot being recovered may bring versions under a DEK: the mark goes.
func TestRecoverClearsMark(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	src := newTestNode(t, key, 2)
	c := create("a", "na", 1)
	c.Secret.Record, c.Secret.Data = fakeEnvelope(1), fakeEnvelope(DataKeyVersion)
	src.apply(t, 1, c)
	dst := newTestNode(t, key, 2)
	if ok, _ := dst.store.DataRangesClean(); !ok {
		t.Fatal("a new store is not marked")
	}
	src.snapshotTo(t, dst)
	if ok, _ := dst.store.DataRangesClean(); ok {
		t.Fatal("still marked after a snapshot was recovered")
	}
}

// TestPurgeUnderPreparedSnapshot: a snapshot prepared for a lagging
// follower (PrepareSnapshot pins a Pebble snapshot) must not keep an
// overwritten keyring through the purge: Pebble keeps every version a
// snapshot can see, so the keyring wrapping a retired key would outlive the
// compaction meant to remove it. The purge aborts the prepared view, before
// its stream started and while it runs, and the stream fails as aborted
// (Dragonboat sends a new one later).
func TestPurgeUnderPreparedSnapshot(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		t.Run(fmt.Sprintf("streaming=%v", streaming), func(t *testing.T) {
			key, _ := crypto.GenerateKey(1)
			dir := filepath.Join(t.TempDir(), "state")
			n := newTestNodeAt(t, dir, key, 2)
			ring := func(e uint64, marker string) *Command {
				return &Command{Op: OpKeyringSet, RequestID: reqID(), Keyring: []byte(marker), KeyringEpoch: e}
			}
			n.apply(t, 1, ring(1, "OLD-RING-UNDER-RETIRED-KEY"))
			for i := range 3000 { // enough records that the stream is still reading when the purge comes
				n.apply(t, uint64(2+i), create(fmt.Sprintf("s%04d", i), fmt.Sprintf("n%04d", i), 1))
			}
			ctx, err := n.sm.PrepareSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			n.apply(t, 3002, ring(2, "new-ring"))
			saved := make(chan error, 1)
			if streaming {
				w := &slowWriter{started: make(chan struct{})}
				go func() { saved <- n.sm.SaveSnapshot(ctx, w, nil) }()
				<-w.started
			}
			if err := n.store.Purge(); err != nil {
				t.Fatal(err)
			}
			if !streaming {
				go func() { saved <- n.sm.SaveSnapshot(ctx, io.Discard, nil) }()
			}
			if hits := oldCopies(t, dir, []byte("OLD-RING-UNDER-RETIRED-KEY")); len(hits) > 0 {
				t.Fatalf("after the purge, %v still hold the overwritten keyring", hits)
			}
			if err := <-saved; !errors.Is(err, sm.ErrSnapshotAborted) {
				t.Fatalf("the stream of a view the purge aborted: %v, want ErrSnapshotAborted", err)
			}
			// A snapshot prepared now streams.
			var buf bytes.Buffer
			if ctx, err = n.sm.PrepareSnapshot(); err != nil {
				t.Fatal(err)
			}
			if err := n.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// slowWriter is a follower that takes each chunk slowly.
type slowWriter struct {
	once    sync.Once
	started chan struct{}
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started) })
	time.Sleep(20 * time.Millisecond)
	return len(p), nil
}

// TestCloseEndsPreparedSnapshot: closing the store ends a prepared
// snapshot: its stream fails as aborted instead of reading a closed
// database.
func TestCloseEndsPreparedSnapshot(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	n.apply(t, 1, create("a", "alpha", 1))
	ctx, err := n.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.sm.SaveSnapshot(ctx, io.Discard, nil); !errors.Is(err, sm.ErrSnapshotAborted) {
		t.Fatalf("stream after Close: %v, want ErrSnapshotAborted", err)
	}
}
