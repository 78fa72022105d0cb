package keys

import (
	"bytes"
	"errors"
	"testing"
)

// TestDualWrapping walks a KEK change: add a second wrapping, open the ring
// with either KEK, drop the first one, and check the ring and its DEKs never
// change underneath.
func TestDualWrapping(t *testing.T) {
	f := newFixture(t)
	w := f.wrapped
	for _, op := range []string{"add 2", "activate 2", "count 2 9", "add 3", "retire 1"} {
		if err := f.apply(t, w, op); err != nil {
			t.Fatal(err)
		}
	}
	before := w.Marshal()
	next, _ := GenerateKEK(2)
	dual, err := w.AddWrapping(f.kek, next)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Marshal(), before) {
		t.Fatal("AddWrapping modified its receiver")
	}
	if !dual.HasNext() || dual.KEKVersion != 1 || dual.NextKEKVersion != 2 || summary(dual) != summary(w) {
		t.Fatalf("dual ring %q kek %v", summary(dual), dual.KEKVersions())
	}
	if err := dual.Validate(); err != nil {
		t.Fatal(err)
	}
	// It round-trips through the format-2 encoding.
	enc := dual.Marshal()
	if enc[2] != keyringFormatV2 {
		t.Fatalf("dual ring encoded as format %d", enc[2])
	}
	back, err := UnmarshalWrappedKeyring(enc)
	if err != nil || !bytes.Equal(back.Marshal(), enc) {
		t.Fatalf("round trip: %v", err)
	}
	// Either KEK opens it to the same DEKs and index key.
	rOld, err := back.Unwrap(f.kek)
	if err != nil {
		t.Fatalf("old KEK on the dual ring: %v", err)
	}
	rNext, err := back.Unwrap(next)
	if err != nil {
		t.Fatalf("next KEK on the dual ring: %v", err)
	}
	for _, v := range []uint32{2, 3} {
		a, err1 := rOld.Key(v)
		b, err2 := rNext.Key(v)
		if err1 != nil || err2 != nil || !a.Equal(f.deks[v]) || !b.Equal(f.deks[v]) {
			t.Fatalf("dek %d differs between wrappings: %v %v", v, err1, err2)
		}
	}
	ia, _ := rOld.IndexKey()
	ib, _ := rNext.IndexKey()
	if !ia.Equal(ib) {
		t.Fatal("the index key differs between wrappings")
	}
	// A third KEK opens nothing.
	other, _ := GenerateKEK(3)
	if _, err := back.Unwrap(other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("unrelated KEK on the dual ring: %v", err)
	}
	forged, _ := GenerateKEK(2)
	if _, err := back.Unwrap(forged); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another KEK with the next version: %v", err)
	}
	// Adding the same next wrapping again is harmless; another is refused.
	if again, err := dual.AddWrapping(f.kek, next); err != nil || again.NextKEKVersion != 2 {
		t.Fatalf("AddWrapping again: %v", err)
	}
	if _, err := dual.AddWrapping(f.kek, other); !errors.Is(err, ErrMalformedKeyring) {
		t.Fatalf("a third wrapping: %v", err)
	}
	if _, err := w.AddWrapping(next, other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("AddWrapping with the wrong current KEK: %v", err)
	}
	if _, err := w.AddWrapping(f.kek, f.kek); !errors.Is(err, ErrMalformedKeyring) {
		t.Fatalf("AddWrapping under the same version: %v", err)
	}
	// A node holding either KEK follows the dual ring with Update.
	if err := rOld.Update(dual, f.kek); err != nil {
		t.Fatal(err)
	}
	// Retiring drops both wrappings of the DEK.
	ret := dual.Clone()
	if err := ret.Activate(3); err != nil {
		t.Fatal(err)
	}
	if err := ret.Retire(2); err != nil {
		t.Fatal(err)
	}
	if d, _ := ret.Lookup(2); d.Wrapped != nil || d.NextWrapped != nil {
		t.Fatal("a retired DEK keeps a wrapping")
	}
	if err := ret.Validate(); err != nil {
		t.Fatal(err)
	}
	// A DEK wrapped under one KEK only cannot join a dual ring.
	d4 := f.cmds["4"]
	if err := dual.Clone().AddDEK(d4); !errors.Is(err, ErrMalformedKeyring) {
		t.Fatalf("a DEK with one wrapping on a dual ring: %v", err)
	}

	// Dropping the old wrapping leaves the next KEK alone.
	only, err := dual.DropWrapping(next)
	if err != nil {
		t.Fatal(err)
	}
	if only.HasNext() || only.KEKVersion != 2 || summary(only) != summary(w) {
		t.Fatalf("after the drop: %q kek %v", summary(only), only.KEKVersions())
	}
	if enc := only.Marshal(); enc[2] != keyringFormatV1 {
		t.Fatalf("single ring encoded as format %d", enc[2])
	}
	if _, err := only.Unwrap(f.kek); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old KEK after the drop: %v", err)
	}
	r, err := only.Unwrap(next)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := r.Key(3); !k.Equal(f.deks[3]) {
		t.Fatal("dek 3 changed by the KEK change")
	}
	if _, err := dual.DropWrapping(f.kek); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("DropWrapping with the old KEK: %v", err)
	}
	if _, err := dual.DropWrapping(forged); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("DropWrapping with a forged next KEK: %v", err)
	}
	if again, err := only.DropWrapping(next); err != nil || !bytes.Equal(again.Marshal(), only.Marshal()) {
		t.Fatalf("DropWrapping again: %v", err)
	}
	// A node that switched follows the rest with Update and its new KEK.
	if err := rNext.Update(only, next); err != nil {
		t.Fatal(err)
	}
	// Rewrap of a dual ring drops the second wrapping.
	third, _ := GenerateKEK(3)
	rw, err := dual.Rewrap(f.kek, third)
	if err != nil || rw.HasNext() || rw.Validate() != nil {
		t.Fatalf("Rewrap of a dual ring: %v", err)
	}
}

func TestDualWrappingMalformed(t *testing.T) {
	f := newFixture(t)
	next, _ := GenerateKEK(2)
	dual, err := f.wrapped.AddWrapping(f.kek, next)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(w *WrappedKeyring)
	}{
		{"a DEK without its next wrapping", func(w *WrappedKeyring) { w.DEKs[0].NextWrapped = nil }},
		{"a next check of the wrong size", func(w *WrappedKeyring) { w.NextKEKCheck = w.NextKEKCheck[:3] }},
		{"both wrappings under one version", func(w *WrappedKeyring) { w.NextKEKVersion = w.KEKVersion }},
		{"an index key under one KEK only", func(w *WrappedKeyring) { w.NextIndex = nil }},
		{"next fields without a version", func(w *WrappedKeyring) {
			w.NextKEKVersion = 0
			for i := range w.DEKs {
				w.DEKs[i].NextWrapped = nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dual.Clone()
			tc.spoil(w)
			if err := w.Validate(); !errors.Is(err, ErrMalformedKeyring) {
				t.Fatalf("Validate: %v", err)
			}
			if !w.HasNext() {
				return // encoded as format 1, without the stray fields
			}
			if _, err := UnmarshalWrappedKeyring(w.Marshal()); !errors.Is(err, ErrMalformedKeyring) {
				t.Fatalf("Unmarshal: %v", err)
			}
		})
	}
	// Truncating the format-2 encoding anywhere is refused.
	enc := dual.Marshal()
	for i := 0; i < len(enc); i++ {
		if _, err := UnmarshalWrappedKeyring(enc[:i]); !errors.Is(err, ErrMalformedKeyring) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}
