package vault

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// sealedGroup builds a group stream as SaveSnapshot writes it.
func sealedGroup(t *testing.T, dek *crypto.Key, shard, applied uint64, recs [][2][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	sw, err := crypto.NewStreamWriter(&buf, dek, raftsm.SnapshotBinding(shard))
	if err != nil {
		t.Fatal(err)
	}
	err = raftsm.WriteSnapshot(sw, shard, applied, func(emit func(k, v []byte) error) error {
		for _, r := range recs {
			if err := emit(r[0], r[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || sw.Close() != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A restore's rewrite replaces the keyring and the cluster record, keeps
// every other record byte for byte and the applied index, and seals the
// result under the active DEK.
func TestRewriteGroup(t *testing.T) {
	kek, _ := keys.GenerateKEK(1)
	w, ring, err := keys.NewKeyring(kek, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Wipe()
	dek, _ := ring.Active()
	oldRec, _ := json.Marshal(raftsm.ClusterRecord{ID: "c1", Shards: 1, Members: []raftsm.Member{{NodeID: "old"}}})
	sealedRec, err := crypto.Seal(dek, raftsm.ValueBinding(raftsm.ControlShard, raftsm.ClusterObject), oldRec)
	if err != nil {
		t.Fatal(err)
	}
	object := append([]byte{'o'}, "secretid"...)
	objectValue := append(binary.BigEndian.AppendUint64(nil, 7), "sealed record"...)
	in := sealedGroup(t, dek, raftsm.ControlShard, 42, [][2][]byte{
		{{'k'}, w.Marshal()},
		{{'x'}, append(binary.BigEndian.AppendUint64(nil, 9), sealedRec...)},
		{object, objectValue},
	})
	rec, err := clusterFromStream(ring, bytes.NewReader(in))
	if err != nil || rec.Members[0].NodeID != "old" {
		t.Fatalf("cluster record: %+v, %v", rec, err)
	}
	rec.Members[0].NodeID = "new"
	newRec, _ := json.Marshal(rec)
	newRing := []byte("replacement keyring")
	var out bytes.Buffer
	applied, err := rewriteGroup(ring, dek, raftsm.ControlShard, bytes.NewReader(in), &out, newRing, newRec)
	if err != nil || applied != 42 {
		t.Fatalf("rewrite: applied %d, %v", applied, err)
	}
	got := map[string][]byte{}
	applied, err = groupContents(ring, raftsm.ControlShard, bytes.NewReader(out.Bytes()), func(sub, v []byte) error {
		got[string(sub)] = v
		return nil
	})
	if err != nil || applied != 42 || len(got) != 3 {
		t.Fatalf("rewritten stream: %d records, applied %d, %v", len(got), applied, err)
	}
	if !bytes.Equal(got["k"], newRing) || !bytes.Equal(got[string(object)], objectValue) {
		t.Fatal("keyring not replaced or a record changed")
	}
	if gen := binary.BigEndian.Uint64(got["x"]); gen != 9 {
		t.Fatalf("cluster record generation %d, want 9", gen)
	}
	rec2, err := clusterFromStream(ring, bytes.NewReader(out.Bytes()))
	if err != nil || rec2.Members[0].NodeID != "new" {
		t.Fatalf("rewritten cluster record: %+v, %v", rec2, err)
	}
	// A stream of another group in this group's place, or a damaged one, is refused.
	if _, err := rewriteGroup(ring, dek, 2, bytes.NewReader(in), io.Discard, nil, nil); err == nil {
		t.Fatal("a control group stream was taken for group 2")
	}
	bad := bytes.Clone(in)
	bad[len(bad)/2] ^= 1
	if _, err := rewriteGroup(ring, dek, raftsm.ControlShard, bytes.NewReader(bad), io.Discard, nil, nil); !crypto.IsIntegrityError(err) && !errors.Is(err, raftsm.ErrBadSnapshot) {
		t.Fatalf("damaged stream: %v", err)
	}
	// A rewrite that must replace the cluster record of a group without one fails.
	secret := sealedGroup(t, dek, 2, 5, [][2][]byte{{object, objectValue}})
	if _, err := rewriteGroup(ring, dek, 2, bytes.NewReader(secret), io.Discard, nil, newRec); !errors.Is(err, raftsm.ErrBadSnapshot) {
		t.Fatalf("no cluster record: %v", err)
	}
}
