package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
)

var t0 = time.Unix(1700000000, 123456789)

type fixture struct {
	kek     *crypto.Key
	wrapped *WrappedKeyring
	ring    *Keyring
	deks    map[uint32]*crypto.Key // proposer's copies
	cmds    map[string]WrappedDEK  // "2" -> NewDEK(kek, 2, ...); "2b" another v2
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kek, err := GenerateKEK(1)
	if err != nil {
		t.Fatal(err)
	}
	w, r, err := NewKeyring(kek, t0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{kek: kek, wrapped: w, ring: r, deks: map[uint32]*crypto.Key{}, cmds: map[string]WrappedDEK{}}
	k1, err := r.Key(1)
	if err != nil {
		t.Fatal(err)
	}
	f.deks[1] = k1
	for v := uint32(2); v <= 4; v++ {
		d, k, err := NewDEK(kek, v, t0.Add(time.Duration(v)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		f.cmds[fmt.Sprint(v)] = d
		f.deks[v] = k
	}
	d, _, err := NewDEK(kek, 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.cmds["2b"] = d
	return f
}

// apply runs one operation of a script: "add 2", "activate 2", "retire 1",
// "count 2 5".
func (f *fixture) apply(t *testing.T, w *WrappedKeyring, op string) error {
	t.Helper()
	var verb, arg string
	var n uint64
	fmt.Sscan(op, &verb, &arg, &n)
	var v uint32
	fmt.Sscan(strings.TrimSuffix(arg, "b"), &v)
	switch verb {
	case "add":
		d, ok := f.cmds[arg]
		if !ok {
			t.Fatalf("no command %q", arg)
		}
		return w.AddDEK(d)
	case "activate":
		return w.Activate(v)
	case "retire":
		return w.Retire(v)
	case "count":
		w.CountSeals(v, n)
		return nil
	}
	t.Fatalf("bad op %q", op)
	return nil
}

// summary describes a wrapped ring: "1:old:0 2:active:5 3:retired:0".
func summary(w *WrappedKeyring) string {
	var parts []string
	for _, d := range w.DEKs {
		parts = append(parts, fmt.Sprintf("%d:%v:%d", d.Version, d.State, d.Seals))
	}
	return strings.Join(parts, " ")
}

type step struct {
	op   string
	want error
}

func TestKeyringSequences(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  string
	}{
		{"new", nil, "1:active:0"},
		{"rotate", []step{
			{"add 2", nil}, {"count 1 7", nil}, {"activate 2", nil}, {"count 2 3", nil}, {"retire 1", nil},
		}, "1:retired:7 2:active:3"},
		{"two rotations", []step{
			{"add 2", nil}, {"activate 2", nil}, {"add 3", nil}, {"activate 3", nil},
			{"retire 1", nil}, {"retire 2", nil}, {"add 4", nil},
		}, "1:retired:0 2:retired:0 3:active:0 4:old:0"},
		{"idempotent", []step{
			{"add 2", nil}, {"add 2", nil}, {"activate 2", nil}, {"activate 2", nil},
			{"add 2", nil}, {"count 2 1", nil}, {"add 2", nil}, {"retire 1", nil}, {"retire 1", nil},
		}, "1:retired:0 2:active:1"},
		{"reactivate old", []step{
			{"add 2", nil}, {"activate 2", nil}, {"activate 1", nil},
		}, "1:active:0 2:old:0"},
		{"out of order", []step{{"add 3", ErrDEKConflict}, {"add 2", nil}, {"add 4", ErrDEKConflict}}, "1:active:0 2:old:0"},
		{"other dek same version", []step{{"add 2", nil}, {"add 2b", ErrDEKConflict}}, "1:active:0 2:old:0"},
		{"retire active", []step{{"retire 1", ErrDEKActive}}, "1:active:0"},
		{"unknown", []step{{"activate 9", ErrUnknownDEK}, {"retire 9", ErrUnknownDEK}, {"count 9 1", nil}}, "1:active:0"},
		{"activate retired", []step{
			{"add 2", nil}, {"retire 2", nil}, {"activate 2", ErrDEKRetired}, {"add 2", ErrDEKConflict},
		}, "1:active:0 2:retired:0"},
		{"seal count saturates", []step{
			{fmt.Sprintf("count 1 %d", uint64(math.MaxUint64-1)), nil}, {"count 1 5", nil},
		}, fmt.Sprintf("1:active:%d", uint64(math.MaxUint64))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			replica := f.wrapped.Clone()
			w := f.wrapped
			for _, s := range tt.steps {
				err := f.apply(t, w, s.op)
				if !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
					t.Fatalf("%s: error %v, want %v", s.op, err, s.want)
				}
				_ = f.apply(t, replica, s.op)
			}
			if got := summary(w); got != tt.want {
				t.Fatalf("ring %q, want %q", got, tt.want)
			}
			if err := w.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for _, d := range w.DEKs {
				if (d.State == DEKRetired) != (d.Wrapped == nil) {
					t.Fatalf("dek %d %v has %d wrapped bytes", d.Version, d.State, len(d.Wrapped))
				}
			}

			// Determinism: the replica applied the same operations.
			enc := w.Marshal()
			if !bytes.Equal(enc, replica.Marshal()) {
				t.Fatal("replicas applying the same operations encode differently")
			}
			dec, err := UnmarshalWrappedKeyring(enc)
			if err != nil {
				t.Fatalf("Unmarshal(Marshal()): %v", err)
			}
			if !bytes.Equal(dec.Marshal(), enc) || !bytes.Equal(w.Clone().Marshal(), enc) {
				t.Fatal("Marshal does not round-trip")
			}

			// The unwrapped ring follows.
			r, err := dec.Unwrap(f.kek)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			var live []uint32
			for _, d := range w.DEKs {
				if d.State != DEKRetired {
					live = append(live, d.Version)
					k, err := r.Key(d.Version)
					if err != nil || !k.Equal(f.deks[d.Version]) {
						t.Fatalf("Key(%d) = %v, %v; want the proposer's dek", d.Version, k, err)
					}
				} else if _, err := r.Key(d.Version); !errors.Is(err, crypto.ErrUnknownKeyVersion) {
					t.Fatalf("retired Key(%d) error %v", d.Version, err)
				}
			}
			if got := r.Versions(); !slices.Equal(got, live) {
				t.Fatalf("Versions() = %v, want %v", got, live)
			}
			a, err := r.Active()
			if err != nil || a.Version() != w.Active() {
				t.Fatalf("Active() = %v, %v; want v%d", a, err, w.Active())
			}
			if err := f.ring.Update(w, f.kek); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if got := f.ring.Versions(); !slices.Equal(got, live) {
				t.Fatalf("after Update Versions() = %v, want %v", got, live)
			}
		})
	}
}

func TestAddDEKValidates(t *testing.T) {
	f := newFixture(t)
	d := f.cmds["2"]
	active := d
	active.State = DEKActive
	empty := d
	empty.Wrapped = nil
	for _, bad := range []WrappedDEK{active, empty, {Version: 2, State: DEKRetired}} {
		if err := f.wrapped.AddDEK(bad); !errors.Is(err, ErrMalformedKeyring) {
			t.Fatalf("AddDEK(%v) = %v, want ErrMalformedKeyring", bad.State, err)
		}
	}
	// AddDEK keeps its own copy of the wrapped bytes.
	d.Wrapped = bytes.Clone(d.Wrapped)
	if err := f.wrapped.AddDEK(d); err != nil {
		t.Fatal(err)
	}
	d.Wrapped[0] ^= 0xff
	if got, _ := f.wrapped.Lookup(2); bytes.Equal(got.Wrapped, d.Wrapped) {
		t.Fatal("AddDEK aliases the caller's bytes")
	}
	if _, ok := f.wrapped.Lookup(3); ok {
		t.Fatal("Lookup found a missing version")
	}
}

func TestNewKeyring(t *testing.T) {
	f := newFixture(t)
	w := f.wrapped
	if w.KEKVersion != 1 || len(w.KEKCheck) != 16 || w.Active() != 1 || len(w.DEKs) != 1 {
		t.Fatalf("unexpected new ring: %+v", w)
	}
	d, _ := w.Lookup(1)
	if d.Created != t0.UnixNano() || d.State != DEKActive || len(d.Wrapped) != crypto.KeySize+crypto.Overhead {
		t.Fatalf("unexpected dek 1: %+v", d)
	}
	if err := VerifyKEK(f.kek, w.KEKCheck); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewDEK(f.kek, 0, t0); !errors.Is(err, ErrMalformedKeyring) {
		t.Fatalf("NewDEK(version 0) = %v", err)
	}
	// The ring is a crypto.KeySource.
	k, _ := f.ring.Active()
	b := crypto.Binding{Purpose: crypto.PurposeValue, Shard: 2, Object: []byte("x")}
	env, err := crypto.Seal(k, b, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := crypto.Open(f.ring, b, env); err != nil || string(pt) != "data" {
		t.Fatalf("Open via Keyring = %q, %v", pt, err)
	}
	if _, err := f.ring.Key(7); !errors.Is(err, crypto.ErrUnknownKeyVersion) || !strings.Contains(err.Error(), "7") {
		t.Fatalf("Key(7) = %v", err)
	}
}

func TestUnwrapWrongKey(t *testing.T) {
	f := newFixture(t)
	other, _ := GenerateKEK(1)
	otherVersion, _ := GenerateKEK(2)
	u := testUnlockKey(t)
	kek1, _ := u.KEK(testCluster, 1)
	kek1v2, _ := u.KEK(testCluster, 2) // same bytes, other version
	w, _, err := NewKeyring(kek1, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		w    *WrappedKeyring
		kek  *crypto.Key
	}{
		{"random key", f.wrapped, other},
		{"other version", f.wrapped, otherVersion},
		{"same bytes other version", w, kek1v2},
		{"nil", f.wrapped, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.w.Unwrap(tt.kek); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("Unwrap = %v, want ErrWrongKey", err)
			}
			if _, err := tt.w.Rewrap(tt.kek, other); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("Rewrap = %v, want ErrWrongKey", err)
			}
			if err := (&Keyring{}).Update(tt.w, tt.kek); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("Update = %v, want ErrWrongKey", err)
			}
		})
	}
	if _, err := w.Unwrap(kek1); err != nil {
		t.Fatalf("Unwrap with the derived KEK: %v", err)
	}
}

// TestUnwrapCorrupt: with the right KEK, a damaged wrapped DEK is reported as
// corrupt, naming its version, never as a wrong key.
func TestUnwrapCorrupt(t *testing.T) {
	f := newFixture(t)
	if err := f.wrapped.AddDEK(f.cmds["2"]); err != nil {
		t.Fatal(err)
	}
	d2, _ := f.wrapped.Lookup(2)
	for i := range d2.Wrapped {
		w := f.wrapped.Clone()
		w.DEKs[1].Wrapped[i] ^= 0x01
		_, err := w.Unwrap(f.kek)
		if err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
		if errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "dek version 2") {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
		if i >= 7 && !crypto.IsIntegrityError(err) {
			t.Fatalf("flipped byte %d: %v, want an integrity error", i, err)
		}
		if err := (&Keyring{}).Update(w, f.kek); err == nil || !strings.Contains(err.Error(), "dek version 2") {
			t.Fatalf("Update with flipped byte %d: %v", i, err)
		}
	}
	// A wrapped DEK relabelled as another version does not open.
	w := f.wrapped.Clone()
	w.DEKs[0].Wrapped, w.DEKs[1].Wrapped = w.DEKs[1].Wrapped, w.DEKs[0].Wrapped
	if _, err := w.Unwrap(f.kek); !crypto.IsIntegrityError(err) {
		t.Fatalf("swapped deks: %v, want an integrity error", err)
	}
}

func TestRewrap(t *testing.T) {
	f := newFixture(t)
	w := f.wrapped
	for _, op := range []string{"add 2", "activate 2", "count 2 9", "add 3", "retire 1"} {
		if err := f.apply(t, w, op); err != nil {
			t.Fatal(err)
		}
	}
	before := w.Marshal()
	newKEK, _ := GenerateKEK(2)
	rw, err := w.Rewrap(f.kek, newKEK)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Marshal(), before) {
		t.Fatal("Rewrap modified its receiver")
	}
	if rw.KEKVersion != 2 || bytes.Equal(rw.KEKCheck, w.KEKCheck) || summary(rw) != summary(w) {
		t.Fatalf("rewrapped ring %q kek v%d", summary(rw), rw.KEKVersion)
	}
	for i, d := range rw.DEKs {
		if d.Created != w.DEKs[i].Created {
			t.Fatal("Rewrap changed a creation time")
		}
		if d.State != DEKRetired && bytes.Equal(d.Wrapped, w.DEKs[i].Wrapped) {
			t.Fatalf("dek %d not rewrapped", d.Version)
		}
	}
	if err := rw.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := rw.Unwrap(newKEK)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint32{2, 3} {
		if k, err := r.Key(v); err != nil || !k.Equal(f.deks[v]) {
			t.Fatalf("dek %d changed by rewrap: %v", v, err)
		}
	}
	if _, err := rw.Unwrap(f.kek); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old KEK on rewrapped ring: %v", err)
	}
	// The existing ring needs nothing unwrapped, so Update works without a KEK.
	if err := f.ring.Update(w, f.kek); err != nil {
		t.Fatal(err)
	}
	if err := f.ring.Update(rw, nil); err != nil {
		t.Fatalf("Update after rewrap without KEK: %v", err)
	}
	// Wrapped DEKs from the old KEK cannot be spliced into the new ring.
	mixed := rw.Clone()
	mixed.DEKs[1].Wrapped = w.DEKs[1].Wrapped
	if _, err := mixed.Unwrap(newKEK); err == nil || errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "dek version 2") {
		t.Fatalf("old wrapped dek in new ring: %v", err)
	}
}

func TestKeyringUpdate(t *testing.T) {
	f := newFixture(t)
	r := &Keyring{} // a node that has not unwrapped anything yet
	w := f.wrapped
	if err := r.Update(w, f.kek); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(t, w, "add 2"); err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateKEK(1)
	if err := r.Update(w, other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Update(wrong KEK) = %v", err)
	}
	if err := r.Update(w, nil); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Update(nil KEK) with a new dek = %v", err)
	}
	if got := r.Versions(); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("failed Update changed the ring: %v", got)
	}
	if err := r.Update(w, f.kek); err != nil {
		t.Fatal(err)
	}
	k1, _ := r.Key(1)
	if a, _ := r.Active(); a.Version() != 1 {
		t.Fatal("Update did not keep v1 active")
	}
	_ = f.apply(t, w, "activate 2")
	if err := r.Update(w, nil); err != nil {
		t.Fatal(err)
	}
	if a, _ := r.Active(); a.Version() != 2 {
		t.Fatal("Update did not follow the active version")
	}
	_ = f.apply(t, w, "retire 1")
	if err := r.Update(w, nil); err != nil {
		t.Fatal(err)
	}
	if got := r.Versions(); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("Versions() = %v after retiring 1", got)
	}
	b := crypto.Binding{Purpose: crypto.PurposeEntry}
	if _, err := crypto.Seal(k1, b, nil); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("retired dek still usable: %v", err)
	}
	if err := r.Update(&WrappedKeyring{}, nil); !errors.Is(err, ErrMalformedKeyring) {
		t.Fatalf("Update(empty ring) = %v", err)
	}
	if _, err := (&Keyring{}).Active(); !errors.Is(err, crypto.ErrUnknownKeyVersion) {
		t.Fatalf("Active() of an empty ring = %v", err)
	}
}

func TestKeyringWipe(t *testing.T) {
	f := newFixture(t)
	k, _ := f.ring.Key(1)
	f.ring.Wipe()
	f.ring.Wipe()
	if _, err := crypto.Seal(k, crypto.Binding{Purpose: crypto.PurposeEntry}, nil); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("key usable after Keyring.Wipe: %v", err)
	}
	if _, err := f.ring.Key(1); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("Key after Wipe = %v", err)
	}
	if _, err := f.ring.Active(); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("Active after Wipe = %v", err)
	}
	if err := f.ring.Update(f.wrapped, f.kek); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("Update after Wipe = %v", err)
	}
	if len(f.ring.Versions()) != 0 {
		t.Fatal("wiped ring still lists versions")
	}
}

func TestKeyringConcurrent(t *testing.T) {
	f := newFixture(t)
	w := f.wrapped
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if k, err := f.ring.Active(); err == nil {
					if _, err := crypto.Seal(k, crypto.Binding{Purpose: crypto.PurposeEntry}, []byte("x")); err != nil &&
						!errors.Is(err, crypto.ErrWiped) {
						t.Error(err)
					}
				}
				_ = f.ring.Versions()
				_ = fmt.Sprint(f.ring)
			}
		}()
	}
	for _, op := range []string{"add 2", "activate 2", "retire 1", "add 3", "activate 3", "retire 2", "add 4"} {
		if err := f.apply(t, w, op); err != nil {
			t.Fatal(err)
		}
		if err := f.ring.Update(w.Clone(), f.kek); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := f.ring.Versions(); !slices.Equal(got, []uint32{3, 4}) {
		t.Fatalf("Versions() = %v", got)
	}
}

func TestKeyringRedacted(t *testing.T) {
	raw := [][]byte{fixedSecret("dek 1"), fixedSecret("dek 2")}
	r := &Keyring{keys: map[uint32]*crypto.Key{}, active: 2}
	for i, b := range raw {
		k, err := crypto.NewKey(uint32(i+1), b)
		if err != nil {
			t.Fatal(err)
		}
		r.keys[uint32(i+1)] = k
	}
	type holder struct {
		R *Keyring
		N int
	}
	// fmt prints unexported fields by reflection, without their methods.
	private := &struct {
		r   Keyring
		ptr *Keyring
	}{ptr: r}
	private.r.keys, private.r.active = r.keys, r.active
	for _, verb := range fmtVerbs {
		for _, v := range []any{r, holder{r, 1}, &holder{r, 2}, private} {
			out := fmt.Sprintf(verb, v, v)
			for _, b := range raw {
				assertNoLeak(t, verb, out, b)
			}
			if v != any(private) && !strings.Contains(out, "REDACTED") {
				t.Fatalf("%s printed %q", verb, out)
			}
		}
	}
	if got := r.String(); got != "keys.Keyring{active v2, versions [1 2], REDACTED}" {
		t.Fatalf("String() = %q", got)
	}
	r.Wipe()
	if got := fmt.Sprint(r); got != "keys.Keyring{wiped}" {
		t.Fatalf("wiped ring prints %q", got)
	}
}

func TestDEKStateString(t *testing.T) {
	for s, want := range map[DEKState]string{DEKActive: "active", DEKOld: "old", DEKRetired: "retired", 0: "DEKState(0)", 9: "DEKState(9)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(s), got, want)
		}
	}
}

// goldenRing and goldenRingHex freeze the binary format.
var goldenRing = &WrappedKeyring{
	KEKVersion: 0x01020304,
	KEKCheck:   bytes.Repeat([]byte{0xcc}, 16),
	Index:      []byte{0xdd, 0xee},
	DEKs: []WrappedDEK{
		{Version: 1, Created: -1, State: DEKRetired, Seals: 0x0a},
		{Version: 2, Created: 0x0102030405060708, State: DEKActive, Seals: 0, Wrapped: []byte{0xaa, 0xbb}},
	},
}

const goldenRingHex = "766b01" + "01020304" +
	"00000010" + "cccccccccccccccccccccccccccccccc" +
	"00000002" + "ddee" +
	"00000002" +
	"00000001" + "ffffffffffffffff" + "03" + "000000000000000a" + "00000000" +
	"00000002" + "0102030405060708" + "01" + "0000000000000000" + "00000002" + "aabb"

func TestMarshalGolden(t *testing.T) {
	got := hex.EncodeToString(goldenRing.Marshal())
	if got != goldenRingHex {
		t.Fatalf("Marshal() = %s\nwant        %s", got, goldenRingHex)
	}
	b, _ := hex.DecodeString(goldenRingHex)
	w, err := UnmarshalWrappedKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	if summary(w) != "1:retired:10 2:active:0" || w.KEKVersion != 0x01020304 || w.DEKs[0].Created != -1 ||
		w.DEKs[0].Wrapped != nil {
		t.Fatalf("decoded %+v", w)
	}
}

func TestUnmarshalWrappedKeyringErrors(t *testing.T) {
	good, _ := hex.DecodeString(goldenRingHex)
	// Every proper prefix is rejected.
	for i := range good {
		if _, err := UnmarshalWrappedKeyring(good[:i]); !errors.Is(err, ErrMalformedKeyring) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
	mut := func(f func(w *WrappedKeyring)) []byte {
		w := goldenRing.Clone()
		f(w)
		return w.Marshal()
	}
	edit := func(off int, b ...byte) []byte {
		c := bytes.Clone(good)
		copy(c[off:], b)
		return c
	}
	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"nil", nil, "not a keyring"},
		{"bad magic", edit(0, 'x'), "not a keyring"},
		{"envelope magic", edit(1, 0x6c), "not a keyring"},
		{"format version 3", edit(2, 3), "unsupported format version 3"},
		{"format version 0", edit(2, 0), "unsupported format version 0"},
		{"trailing byte", append(bytes.Clone(good), 0), "trailing"},
		{"short check", mut(func(w *WrappedKeyring) { w.KEKCheck = w.KEKCheck[:15] }), "key check"},
		{"no check", mut(func(w *WrappedKeyring) { w.KEKCheck = nil }), "key check"},
		{"no deks", mut(func(w *WrappedKeyring) { w.DEKs = nil }), "no dek"},
		{"huge count", edit(33, 0xff, 0xff, 0xff, 0xff), "do not fit"},
		{"huge wrapped length", edit(len(good)-6, 0xff, 0xff, 0xff, 0xff), "truncated"},
		{"version 0", mut(func(w *WrappedKeyring) { w.DEKs[0].Version = 0 }), "version 0"},
		{"descending", mut(func(w *WrappedKeyring) { w.DEKs[0].Version = 3 }), "after"},
		{"duplicate", mut(func(w *WrappedKeyring) { w.DEKs[0].Version = 2 }), "after"},
		{"state 0", mut(func(w *WrappedKeyring) { w.DEKs[0].State = 0 }), "invalid state 0"},
		{"state 4", mut(func(w *WrappedKeyring) { w.DEKs[0].State = 4 }), "invalid state 4"},
		{"retired with material", mut(func(w *WrappedKeyring) { w.DEKs[0].Wrapped = []byte{1} }), "has key material"},
		{"old without material", mut(func(w *WrappedKeyring) { w.DEKs[0].State = DEKOld }), "no key material"},
		{"active without material", mut(func(w *WrappedKeyring) { w.DEKs[1].Wrapped = nil }), "no key material"},
		{"no active", mut(func(w *WrappedKeyring) { w.DEKs[1].State = DEKOld }), "0 active"},
		{"two active", mut(func(w *WrappedKeyring) {
			w.DEKs[0].State = DEKActive
			w.DEKs[0].Wrapped = []byte{1}
		}), "2 active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalWrappedKeyring(tt.in)
			if !errors.Is(err, ErrMalformedKeyring) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want ErrMalformedKeyring saying %q", err, tt.msg)
			}
		})
	}
}

func FuzzUnmarshalWrappedKeyring(f *testing.F) {
	good, _ := hex.DecodeString(goldenRingHex)
	f.Add(good)
	kek, _ := GenerateKEK(1)
	w, _, _ := NewKeyring(kek, t0)
	d, _, _ := NewDEK(kek, 2, t0)
	_ = w.AddDEK(d)
	f.Add(w.Marshal())
	f.Add([]byte("vk\x01"))
	other, _ := GenerateKEK(1)
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := UnmarshalWrappedKeyring(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedKeyring) {
				t.Fatalf("error %v does not wrap ErrMalformedKeyring", err)
			}
			return
		}
		if !bytes.Equal(w.Marshal(), b) {
			t.Fatal("accepted input does not round-trip byte for byte")
		}
		if !bytes.Equal(w.Clone().Marshal(), b) {
			t.Fatal("Clone changes the encoding")
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("accepted an invalid ring: %v", err)
		}
		// Editing never panics and keeps the ring valid.
		v := w.Active()
		_ = w.Retire(v)
		_ = w.Activate(w.DEKs[0].Version)
		w.CountSeals(v, 1)
		if err := w.Validate(); err != nil {
			t.Fatalf("edits broke the ring: %v", err)
		}
		if _, err := w.Unwrap(other); err == nil {
			t.Fatal("a ring unwrapped under an unrelated KEK")
		}
	})
}

func TestIndexKeyFollowsRewrapAndUpdate(t *testing.T) {
	kek1, _ := crypto.GenerateKey(1)
	kek2, _ := crypto.GenerateKey(2)
	w, r, err := NewKeyring(kek1, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	ik, err := r.IndexKey()
	if err != nil {
		t.Fatal(err)
	}
	mac := func(k *crypto.Key) []byte {
		m, err := crypto.MAC(k, crypto.Binding{Purpose: crypto.PurposeName}, []byte("db-password"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	want := mac(ik)
	dec, err := UnmarshalWrappedKeyring(w.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	w2, err := dec.Rewrap(kek1, kek2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := w2.Unwrap(kek2)
	if err != nil {
		t.Fatal(err)
	}
	ik2, _ := r2.IndexKey()
	if !bytes.Equal(mac(ik2), want) {
		t.Fatal("the index key changed across a rewrap: every name lookup would miss")
	}
	var r3 Keyring
	if err := r3.Update(w2, kek2); err != nil {
		t.Fatal(err)
	}
	ik3, _ := r3.IndexKey()
	if !bytes.Equal(mac(ik3), want) {
		t.Fatal("Update did not pick up the index key")
	}
	r3.Wipe()
	if _, err := r3.IndexKey(); !errors.Is(err, crypto.ErrWiped) {
		t.Fatalf("IndexKey after Wipe: %v", err)
	}
}
