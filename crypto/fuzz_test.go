package crypto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzKey is the key under which the fuzz seeds are genuine.
func fuzzKey(t testing.TB) *Key { return mustKey(t, 7, 0x33) }

var fuzzBinding = Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("obj")}

// FuzzOpen feeds arbitrary bytes and bindings to Open. It must never panic,
// fail only with a known error class, and succeed only on a genuine envelope:
// one that Seal reproduces byte for byte from the opened plaintext, the
// envelope's nonce and the binding.
func FuzzOpen(f *testing.F) {
	k := fuzzKey(f)
	for i, pt := range [][]byte{nil, []byte("x"), pattern(100)} {
		env, err := sealWithNonce(k, fuzzBinding, seq(byte(i), envelopeNonce), pt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env, string(fuzzBinding.Purpose), fuzzBinding.Shard, fuzzBinding.Object)
		f.Add(env, "entry", uint64(3), []byte("obj"))
		f.Add(env[:len(env)-1], string(fuzzBinding.Purpose), fuzzBinding.Shard, fuzzBinding.Object)
	}
	f.Add([]byte("vl\x01"), "value", uint64(0), []byte(nil))
	f.Add([]byte{}, "", uint64(0), []byte(nil))

	f.Fuzz(func(t *testing.T, env []byte, purpose string, shard uint64, object []byte) {
		b := Binding{Purpose: Purpose(purpose), Shard: shard, Object: object}
		saved := bytes.Clone(env)
		pt, err := Open(k, b, env)
		if !bytes.Equal(env, saved) {
			t.Fatal("Open modified its input")
		}
		v, verr := EnvelopeKeyVersion(env)
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			if !knownError(err) && !errors.Is(err, ErrInvalidBinding) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if verr != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidBinding) {
				t.Fatalf("header invalid (%v) but Open said %v", verr, err)
			}
			return
		}
		if verr != nil || v != k.Version() {
			t.Fatalf("Open succeeded but EnvelopeKeyVersion = %d, %v", v, verr)
		}
		again, err := sealWithNonce(k, b, env[envelopeHdrSize:envelopeHdrSize+envelopeNonce], pt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, env) {
			t.Fatal("Open accepted an envelope that Seal does not produce")
		}
	})
}

// FuzzStreamReader feeds arbitrary bytes to a stream reader with 64-byte
// chunks. It must never panic, fail only with a known error class, and reach
// io.EOF only on a genuine stream: one the writer reproduces byte for byte
// from the plaintext read and the header's salt.
func FuzzStreamReader(f *testing.F) {
	k := fuzzKey(f)
	for i, n := range []int{0, 1, testChunk, testChunk + 1, 3*testChunk + 5} {
		s := sealStreamWithSalt(f, k, snapBinding, testSalt(byte(i)), testChunk, pattern(n))
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(append(bytes.Clone(s), 0))
	}
	f.Add([]byte("vs\x01"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, s []byte) {
		r, err := newStreamReader(bytes.NewReader(s), k, snapBinding, testChunk)
		if err != nil {
			if !knownError(err) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		pt, err := io.ReadAll(r)
		if err != nil {
			if !IsIntegrityError(err) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		again := sealStreamWithSalt(t, k, snapBinding, s[7:streamHeaderSize], testChunk, pt)
		if !bytes.Equal(again, s) {
			t.Fatal("reader accepted a stream that the writer does not produce")
		}
	})
}

// FuzzSealOpenRoundTrip seals arbitrary plaintexts under arbitrary bindings
// and key versions, as envelopes and as streams, and checks they open, only
// under their own binding.
func FuzzSealOpenRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), "value", uint64(3), []byte("obj"), uint32(1))
	f.Add([]byte{}, "entry", uint64(0), []byte(nil), uint32(0))
	f.Add(pattern(300), "snapshot", ^uint64(0), pattern(5), ^uint32(0))

	f.Fuzz(func(t *testing.T, pt []byte, purpose string, shard uint64, object []byte, version uint32) {
		k := mustKey(t, version, 0x11)
		b := Binding{Purpose: Purpose(purpose), Shard: shard, Object: object}
		env, err := Seal(k, b, pt)
		if err != nil {
			if !errors.Is(err, ErrInvalidBinding) || b.validate() == nil {
				t.Fatalf("Seal: %v", err)
			}
			return
		}
		if len(env) != len(pt)+Overhead {
			t.Fatalf("len(envelope) = %d, want %d", len(env), len(pt)+Overhead)
		}
		if v, err := EnvelopeKeyVersion(env); err != nil || v != version {
			t.Fatalf("EnvelopeKeyVersion = %d, %v; want %d", v, err, version)
		}
		got, err := Open(k, b, env)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open = %v", err)
		}
		moved := Binding{Purpose: b.Purpose, Shard: shard + 1, Object: object}
		if _, err := Open(k, moved, env); !IsIntegrityError(err) {
			t.Fatalf("Open under another shard = %v", err)
		}
		moved = Binding{Purpose: b.Purpose, Shard: shard, Object: append(bytes.Clone(object), 0)}
		if _, err := Open(k, moved, env); !IsIntegrityError(err) {
			t.Fatalf("Open under another object = %v", err)
		}

		var buf bytes.Buffer
		w, err := newStreamWriter(&buf, k, b, testSalt(1), testChunk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(pt); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := streamHeaderSize + len(pt) + wantChunks(len(pt), testChunk)*streamTag; buf.Len() != want {
			t.Fatalf("stream is %d bytes, want %d", buf.Len(), want)
		}
		back, err := readStream(k, b, testChunk, buf.Bytes())
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("stream round trip: %v", err)
		}
		moved = Binding{Purpose: b.Purpose, Shard: shard ^ 1, Object: object}
		if _, err := readStream(k, moved, testChunk, buf.Bytes()); !IsIntegrityError(err) {
			t.Fatalf("stream under another shard = %v", err)
		}
	})
}
