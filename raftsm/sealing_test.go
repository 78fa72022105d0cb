package raftsm

import (
	"bytes"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// A secret write opens only where it was sealed: the record under its
// shard and id, each data version under its shard, id and version.
func TestSealSecretWrite(t *testing.T) {
	k := harnessKey(1)
	rec := &SecretRecord{ID: "abc", Name: "db-password", Labels: map[string]string{"env": "prod"},
		Versions: []VersionInfo{{Version: 1, Size: 2}, {Version: 2, Size: 5}}}
	data := []byte("hello")
	w, err := SealSecretWrite(k, 2, bytes.Repeat([]byte{7}, 32), rec, 9, data)
	if err != nil {
		t.Fatal(err)
	}
	if w.ID != "abc" || w.Version != 2 || w.ExpectGen != 9 || len(w.NameMAC) != 32 {
		t.Fatalf("write %+v", w)
	}
	if bytes.Contains(w.Record, []byte("db-password")) || bytes.Contains(w.Data, data) {
		t.Fatal("plaintext in the sealed write")
	}
	got, err := OpenRecord(k, 2, "abc", w.Record)
	if err != nil || got.Name != "db-password" || got.Labels["env"] != "prod" || got.Latest().Version != 2 {
		t.Fatalf("OpenRecord: %+v, %v", got, err)
	}
	// The data is under its own data key, which only the record holds.
	if kv, _ := crypto.EnvelopeKeyVersion(w.Data); kv != DataKeyVersion {
		t.Fatalf("data sealed under key version %d, want the data key's", kv)
	}
	v2 := got.Version(2)
	if len(v2.Key) != crypto.KeySize || len(got.Version(1).Key) != 0 {
		t.Fatalf("data keys in the record: v1 %d bytes, v2 %d bytes", len(got.Version(1).Key), len(v2.Key))
	}
	d, err := OpenData(k, 2, "abc", v2, w.Data)
	if err != nil || string(d) != "hello" {
		t.Fatalf("OpenData: %q, %v", d, err)
	}
	otherKey := VersionInfo{Version: 2, Key: bytes.Repeat([]byte{1}, crypto.KeySize)}
	for name, open := range map[string]func() error{
		"record in another shard": func() error { _, err := OpenRecord(k, 3, "abc", w.Record); return err },
		"record of another id":    func() error { _, err := OpenRecord(k, 2, "abd", w.Record); return err },
		"data in another shard":   func() error { _, err := OpenData(k, 3, "abc", v2, w.Data); return err },
		"data of another version": func() error {
			_, err := OpenData(k, 2, "abc", VersionInfo{Version: 1, Key: v2.Key}, w.Data)
			return err
		},
		"data without its key":   func() error { _, err := OpenData(k, 2, "abc", VersionInfo{Version: 2}, w.Data); return err },
		"data under another key": func() error { _, err := OpenData(k, 2, "abc", otherKey, w.Data); return err },
		"data as the record":     func() error { _, err := OpenRecord(k, 2, "abc", w.Data); return err },
		"record as the cluster":  func() error { _, err := OpenCluster(k, w.Record); return err },
	} {
		if err := open(); err == nil {
			t.Errorf("%s: opened", name)
		}
	}

	// A version sealed before data keys existed opens under its DEK.
	legacy, err := SealData(k, 2, "abc", 1, []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := OpenData(k, 2, "abc", got.Version(1), legacy); err != nil || string(d) != "old" {
		t.Fatalf("OpenData of a version under a DEK: %q, %v", d, err)
	}
	if _, err := OpenData(harnessKey(2), 2, "abc", got.Version(1), legacy); err == nil {
		t.Error("a version under a DEK opened under another DEK")
	}

	// Without data, only the record.
	w, err = SealSecretWrite(k, 2, bytes.Repeat([]byte{7}, 32), rec, 9, nil)
	if err != nil || w.Data != nil || w.Version != 0 {
		t.Fatalf("record-only write: %+v, %v", w, err)
	}
}

// An opened record must be the one stored under the id asked for, and
// must decode; neither failure is an integrity failure.
func TestOpenRecordMalformed(t *testing.T) {
	k := harnessKey(1)
	sealed, err := crypto.Seal(k, ValueBinding(2, RecordObject("abc")), []byte(`{"id":"xyz","name":"n"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRecord(k, 2, "abc", sealed); err == nil || crypto.IsIntegrityError(err) {
		t.Fatalf("a record naming another id: %v", err)
	}
	sealed, _ = crypto.Seal(k, ValueBinding(2, RecordObject("abc")), []byte(`not json`))
	if _, err := OpenRecord(k, 2, "abc", sealed); err == nil || crypto.IsIntegrityError(err) {
		t.Fatalf("a record that does not decode: %v", err)
	}
}
