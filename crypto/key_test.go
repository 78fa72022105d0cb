package crypto

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestNewKey(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31, 33, 64} {
		if _, err := NewKey(1, make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("NewKey(%d bytes) = %v, want ErrMalformed", n, err)
		}
	}
	b := fixedKeyBytes(1)
	k, err := NewKey(9, b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b) // NewKey must have copied
	if !k.Equal(mustKey(t, 9, 1)) {
		t.Error("NewKey did not copy its input")
	}
	if k.Version() != 9 {
		t.Errorf("Version = %d, want 9", k.Version())
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Equal(b) {
		t.Error("two generated keys are equal")
	}
	if a.Version() != 1 {
		t.Errorf("Version = %d, want 1", a.Version())
	}
	var zero [KeySize]byte
	if err := a.use(func(k *[KeySize]byte) error {
		if *k == zero {
			return errors.New("generated key is all zero")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

func TestDeriveKey(t *testing.T) {
	// RFC 5869 test case 1 (first 32 of 42 output bytes).
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	salt, _ := hex.DecodeString("000102030405060708090a0b0c")
	info, _ := hex.DecodeString("f0f1f2f3f4f5f6f7f8f9")
	want, _ := hex.DecodeString("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf")
	k, err := DeriveKey(4, ikm, salt, string(info))
	if err != nil {
		t.Fatal(err)
	}
	wk, _ := NewKey(4, want)
	if !k.Equal(wk) {
		t.Error("DeriveKey does not match RFC 5869 test case 1")
	}

	tests := []struct {
		name       string
		secret     []byte
		salt, info string
		wantSame   bool
	}{
		{"same inputs", ikm, "000102030405060708090a0b0c", string(info), true},
		{"other salt", ikm, "00", string(info), false},
		{"no salt", ikm, "", string(info), false},
		{"other info", ikm, "000102030405060708090a0b0c", "other", false},
		{"other secret", ikm[1:], "000102030405060708090a0b0c", string(info), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := hex.DecodeString(tt.salt)
			got, err := DeriveKey(4, tt.secret, s, tt.info)
			if err != nil {
				t.Fatal(err)
			}
			if got.Equal(k) != tt.wantSame {
				t.Errorf("Equal = %v, want %v", !tt.wantSame, tt.wantSame)
			}
		})
	}
	if _, err := DeriveKey(1, nil, salt, "x"); !errors.Is(err, ErrMalformed) {
		t.Errorf("DeriveKey(empty secret) = %v, want ErrMalformed", err)
	}
}

func TestKeyEqual(t *testing.T) {
	k := mustKey(t, 1, 10)
	wiped := mustKey(t, 1, 10)
	wiped.Wipe()
	tests := []struct {
		name string
		a, b *Key
		want bool
	}{
		{"same pointer", k, k, true},
		{"same bytes and version", k, mustKey(t, 1, 10), true},
		{"other version", k, mustKey(t, 2, 10), false},
		{"other bytes", k, mustKey(t, 1, 11), false},
		{"nil other", k, nil, false},
		{"nil receiver", nil, k, false},
		{"both nil", nil, nil, false},
		{"wiped other", k, wiped, false},
		{"wiped receiver", wiped, k, false},
		{"wiped self", wiped, wiped, false},
		{"zero Key", &Key{}, &Key{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
	if reflect.TypeOf(Key{}).Comparable() {
		t.Error("Key is comparable with ==")
	}
}

func TestKeyAsKeySource(t *testing.T) {
	k := mustKey(t, 5, 1)
	got, err := k.Key(5)
	if err != nil || got != k {
		t.Fatalf("Key(5) = %v, %v; want k itself", got, err)
	}
	if _, err := k.Key(6); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Key(6) = %v, want ErrUnknownKeyVersion", err)
	}
	var nilKey *Key
	if _, err := nilKey.Key(5); err == nil {
		t.Error("nil Key.Key succeeded")
	}
}

func TestWipe(t *testing.T) {
	k := mustKey(t, 3, 1)
	env, err := Seal(k, Binding{Purpose: PurposeValue}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := WrapKey(k, Binding{Purpose: PurposeKeyring}, mustKey(t, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	k.Wipe() // idempotent
	(*Key)(nil).Wipe()

	if err := k.use(func(b *[KeySize]byte) error {
		t.Error("use of a wiped key ran")
		return nil
	}); !errors.Is(err, ErrWiped) {
		t.Errorf("use = %v, want ErrWiped", err)
	}
	if !bytes.Equal(k.s.b[:], make([]byte, KeySize)) {
		t.Error("Wipe did not zero the key bytes")
	}
	b := Binding{Purpose: PurposeValue}
	uses := []struct {
		name string
		f    func() error
	}{
		{"Key", func() error { _, err := k.Key(3); return err }},
		{"Seal", func() error { _, err := Seal(k, b, nil); return err }},
		{"Open", func() error { _, err := Open(k, b, env); return err }},
		{"MAC", func() error { _, err := MAC(k, b, nil); return err }},
		{"WrapKey kek", func() error { _, err := WrapKey(k, b, mustKey(t, 1, 1)); return err }},
		{"WrapKey key", func() error { _, err := WrapKey(mustKey(t, 1, 1), b, k); return err }},
		{"UnwrapKey", func() error {
			_, err := UnwrapKey(anyWiped{k}, Binding{Purpose: PurposeKeyring}, 4, wrapped)
			return err
		}},
		{"NewStreamWriter", func() error { _, err := NewStreamWriter(&bytes.Buffer{}, k, b); return err }},
	}
	for _, u := range uses {
		if err := u.f(); !errors.Is(err, ErrWiped) {
			t.Errorf("%s after Wipe = %v, want ErrWiped", u.name, err)
		}
	}
	if k.Version() != 3 {
		t.Errorf("Version after Wipe = %d, want 3", k.Version())
	}
	if s := fmt.Sprint(k); s != "crypto.Key{v3 WIPED}" {
		t.Errorf("wiped key prints %q", s)
	}
}

// anyWiped returns its key without checking it, to reach Open's own check.
type anyWiped struct{ k *Key }

func (a anyWiped) Key(uint32) (*Key, error) { return a.k, nil }

// TestWipeConcurrent races Wipe against users; run with -race. Every use
// either completes with the key or fails with ErrWiped.
func TestWipeConcurrent(t *testing.T) {
	k := mustKey(t, 1, 1)
	other := mustKey(t, 1, 1)
	b := Binding{Purpose: PurposeEntry, Shard: 2}
	env, err := Seal(k, b, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	start := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 50 {
				if _, err := Seal(k, b, []byte("payload")); err != nil && !errors.Is(err, ErrWiped) {
					errs <- err
					return
				}
				if _, err := Open(anyWiped{k}, b, env); err != nil && !errors.Is(err, ErrWiped) {
					errs <- err
					return
				}
				_ = k.Equal(other)
				_ = other.Equal(k)
				_ = k.String()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		k.Wipe()
	}()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := Seal(k, b, nil); !errors.Is(err, ErrWiped) {
		t.Errorf("Seal after concurrent Wipe = %v, want ErrWiped", err)
	}
}

type holder struct {
	Name   string
	Key    *Key
	Value  Key
	hidden *Key
	inline Key
	state  *keyState
}

func TestKeyRedacted(t *testing.T) {
	raw := fixedKeyBytes(0xa0)
	k := mustKey(t, 3, 0xa0)
	h := holder{Name: "h", Key: k, Value: *k, hidden: k, inline: *k, state: k.s}

	// Every encoding of the key bytes that a formatter could produce.
	forbidden := []string{
		string(raw),
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		base32.StdEncoding.EncodeToString(raw),
		fmt.Sprint(raw),                // decimal list
		fmt.Sprintf("%#v", raw),        // Go syntax, 0x.. bytes
		fmt.Sprintf("%q", string(raw)), // quoted
		fmt.Sprintf("% x", raw),        // spaced hex
		// Short runs are enough to leak; check a 4-byte window too.
		hex.EncodeToString(raw[8:12]),
		fmt.Sprint(raw[8:12])[1:12],
	}
	values := map[string]any{
		"*Key":            k,
		"Key":             *k,
		"struct":          h,
		"*struct":         &h,
		"slice":           []*Key{k, k},
		"map":             map[string]*Key{"k": k},
		"interface slice": []any{k, *k},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "% x", "%10.3v", "%T"}
	for name, v := range values {
		for _, verb := range verbs {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("Sprintf(%q, %s) = %q contains key bytes (%q)", verb, name, out, f)
				}
			}
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if got := fmt.Sprintf(verb, k); got != "crypto.Key{v3 REDACTED}" {
			t.Errorf("Sprintf(%q, k) = %q, want crypto.Key{v3 REDACTED}", verb, got)
		}
	}
	if got := k.GoString(); got != "crypto.Key{v3 REDACTED}" {
		t.Errorf("GoString = %q", got)
	}
	if got := fmt.Sprint(h); !strings.Contains(got, "crypto.Key{v3 REDACTED}") {
		t.Errorf("Sprint(struct) = %q, want the redacted form of exported fields", got)
	}
	if got := fmt.Sprint((*Key)(nil)); got != "<nil>" {
		t.Errorf("Sprint(nil key) = %q", got)
	}
}
