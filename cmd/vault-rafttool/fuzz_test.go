package main

import (
	"bytes"
	"io"
	"testing"
	"time"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/logdb"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// fuzzKeys returns a key set holding one DEK, and that DEK.
func fuzzKeys(f *testing.F) (*keyset, *crypto.Key) {
	kek, err := crypto.GenerateKey(1)
	if err != nil {
		f.Fatal(err)
	}
	w, ring, err := keys.NewKeyring(kek, time.Unix(1, 0))
	if err != nil {
		f.Fatal(err)
	}
	ks := &keyset{src: &kekSource{file: kek}, seen: map[[32]byte]error{}}
	if err := ks.add(w.Marshal()); err != nil {
		f.Fatal(err)
	}
	dek, _ := ring.Active()
	return ks, dek
}

// FuzzViewEntry feeds LogDB entry values through the whole decoding path:
// entry, payload, sealed command, records. Nothing may panic.
func FuzzViewEntry(f *testing.F) {
	ks, dek := fuzzKeys(f)
	for _, c := range []*raftsm.Command{
		{Op: raftsm.OpSecretCreate, RequestID: make([]byte, 16), Secret: &raftsm.SecretWrite{
			ID: "x", NameMAC: make([]byte, 32), Record: []byte("not sealed"), Version: 1, Data: []byte("not sealed")}},
		{Op: raftsm.OpKeyringSet, RequestID: make([]byte, 16), Keyring: []byte("vk\x01"), KeyringEpoch: 1},
	} {
		b, err := raftsm.SealCommand(dek, 2, c)
		if err != nil {
			f.Fatal(err)
		}
		e, _ := (&pb.Entry{Index: 3, Term: 1, Type: pb.EncodedEntry, Cmd: append([]byte{0}, b...)}).Marshal()
		f.Add(e)
	}
	cc, _ := (&pb.ConfigChange{Type: pb.AddNode, ReplicaID: 1, Address: "a"}).Marshal()
	e, _ := (&pb.Entry{Index: 1, Term: 1, Type: pb.ConfigChangeEntry, Cmd: cc}).Marshal()
	f.Add(e)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := logdb.DecodeEntry(b)
		if err != nil {
			return
		}
		v := newViewer(ks, false)
		ev := v.entry(2, e, 10)
		ev.errors()
		out := &textOut{w: io.Discard}
		out.entry(ev)
	})
}

// FuzzReadStream feeds snapshot stream bytes to the stream reader and the
// state description built on it.
func FuzzReadStream(f *testing.F) {
	ks, dek := fuzzKeys(f)
	var stream bytes.Buffer
	sw, _ := crypto.NewStreamWriter(&stream, dek, raftsm.SnapshotBinding(2))
	raftsm.WriteSnapshot(sw, 2, 9, func(emit func(k, v []byte) error) error {
		emit([]byte("oid"), append(make([]byte, 8), "sealed"...))
		emit([]byte("vid\x00\x00\x00\x00\x01"), []byte("sealed"))
		return emit([]byte("x"), []byte("short"))
	})
	sw.Close()
	f.Add(stream.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &session{stderr: io.Discard, keys: ks}
		st, _, _ := s.readStream(newViewer(ks, true), 2, bytes.NewReader(b), "fuzz")
		if st != nil {
			(&textOut{w: io.Discard}).state(0, st)
		}
	})
}
