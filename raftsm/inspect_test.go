package raftsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

func TestParseSubKey(t *testing.T) {
	mac := bytes.Repeat([]byte{7}, 32)
	ver := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		in   []byte
		want SubKey
		bad  bool
	}{
		{"applied", []byte{'a'}, SubKey{Kind: SubApplied}, false},
		{"keyring", []byte{'k'}, SubKey{Kind: SubKeyring}, false},
		{"cluster", []byte{'x'}, SubKey{Kind: SubCluster}, false},
		{"seals", cat([]byte{'c'}, ver(3)), SubKey{Kind: SubSeals, Version: 3}, false},
		{"name", cat([]byte{'n'}, mac), SubKey{Kind: SubName, NameMAC: mac}, false},
		{"object", []byte("oabc"), SubKey{Kind: SubObject, ID: "abc"}, false},
		{"data", cat([]byte("vabc\x00"), ver(2)), SubKey{Kind: SubData, ID: "abc", Version: 2}, false},
		{"request", []byte("r0123456789abcdef"), SubKey{Kind: SubRequest, RequestID: []byte("0123456789abcdef")}, false},
		{"prune time", []byte("r"), SubKey{Kind: SubPruneTime}, false},
		{"request by time", cat([]byte{'t', 0x80, 0, 0, 0, 0, 0, 0, 5}, []byte("0123456789abcdef")),
			SubKey{Kind: SubRequest, RequestID: []byte("0123456789abcdef"), Time: 5}, false},
		{"request by time, before 1970", cat([]byte{'t', 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte("id")),
			SubKey{Kind: SubRequest, RequestID: []byte("id"), Time: -1}, false},

		{"empty", nil, SubKey{}, true},
		{"unknown kind", []byte("z"), SubKey{}, true},
		{"applied with suffix", []byte("ax"), SubKey{}, true},
		{"short seals", []byte("c\x00\x01"), SubKey{}, true},
		{"short name", []byte("nabc"), SubKey{}, true},
		{"object without id", []byte("o"), SubKey{}, true},
		{"object id with nul", []byte("oa\x00b"), SubKey{}, true},
		{"object id too long", append([]byte{'o'}, strings.Repeat("i", MaxIDLen+1)...), SubKey{}, true},
		{"data without separator", cat([]byte("vabc"), ver(1)), SubKey{}, true},
		{"data without id", cat([]byte("v\x00"), ver(1)), SubKey{}, true},
		{"data truncated", []byte("vabc\x00\x00"), SubKey{}, true},
		{"request by time without id", []byte("t\x80\x00\x00\x00\x00\x00\x00\x05"), SubKey{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubKey(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("ParseSubKey(%q) = %+v, %v; want ErrBadKey", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubKey(%q): %v", tt.in, err)
			}
			if got.Kind != tt.want.Kind || got.ID != tt.want.ID || got.Version != tt.want.Version ||
				!bytes.Equal(got.NameMAC, tt.want.NameMAC) || !bytes.Equal(got.RequestID, tt.want.RequestID) {
				t.Fatalf("ParseSubKey(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// The keys the state machine writes must all decode.
func TestParseSubKeyMatchesLayout(t *testing.T) {
	for _, sub := range [][]byte{
		{subApplied}, {subKeyring}, {subCluster},
		append([]byte{subSeals}, u32(9)...),
		append([]byte{subName}, make([]byte, 32)...),
		append([]byte{subObject}, "someid"...),
		append(dataPrefix("someid"), u32(4)...),
		append([]byte{subRequests}, make([]byte, 16)...),
		{subRequests},
		reqTimeKey(-7, make([]byte, 16)),
	} {
		if _, err := ParseSubKey(sub); err != nil {
			t.Errorf("ParseSubKey(%q): %v", sub, err)
		}
	}
}

func FuzzParseSubKey(f *testing.F) {
	for _, s := range []string{"a", "k", "x", "c\x00\x00\x00\x01", "oid", "vid\x00\x00\x00\x00\x02", "r", "r0123456789abcdef", "t\x80\x00\x00\x00\x00\x00\x00\x010123456789abcdef", "v\x00\x00\x00\x00\x00\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseSubKey(b)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error does not wrap ErrBadKey: %v", err)
			}
			return
		}
		if k.Kind == 0 {
			t.Fatalf("accepted %q with no kind", b)
		}
		if k.Kind == SubObject || k.Kind == SubData {
			if k.ID == "" || len(k.ID) > MaxIDLen {
				t.Fatalf("accepted id %q", k.ID)
			}
		}
	})
}

func inspectKey(t *testing.T) *crypto.Key {
	t.Helper()
	k, err := crypto.GenerateKey(1)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func inspectCommand(op Op, id, name string, version uint32) *Command {
	w := &SecretWrite{ID: id, NameMAC: bytes.Repeat([]byte(name[:1]), 32)}
	if op != OpSecretRemove {
		w.Record = []byte("record-" + id)
	}
	if version != 0 {
		w.Version, w.Data = version, []byte("data-"+id)
	}
	rid := make([]byte, 16)
	copy(rid, id+name+string(op))
	return &Command{Op: op, RequestID: rid, Time: 1, Secret: w}
}

// inspectState lists a view as "kind id version" lines.
func inspectState(t *testing.T, v *View) []string {
	t.Helper()
	var out []string
	err := v.Walk(func(r StateRecord) error {
		if r.Err != nil {
			t.Errorf("key %q: %v", r.Raw, r.Err)
		}
		switch r.Key.Kind {
		case SubObject:
			out = append(out, "object "+r.Key.ID)
		case SubData:
			out = append(out, fmt.Sprintf("data %s %d", r.Key.ID, r.Key.Version))
		case SubDataAt:
			out = append(out, fmt.Sprintf("data-at %d %s", r.Key.Index, r.Key.ID))
		case SubRequest, SubPruneTime, SubSeals, SubApplied, SubName:
		default:
			out = append(out, r.Key.Kind.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A view of a read-only store shows what the state machine wrote, applies
// later entries in memory, and leaves the store as it was.
func TestViewAppliesWithoutCommitting(t *testing.T) {
	key := inspectKey(t)
	const shard = 2
	dir := filepath.Join(t.TempDir(), "state")
	store, err := OpenStore(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	create, err := NewFactory(store, Hooks{
		Keys:           key,
		SnapshotKey:    func() (*crypto.Key, error) { return key, nil },
		KeyringApplied: func(uint64, []byte, uint64) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := create(shard, 1).(*StateMachine)
	if _, err := m.Open(nil); err != nil {
		t.Fatal(err)
	}
	var ents []sm.Entry
	for i, c := range []*Command{
		{Op: OpKeyringSet, RequestID: bytes.Repeat([]byte{1}, 16), Time: 1, Keyring: []byte("wrapped"), KeyringEpoch: 1},
		inspectCommand(OpSecretCreate, "a", "alpha", 1),
		inspectCommand(OpSecretCreate, "b", "beta", 1),
	} {
		b, err := SealCommand(key, shard, c)
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, sm.Entry{Index: uint64(i + 1), Cmd: b})
	}
	if _, err := m.Update(ents); err != nil {
		t.Fatal(err)
	}
	m.Close()
	store.Close()

	ro, err := OpenStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	shards, err := ro.Shards()
	if err != nil || len(shards) != 1 || shards[0] != shard {
		t.Fatalf("Shards = %v, %v", shards, err)
	}
	if _, err := ro.NewView(9); err == nil {
		t.Fatal("NewView of a shard without state succeeded")
	}
	v, err := ro.NewView(shard)
	if err != nil {
		t.Fatal(err)
	}
	if v.Applied() != 3 || v.Generation() != 1 {
		t.Fatalf("applied %d gen %d", v.Applied(), v.Generation())
	}
	before := strings.Join(inspectState(t, v), ",")
	if want := "keyring-epoch,keyring,object a,object b,data a 1,data b 1,data-at 2 a,data-at 3 b"; before != want {
		t.Fatalf("state %s, want %s", before, want)
	}
	if _, err := v.Apply(inspectCommand(OpSecretCreate, "c", "gamma", 1), 1, 3); err == nil {
		t.Fatal("Apply of an applied index succeeded")
	}
	for i, c := range []*Command{
		inspectCommand(OpSecretUpdate, "a", "alpha", 2),
		inspectCommand(OpSecretRemove, "b", "beta", 0),
		inspectCommand(OpSecretCreate, "a2", "alpha", 1), // name taken
	} {
		code, err := v.Apply(c, 1, uint64(4+i))
		want := ResultOK
		if i == 2 {
			want = ResultExists
		}
		if err != nil || code != want {
			t.Fatalf("Apply %d = %d, %v; want %d", i, code, err, want)
		}
	}
	if got, want := strings.Join(inspectState(t, v), ","), "keyring-epoch,keyring,object a,data a 1,data a 2,data-at 2 a,data-at 4 a"; got != want {
		t.Fatalf("after Apply: %s, want %s", got, want)
	}
	v.Close()

	v2, err := ro.NewView(shard)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if got := strings.Join(inspectState(t, v2), ","); got != before || v2.Applied() != 3 {
		t.Fatalf("a new view sees %s at %d: Apply reached the store", got, v2.Applied())
	}
}

func TestDecodeGenValue(t *testing.T) {
	gen, sealed, err := DecodeGenValue(append(u64(42), "sealed"...))
	if err != nil || gen != 42 || string(sealed) != "sealed" {
		t.Fatalf("DecodeGenValue = %d %q %v", gen, sealed, err)
	}
	if _, _, err := DecodeGenValue([]byte{1, 2}); err == nil {
		t.Fatal("short value accepted")
	}
	if n, err := DecodeCount(u64(7)); err != nil || n != 7 {
		t.Fatalf("DecodeCount = %d %v", n, err)
	}
	if _, err := DecodeCount([]byte{1}); err == nil {
		t.Fatal("short counter accepted")
	}
}
