package raftsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// TestOpenRecordName: the name of a sealed record, checked as OpenRecord
// checks it (key, binding, the id it is stored under).
func TestOpenRecordName(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	rec := &SecretRecord{ID: "abc", Name: "db-password", Labels: map[string]string{"env": "prod"}, Created: 1, Updated: 2,
		Versions: []VersionInfo{{Version: 1, Size: 10, Created: 1}, {Version: 2, Size: 3, Created: 2}}}
	sealed, err := SealRecord(key, 3, rec)
	if err != nil {
		t.Fatal(err)
	}
	name, err := OpenRecordName(key, 3, "abc", sealed)
	if err != nil || name != "db-password" {
		t.Fatalf("OpenRecordName: %q, %v", name, err)
	}
	if _, err := OpenRecordName(key, 4, "abc", sealed); !errors.Is(err, crypto.ErrIntegrity) {
		t.Fatalf("another group's binding: %v", err)
	}
	if _, err := OpenRecordName(key, 3, "abd", sealed); err == nil {
		t.Fatal("another id's binding: no error")
	}
	other, _ := crypto.GenerateKey(1)
	if _, err := OpenRecordName(other, 3, "abc", sealed); err == nil {
		t.Fatal("another key: no error")
	}
}

// FuzzDecodeRecordKey checks that decodeRecordKey fails exactly where
// DecodeRecord does, and otherwise gives its id and name.
func FuzzDecodeRecordKey(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","name":"b","created":1,"updated":2,"versions":[{"version":1,"size":3,"created":4}]}`,
		`{"id":"a","name":"b","labels":{"k":"v","k":"w"},"max_versions":3}`, `{"ID":"a"}`, `{"id":"a","id":"b"}`,
		`{"created":1.0}`, `{"created":01}`, `{"versions":null}`, `{"versions":[{"version":4294967296}]}`,
		`{"versions":[{"version":1,"version":2}]}`, `{"labels":{"a":1}}`, `{"labels":null}`, `{"name":"a\u0041"}`,
		` {"id" : "x" } `, `{"id":"x"} x`, `{}`, `[]`, `{"labels":{}}`, `{"other":1}`, `{"created":"1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, name, gotErr := decodeRecordKey(b)
		var want SecretRecord
		wantErr := DecodeRecord(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeRecordKey %v, DecodeRecord %v", b, gotErr, wantErr)
		}
		if wantErr == nil && (id != want.ID || name != want.Name) {
			t.Fatalf("%q: decodeRecordKey %q %q, DecodeRecord %q %q", b, id, name, want.ID, want.Name)
		}
		var ref SecretRecord
		if (json.Unmarshal(b, &ref) == nil) != (wantErr == nil) {
			t.Fatalf("%q: DecodeRecord and json.Unmarshal disagree", b)
		}
	})
}

// BenchmarkDecodeRecordName compares the name-only decode of a typical
// record (a label, two versions, each with its data key) with the whole
// decode.
func BenchmarkDecodeRecordName(b *testing.B) {
	key := bytes.Repeat([]byte{0xa5}, 32)
	rec, _ := json.Marshal(&SecretRecord{ID: "4bgnuehx5urqc5iydla6lyniru", Name: "bench-0000123456", Labels: map[string]string{"env": "prod"},
		Created: 1764765000123456789, Updated: 1764765000123456789,
		Versions: []VersionInfo{{Version: 1, Size: 1024, Created: 1764765000123456789, Key: key}, {Version: 2, Size: 1024, Created: 1764765000123456789, Key: key}}})
	b.Run("name", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := decodeRecordKey(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			var r SecretRecord
			if err := DecodeRecord(rec, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
