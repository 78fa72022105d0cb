package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestMAC(t *testing.T) {
	k := mustKey(t, 1, 1)
	base := Binding{Purpose: PurposeName, Shard: 3}
	m, err := MAC(k, base, []byte("db-password"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != MACSize || MACSize != 32 {
		t.Fatalf("len(MAC) = %d, want 32", len(m))
	}
	again, _ := MAC(mustKey(t, 1, 1), base, []byte("db-password"))
	if !bytes.Equal(m, again) {
		t.Error("MAC is not deterministic")
	}
	tests := []struct {
		name string
		k    *Key
		b    Binding
		msg  string
	}{
		{"other message", k, base, "db-passwore"},
		{"empty message", k, base, ""},
		{"other shard", k, Binding{Purpose: PurposeName, Shard: 4}, "db-password"},
		{"other purpose", k, Binding{Purpose: PurposeValue, Shard: 3}, "db-password"},
		{"object set", k, Binding{Purpose: PurposeName, Shard: 3, Object: []byte("x")}, "db-password"},
		{"other key", mustKey(t, 1, 2), base, "db-password"},
		// Moving bytes from the message into the object must change the MAC.
		{"message moved to object", k, Binding{Purpose: PurposeName, Shard: 3, Object: []byte("db-")}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MAC(tt.k, tt.b, []byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, m) {
				t.Error("MAC did not change")
			}
		})
	}
	// The MAC key is a subkey: the MAC is not HMAC under the raw key.
	if got := refHMAC(fixedKeyBytes(1), append(appendBinding(nil, base), "db-password"...)); bytes.Equal(got, m) {
		t.Error("MAC uses the raw key")
	}
}

func TestWrapUnwrapKey(t *testing.T) {
	kek := mustKey(t, 1, 1)
	dek := mustKey(t, 7, 0x40)
	obj := binary.BigEndian.AppendUint32([]byte("dek/"), 7)
	b := Binding{Purpose: PurposeKeyring, Object: obj}
	wrapped, err := WrapKey(kek, b, dek)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrapped) != KeySize+Overhead {
		t.Errorf("len(wrapped) = %d, want %d", len(wrapped), KeySize+Overhead)
	}
	if bytes.Contains(wrapped, fixedKeyBytes(0x40)[:8]) {
		t.Error("wrapped key contains the key bytes")
	}
	got, err := UnwrapKey(kek, b, 7, wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(dek) {
		t.Error("unwrapped key differs")
	}

	relabel := Binding{Purpose: PurposeKeyring, Object: binary.BigEndian.AppendUint32([]byte("dek/"), 8)}
	if _, err := UnwrapKey(kek, relabel, 8, wrapped); !IsIntegrityError(err) {
		t.Errorf("UnwrapKey as another version = %v, want integrity error", err)
	}
	if _, err := UnwrapKey(mustKey(t, 1, 2), b, 7, wrapped); !IsIntegrityError(err) {
		t.Errorf("UnwrapKey with another KEK = %v, want integrity error", err)
	}
	if _, err := UnwrapKey(mustKey(t, 2, 1), b, 7, wrapped); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("UnwrapKey with a KEK of another version = %v, want ErrUnknownKeyVersion", err)
	}
	if _, err := Open(kek, Binding{Purpose: PurposeValue, Object: obj}, wrapped); !IsIntegrityError(err) {
		t.Errorf("Open of a wrapped key as a value = %v, want integrity error", err)
	}
	// A genuine envelope whose content is not a key is malformed, not a key.
	for _, n := range []int{0, 31, 33} {
		env, _ := Seal(kek, b, make([]byte, n))
		if _, err := UnwrapKey(kek, b, 7, env); !errors.Is(err, ErrMalformed) {
			t.Errorf("UnwrapKey(%d-byte content) = %v, want ErrMalformed", n, err)
		}
	}
}
