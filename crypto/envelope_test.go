package crypto

import (
	"bytes"
	"errors"
	"testing"
)

var testBindings = []Binding{
	{Purpose: PurposeEntry, Shard: 2},
	{Purpose: PurposeSnapshot, Shard: 7},
	{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/db-password@4")},
	{Purpose: PurposeName, Shard: 3},
	{Purpose: PurposeKeyring, Object: []byte{'d', 'e', 'k', '/', 0, 0, 0, 1}},
	{Purpose: PurposeKeyCheck},
	{Purpose: PurposeFile, Object: []byte("node.key")},
	{Purpose: PurposeTransfer, Shard: 1 << 63, Object: bytes.Repeat([]byte{0}, 300)},
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKey(t, 7, 1)
	for _, b := range testBindings {
		for _, n := range []int{0, 1, 15, 16, 17, 1024, 70000} {
			pt := pattern(n)
			env, err := Seal(k, b, pt)
			if err != nil {
				t.Fatalf("Seal(%s, %d bytes): %v", b.Purpose, n, err)
			}
			if len(env) != n+Overhead {
				t.Errorf("len(envelope) = %d, want %d", len(env), n+Overhead)
			}
			if v, err := EnvelopeKeyVersion(env); err != nil || v != 7 {
				t.Errorf("EnvelopeKeyVersion = %d, %v; want 7", v, err)
			}
			got, err := Open(k, b, env)
			if err != nil {
				t.Fatalf("Open(%s, %d bytes): %v", b.Purpose, n, err)
			}
			if !bytes.Equal(got, pt) || got == nil {
				t.Errorf("Open(%s, %d bytes) returned other plaintext", b.Purpose, n)
			}
			// A copy of the binding opens too: the binding is data, not identity.
			b2 := Binding{Purpose: b.Purpose, Shard: b.Shard, Object: bytes.Clone(b.Object)}
			if _, err := Open(k, b2, env); err != nil {
				t.Errorf("Open with an equal binding: %v", err)
			}
		}
	}
}

func TestSealNonceIsFresh(t *testing.T) {
	k := mustKey(t, 1, 1)
	b := Binding{Purpose: PurposeEntry}
	seen := map[string]bool{}
	for range 100 {
		env, err := Seal(k, b, []byte("same"))
		if err != nil {
			t.Fatal(err)
		}
		nonce := string(env[envelopeHdrSize : envelopeHdrSize+envelopeNonce])
		if seen[nonce] {
			t.Fatal("nonce repeated")
		}
		seen[nonce] = true
	}
}

func TestSealDoesNotAlias(t *testing.T) {
	k := mustKey(t, 1, 1)
	b := Binding{Purpose: PurposeValue, Object: []byte("o")}
	pt := []byte("plaintext")
	env, err := Seal(k, b, pt)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "plaintext" {
		t.Error("Seal modified its input")
	}
	saved := bytes.Clone(env)
	got, err := Open(k, b, env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(env, saved) {
		t.Error("Open modified the envelope")
	}
	got[0] ^= 1
	if !bytes.Equal(env, saved) {
		t.Error("Open's plaintext aliases the envelope")
	}
}

func TestOpenWrongBinding(t *testing.T) {
	k := mustKey(t, 1, 1)
	b := Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/a@1")}
	env, err := Seal(k, b, []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ks   KeySource
		b    Binding
	}{
		{"other purpose", k, Binding{Purpose: PurposeEntry, Shard: 3, Object: []byte("secret/a@1")}},
		{"purpose prefix", k, Binding{Purpose: "valu", Shard: 3, Object: []byte("secret/a@1")}},
		{"other shard", k, Binding{Purpose: PurposeValue, Shard: 4, Object: []byte("secret/a@1")}},
		{"shard zero", k, Binding{Purpose: PurposeValue, Object: []byte("secret/a@1")}},
		{"other object", k, Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/a@2")}},
		{"object prefix", k, Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/a@")}},
		{"object extended", k, Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/a@10")}},
		{"no object", k, Binding{Purpose: PurposeValue, Shard: 3}},
		{"other key bytes", mustKey(t, 1, 2), b},
		{"same bytes other version label", anyVersion(fixedKeyBytes(2)), b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := Open(tt.ks, tt.b, env)
			if !IsIntegrityError(err) {
				t.Errorf("Open = %v, want an integrity error", err)
			}
			if pt != nil {
				t.Error("Open returned plaintext with an error")
			}
		})
	}
}

func TestOpenKeyVersions(t *testing.T) {
	k1, k2 := mustKey(t, 1, 1), mustKey(t, 2, 2)
	b := Binding{Purpose: PurposeEntry, Shard: 2}
	env1, _ := Seal(k1, b, []byte("one"))
	env2, _ := Seal(k2, b, []byte("two"))
	r := ring{1: k1, 2: k2}
	for _, env := range [][]byte{env1, env2} {
		if _, err := Open(r, b, env); err != nil {
			t.Errorf("Open from ring: %v", err)
		}
	}
	if _, err := Open(k1, b, env2); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open(v2 envelope, v1 key) = %v, want ErrUnknownKeyVersion", err)
	}
	if _, err := Open(ring{1: k1}, b, env2); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open(v2 envelope, ring without v2) = %v, want ErrUnknownKeyVersion", err)
	}
	if _, err := Open(nil, b, env1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open(nil key source) = %v, want ErrUnknownKeyVersion", err)
	}
	// A KeySource that answers with the wrong version is not trusted.
	if _, err := Open(ring{2: k1}, b, env2); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open(key source returning v1 for v2) = %v, want ErrUnknownKeyVersion", err)
	}
	if _, err := Open(ring{1: nil}, b, env1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open(key source returning nil) = %v, want ErrUnknownKeyVersion", err)
	}
}

func TestInvalidBinding(t *testing.T) {
	k := mustKey(t, 1, 1)
	env, _ := Seal(k, Binding{Purpose: PurposeEntry}, nil)
	for _, b := range []Binding{
		{},
		{Shard: 1},
		{Purpose: "a\x00b"},
		{Purpose: "entry\x00"},
	} {
		if _, err := Seal(k, b, nil); !errors.Is(err, ErrInvalidBinding) {
			t.Errorf("Seal(%q) = %v, want ErrInvalidBinding", b.Purpose, err)
		}
		if _, err := Open(k, b, env); !errors.Is(err, ErrInvalidBinding) {
			t.Errorf("Open(%q) = %v, want ErrInvalidBinding", b.Purpose, err)
		}
		if _, err := MAC(k, b, nil); !errors.Is(err, ErrInvalidBinding) {
			t.Errorf("MAC(%q) = %v, want ErrInvalidBinding", b.Purpose, err)
		}
		if _, err := NewStreamWriter(&bytes.Buffer{}, k, b); !errors.Is(err, ErrInvalidBinding) {
			t.Errorf("NewStreamWriter(%q) = %v, want ErrInvalidBinding", b.Purpose, err)
		}
	}
	// Nil and empty objects are the same binding.
	e, _ := Seal(k, Binding{Purpose: PurposeValue, Object: nil}, []byte("x"))
	if _, err := Open(k, Binding{Purpose: PurposeValue, Object: []byte{}}, e); err != nil {
		t.Errorf("nil and empty Object differ: %v", err)
	}
}

// TestEnvelopeTamperEveryByte flips each byte of an envelope in turn. Nothing
// may open; the error class depends on which field was hit.
func TestEnvelopeTamperEveryByte(t *testing.T) {
	k := mustKey(t, 5, 1)
	b := Binding{Purpose: PurposeValue, Shard: 9, Object: []byte("obj")}
	env, err := Seal(k, b, []byte("attack at dawn"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range env {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := flip(env, i, mask)
			_, err := Open(k, b, bad)
			var want error
			switch {
			case i < 3: // magic, format version
				want = ErrMalformed
			case i < envelopeHdrSize: // key version
				want = ErrUnknownKeyVersion
			default: // nonce, ciphertext, tag
				want = ErrIntegrity
			}
			if !errors.Is(err, want) {
				t.Errorf("byte %d ^ %#x: Open = %v, want %v", i, mask, err, want)
			}
			// With a key source that has the same bytes under every
			// version, a changed key version must still fail: the header
			// is authenticated.
			if i >= 3 && i < envelopeHdrSize {
				if _, err := Open(anyVersion(fixedKeyBytes(1)), b, bad); !IsIntegrityError(err) {
					t.Errorf("byte %d ^ %#x with any-version keys: Open = %v, want integrity error", i, mask, err)
				}
			}
		}
	}
}

func TestEnvelopeTruncateEveryLength(t *testing.T) {
	k := mustKey(t, 5, 1)
	b := Binding{Purpose: PurposeEntry, Shard: 1}
	env, err := Seal(k, b, pattern(40))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(env) {
		_, err := Open(k, b, env[:n])
		want := ErrIntegrity
		if n < Overhead {
			want = ErrMalformed
		}
		if !errors.Is(err, want) {
			t.Errorf("truncated to %d: Open = %v, want %v", n, err, want)
		}
		if n < Overhead {
			if _, err := EnvelopeKeyVersion(env[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("truncated to %d: EnvelopeKeyVersion = %v, want ErrMalformed", n, err)
			}
		}
	}
	for _, extra := range [][]byte{{0}, env[len(env)-16:], env} {
		if _, err := Open(k, b, append(bytes.Clone(env), extra...)); !IsIntegrityError(err) {
			t.Errorf("extended by %d bytes: Open = %v, want integrity error", len(extra), err)
		}
	}
}

func TestEnvelopeKeyVersion(t *testing.T) {
	k := mustKey(t, 0xdeadbeef, 1)
	env, _ := Seal(k, Binding{Purpose: PurposeEntry}, nil)
	tests := []struct {
		name    string
		env     []byte
		want    uint32
		wantErr error
	}{
		{"genuine", env, 0xdeadbeef, nil},
		{"nil", nil, 0, ErrMalformed},
		{"header only", env[:envelopeHdrSize], 0, ErrMalformed},
		{"bad magic", flip(env, 0, 0x20), 0, ErrMalformed},
		{"stream magic", flip(env, 1, 'l'^'s'), 0, ErrMalformed},
		{"format version 2", flip(env, 2, 0x03), 0, ErrMalformed},
		{"format version 0", flip(env, 2, 0x01), 0, ErrMalformed},
		{"version changed", flip(env, 6, 0x01), 0xdeadbeee, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := EnvelopeKeyVersion(tt.env)
			if !errors.Is(err, tt.wantErr) || v != tt.want {
				t.Errorf("EnvelopeKeyVersion = %#x, %v; want %#x, %v", v, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestErrorsCarryNoSecrets checks error text for key bytes and plaintext.
func TestErrorsCarryNoSecrets(t *testing.T) {
	raw := fixedKeyBytes(0x61) // printable: "abcdefgh..."
	k, _ := NewKey(1, raw)
	secret := []byte("TOPSECRETPLAINTEXT")
	b := Binding{Purpose: PurposeValue}
	env, _ := Seal(k, b, secret)
	var errs []error
	for i := range env {
		_, err := Open(k, b, flip(env, i, 0xff))
		errs = append(errs, err)
	}
	_, err := Open(k, Binding{Purpose: PurposeEntry}, env)
	errs = append(errs, err)
	_, err = NewKey(1, append(raw, 'x'))
	errs = append(errs, err)
	_, err = UnwrapKey(k, b, 1, env)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		s := err.Error()
		if bytes.Contains([]byte(s), raw[:8]) || bytes.Contains([]byte(s), secret[:8]) {
			t.Errorf("error %q contains secret bytes", s)
		}
		if !bytes.HasPrefix([]byte(s), []byte("crypto: ")) {
			t.Errorf("error %q lacks the crypto: prefix", s)
		}
	}
}
