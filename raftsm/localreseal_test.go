package raftsm

import (
	"bytes"
	"fmt"
	"regexp"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// TestResealLocal: a replica re-seals its stored secrets in place, in
// steps, under the target DEK: every record, and the data versions under
// a DEK (kept under their id, as before the index layout, or at their
// index); versions under their own data keys stay as they were written.
// Afterwards every secret reads back the same, nothing counts under the
// old DEK, and the walk finds nothing more to do.
func TestResealLocal(t *testing.T) {
	v1, v2 := harnessKey(1), harnessKey(2)
	ring := keysOf{1: v1, 2: v2}
	n := newTestNode(t, ring[1], 2)
	n.sm.hooks.Keys = ring
	idx := uint64(1)
	want := map[string]map[uint32]string{}
	for i := range 40 {
		id := fmt.Sprintf("s%02d", i)
		rec := &SecretRecord{ID: id, Name: "name-" + id, Versions: []VersionInfo{{Version: 1, Size: 3}}}
		w, err := SealSecretWrite(v1, 2, mac("name-"+id), rec, 0, []byte("one-"+id))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = map[uint32]string{1: "one-" + id}
		if i%3 == 1 {
			// A version from before data keys: under the DEK itself.
			rec.Versions[0].Key = nil
			if w.Record, err = SealRecord(v1, 2, rec); err != nil {
				t.Fatal(err)
			}
			if w.Data, err = SealData(v1, 2, id, 1, []byte("one-"+id)); err != nil {
				t.Fatal(err)
			}
		}
		n.apply(t, idx, &Command{Op: OpSecretCreate, RequestID: reqID(), Time: 1, Secret: w})
		idx++
	}
	// s04's version 1 kept the way versions were kept before the index
	// layout.
	n.store.with(func(db *pebble.DB) error {
		v, _ := readData(db, func(sub ...byte) []byte { return dataKey(2, n.sm.gen, sub...) }, "s04", 1)
		b := db.NewBatch()
		b.Set(dataKey(2, n.sm.gen, append(dataPrefix("s04"), u32(1)...)...), v, nil)
		b.Delete(dataKey(2, n.sm.gen, dataAtSub(5, "s04")...), nil) // s04 was created at index 5
		return b.Commit(pebble.Sync)
	})
	// Where each version is kept, without what it is sealed under.
	where := func() string {
		return regexp.MustCompile(` \(v\d+\)| = ".*?"( |\])`).ReplaceAllString(fmt.Sprint(dataKeys(t, n)), "$1")
	}
	before := where()

	check := func(when string) {
		t.Helper()
		for id, versions := range want {
			got, err := n.sm.Lookup(QueryIDPrefix{Prefix: id})
			if err != nil {
				t.Fatal(err)
			}
			var rec *SecretRecord
			for _, s := range got.([]StoredSecret) {
				if s.ID == id {
					if rec, err = OpenRecord(ring, 2, id, s.Sealed); err != nil {
						t.Fatalf("%s: record of %s: %v", when, id, err)
					}
				}
			}
			for v, text := range versions {
				d, err := n.sm.Lookup(QueryData{ID: id, Version: v})
				if err != nil {
					t.Fatal(err)
				}
				plain, err := OpenData(ring, 2, id, rec.Version(v), d.([]byte))
				if err != nil || string(plain) != text {
					t.Fatalf("%s: %s v%d = %q, %v; want %q", when, id, v, plain, err, text)
				}
			}
		}
	}
	check("before")

	steps, total := 0, 0
	for after := ""; ; steps++ {
		done, next, more, err := n.sm.ResealLocal(ring, v2, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if done > 7 {
			t.Fatalf("a step re-sealed %d secrets, more than its 7", done)
		}
		total += done
		if !more {
			break
		}
		after = next
	}
	if total != 40 || steps != 5 {
		t.Fatalf("re-sealed %d secrets in %d steps, want 40 in 5", total, steps)
	}
	check("after")
	counts, err := n.store.ValueKeyVersions(2)
	if err != nil {
		t.Fatal(err)
	}
	if counts[1] != 0 || counts[2] != 40+13 {
		t.Fatalf("values by DEK after: %v, want none under v1 and 53 under v2 (40 records, 13 versions from before data keys)", counts)
	}
	// Where each version is kept did not change.
	if after := where(); after != before {
		t.Fatalf("data keys changed:\n%v\n%v", before, after)
	}
	// Nothing left: the next walk re-seals nothing, and so does the
	// rotation's count.
	if done, _, more, err := n.sm.ResealLocal(ring, v2, "", 100); err != nil || done != 0 || more {
		t.Fatalf("a second walk: %d, %v, %v", done, more, err)
	}
	if out, _ := n.sm.Lookup(QueryResealPage{Target: 2, Count: true}); out.(*ResealPage).Count != 0 {
		t.Fatalf("%d secrets still counted for re-sealing", out.(*ResealPage).Count)
	}
	// The store was marked dirty: versions under a DEK were rewritten.
	if clean, _ := n.store.DataRangesClean(); clean {
		t.Fatal("the data ranges are still marked clean after versions under a DEK were re-sealed")
	}
}

// A value that does not open stops the walk with its error and changes
// nothing of the step.
func TestResealLocalRefusesWhatDoesNotOpen(t *testing.T) {
	v1, v2 := harnessKey(1), harnessKey(2)
	n := newTestNode(t, v1, 2)
	c := create("a", "na", 1)
	c.Secret.Record, c.Secret.Data = fakeEnvelope(1), fakeEnvelope(DataKeyVersion)
	n.apply(t, 1, c)
	if _, _, _, err := n.sm.ResealLocal(keysOf{1: v1, 2: v2}, v2, "", 10); err == nil || !crypto.IsIntegrityError(err) {
		t.Fatalf("ResealLocal of a record that does not open: %v", err)
	}
	got, _ := n.sm.Lookup(QueryIDPrefix{Prefix: "a"})
	if s := got.([]StoredSecret); len(s) != 1 || !bytes.Equal(s[0].Sealed, fakeEnvelope(1)) {
		t.Fatalf("stored record changed: %+v", s)
	}
}

// Re-sealing in place while the replica applies creates and updates of
// the same secrets: every write lands (the newest record and every
// version read back), and once a last pass has run nothing is under the
// old DEK. Run with -race, it also checks that the two never touch the
// store at once without the state machine's lock.
func TestResealLocalBesideApplies(t *testing.T) {
	v1, v2 := harnessKey(1), harnessKey(2)
	ring := keysOf{1: v1, 2: v2}
	n := newTestNode(t, v1, 2)
	n.sm.hooks.Keys = ring
	const secrets = 60
	idx := uint64(1)
	gens := map[string]uint64{}
	write := func(key *crypto.Key, id string, version uint32) *Command {
		rec := &SecretRecord{ID: id, Name: "name-" + id}
		for v := uint32(1); v <= version; v++ {
			rec.Versions = append(rec.Versions, VersionInfo{Version: v, Size: 3})
		}
		w, err := SealSecretWrite(key, 2, mac("name-"+id), rec, gens[id], []byte(fmt.Sprintf("%s-v%d", id, version)))
		if err != nil {
			t.Fatal(err)
		}
		op := OpSecretCreate
		if version > 1 {
			op = OpSecretUpdate
		}
		return &Command{Op: op, RequestID: reqID(), Time: int64(idx), Secret: w}
	}
	for i := range secrets {
		id := fmt.Sprintf("s%02d", i)
		n.apply(t, idx, write(v1, id, 1))
		gens[id] = idx
		idx++
	}
	versions := map[string]uint32{}
	for i := range secrets {
		versions[fmt.Sprintf("s%02d", i)] = 1
	}
	done := make(chan error)
	go func() {
		var err error
		for pass := 0; pass < 20 && err == nil; pass++ {
			for after, more := "", true; more && err == nil; {
				_, after, more, err = n.sm.ResealLocal(ring, v2, after, 5)
			}
		}
		done <- err
	}()
	// Updates meanwhile, sealed under the old key as a proposer that has
	// not seen the new one yet would.
	for round := 0; round < 3; round++ {
		for i := range secrets {
			id := fmt.Sprintf("s%02d", i)
			v := versions[id] + 1
			n.apply(t, idx, write(v1, id, v))
			gens[id], versions[id] = idx, v
			idx++
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A last pass, as the rotation's next count would start.
	for after, more := "", true; more; {
		var err error
		if _, after, more, err = n.sm.ResealLocal(ring, v2, after, 100); err != nil {
			t.Fatal(err)
		}
	}
	if out, _ := n.sm.Lookup(QueryResealPage{Target: 2, Count: true}); out.(*ResealPage).Count != 0 {
		t.Fatalf("%d secrets still to re-seal after the last pass", out.(*ResealPage).Count)
	}
	for i := range secrets {
		id := fmt.Sprintf("s%02d", i)
		got, _ := n.sm.Lookup(QueryIDPrefix{Prefix: id})
		var rec *SecretRecord
		for _, s := range got.([]StoredSecret) {
			if s.ID == id {
				if s.Gen != gens[id] {
					t.Fatalf("%s at generation %d, want %d (the last update)", id, s.Gen, gens[id])
				}
				var err error
				if rec, err = OpenRecord(ring, 2, id, s.Sealed); err != nil {
					t.Fatal(err)
				}
			}
		}
		last := rec.Latest().Version
		if last != versions[id] {
			t.Fatalf("%s: latest version %d, want %d", id, last, versions[id])
		}
		d, _ := n.sm.Lookup(QueryData{ID: id, Version: last})
		plain, err := OpenData(ring, 2, id, rec.Version(last), d.([]byte))
		if want := fmt.Sprintf("%s-v%d", id, last); err != nil || string(plain) != want {
			t.Fatalf("%s v%d = %q, %v; want %q", id, last, plain, err, want)
		}
	}
	counts, _ := n.store.ValueKeyVersions(2)
	if counts[1] != 0 {
		t.Fatalf("%d values still under the old DEK", counts[1])
	}
}
