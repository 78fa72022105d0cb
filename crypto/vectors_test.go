package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current implementation")

const vectorsFile = "testdata/vectors.json"

// hexBytes is a []byte that is a hex string in JSON.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type bindingJSON struct {
	Purpose string   `json:"purpose"`
	Shard   uint64   `json:"shard"`
	Object  hexBytes `json:"object"`
}

func (b bindingJSON) binding() Binding {
	return Binding{Purpose: Purpose(b.Purpose), Shard: b.Shard, Object: b.Object}
}

type envelopeVector struct {
	Name       string      `json:"name"`
	Key        hexBytes    `json:"key"`
	KeyVersion uint32      `json:"key_version"`
	Nonce      hexBytes    `json:"nonce"`
	Binding    bindingJSON `json:"binding"`
	Plaintext  hexBytes    `json:"plaintext"`
	Envelope   hexBytes    `json:"envelope"`
}

type macVector struct {
	Name    string      `json:"name"`
	Key     hexBytes    `json:"key"`
	Binding bindingJSON `json:"binding"`
	Message hexBytes    `json:"message"`
	MAC     hexBytes    `json:"mac"`
}

type deriveVector struct {
	Name   string   `json:"name"`
	Secret hexBytes `json:"secret"`
	Salt   hexBytes `json:"salt"`
	Info   string   `json:"info"`
	Key    hexBytes `json:"key"`
}

type wrapVector struct {
	Name       string      `json:"name"`
	KEK        hexBytes    `json:"kek"`
	KEKVersion uint32      `json:"kek_version"`
	Nonce      hexBytes    `json:"nonce"`
	Binding    bindingJSON `json:"binding"`
	Key        hexBytes    `json:"key"`
	Wrapped    hexBytes    `json:"wrapped"`
}

// streamVector's plaintext is PlaintextLen bytes of the pattern i % 251.
// Stream holds the whole sealed stream when it is short; StreamSHA256 and
// StreamLen always describe it. ChunkSize other than 65536 is a test-only
// chunk size, not a valid format parameter.
type streamVector struct {
	Name         string      `json:"name"`
	Key          hexBytes    `json:"key"`
	KeyVersion   uint32      `json:"key_version"`
	Salt         hexBytes    `json:"salt"`
	Binding      bindingJSON `json:"binding"`
	ChunkSize    int         `json:"chunk_size"`
	PlaintextLen int         `json:"plaintext_len"`
	Chunks       int         `json:"chunks"`
	StreamLen    int         `json:"stream_len"`
	StreamSHA256 hexBytes    `json:"stream_sha256"`
	Stream       hexBytes    `json:"stream,omitempty"`
}

type vectors struct {
	Comment   string           `json:"comment"`
	Envelopes []envelopeVector `json:"envelopes"`
	MACs      []macVector      `json:"macs"`
	Derive    []deriveVector   `json:"derive"`
	Wrap      []wrapVector     `json:"wrap"`
	Streams   []streamVector   `json:"streams"`
}

func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func dekObject(v uint32) []byte { return binary.BigEndian.AppendUint32([]byte("dek/"), v) }

// vectorInputs are the inputs of the committed vectors; -update fills in the
// outputs.
func vectorInputs() vectors {
	k0, k1 := seq(0x00, 32), seq(0x80, 32)
	return vectors{
		Comment: "Test vectors for package crypto (envelope v1, stream v1, MAC, HKDF, key wrap). " +
			"Byte strings are hex. Stream plaintexts are plaintext_len bytes of (i % 251).",
		Envelopes: []envelopeVector{
			{Name: "empty plaintext, entry", Key: k0, KeyVersion: 1, Nonce: seq(0x40, 24),
				Binding: bindingJSON{Purpose: "entry", Shard: 2}, Plaintext: []byte{}},
			{Name: "value with object", Key: k0, KeyVersion: 3, Nonce: seq(0x60, 24),
				Binding:   bindingJSON{Purpose: "value", Shard: 5, Object: []byte("secret/db-password@4")},
				Plaintext: []byte("correct horse battery staple")},
			{Name: "file, large key version, 100 bytes", Key: k1, KeyVersion: 0xdeadbeef, Nonce: seq(0xa0, 24),
				Binding: bindingJSON{Purpose: "file", Object: []byte("node.key")}, Plaintext: pattern(100)},
			{Name: "name, max shard", Key: k1, KeyVersion: 2, Nonce: seq(0xc0, 24),
				Binding: bindingJSON{Purpose: "name", Shard: 1<<64 - 1}, Plaintext: []byte("db-password")},
		},
		MACs: []macVector{
			{Name: "name index", Key: k0, Binding: bindingJSON{Purpose: "name", Shard: 2}, Message: []byte("db-password")},
			{Name: "empty message, object", Key: k1, Binding: bindingJSON{Purpose: "name", Shard: 3, Object: []byte("ns")}, Message: []byte{}},
			{Name: "key check", Key: k1, Binding: bindingJSON{Purpose: "key-check"}, Message: []byte("kek")},
		},
		Derive: []deriveVector{
			{Name: "kek from unlock secret", Secret: seq(0x10, 32), Salt: []byte("vault/kek/v1/cluster-1"), Info: "vault kek"},
			{Name: "no salt", Secret: []byte("secret"), Salt: nil, Info: ""},
		},
		Wrap: []wrapVector{
			{Name: "dek v1 under kek v1", KEK: k0, KEKVersion: 1, Nonce: seq(0x20, 24),
				Binding: bindingJSON{Purpose: "keyring", Object: dekObject(1)}, Key: k1},
			{Name: "dek v7 under kek v2", KEK: k1, KEKVersion: 2, Nonce: seq(0x30, 24),
				Binding: bindingJSON{Purpose: "keyring", Object: dekObject(7)}, Key: seq(0xe0, 32)},
		},
		Streams: []streamVector{
			{Name: "empty", Key: k0, KeyVersion: 1, Salt: seq(0x50, 32),
				Binding: bindingJSON{Purpose: "snapshot", Shard: 2}, ChunkSize: ChunkSize, PlaintextLen: 0},
			{Name: "two chunks", Key: k0, KeyVersion: 1, Salt: seq(0x51, 32),
				Binding: bindingJSON{Purpose: "snapshot", Shard: 2}, ChunkSize: ChunkSize, PlaintextLen: ChunkSize + 100},
			{Name: "two full chunks", Key: k1, KeyVersion: 4, Salt: seq(0x52, 32),
				Binding: bindingJSON{Purpose: "snapshot", Shard: 3, Object: []byte("index 42")}, ChunkSize: ChunkSize, PlaintextLen: 2 * ChunkSize},
			{Name: "three 64-byte test chunks", Key: k1, KeyVersion: 4, Salt: seq(0x53, 32),
				Binding: bindingJSON{Purpose: "snapshot", Shard: 3}, ChunkSize: 64, PlaintextLen: 150},
		},
	}
}

// Reference implementation, written from the format description and using
// only x/crypto's AEADs and HMAC, so that the vectors check the format and not
// just the package against itself.

func refHMAC(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// refHKDF is RFC 5869 with SHA-256, for one 32-byte block.
func refHKDF(secret, salt, info []byte) []byte {
	if salt == nil {
		salt = make([]byte, sha256.Size)
	}
	prk := refHMAC(salt, secret)
	return refHMAC(prk, append(bytes.Clone(info), 0x01))
}

func refBinding(b bindingJSON) []byte {
	var out []byte
	out = append(out, "vault/"...)
	out = append(out, b.Purpose...)
	out = append(out, 0)
	out = binary.BigEndian.AppendUint64(out, b.Shard)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Object)))
	return append(out, b.Object...)
}

func refSeal(key []byte, version uint32, nonce []byte, b bindingJSON, pt []byte) []byte {
	header := binary.BigEndian.AppendUint32([]byte{0x76, 0x6c, 0x01}, version)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err)
	}
	aad := append(bytes.Clone(header), refBinding(b)...)
	out := append(bytes.Clone(header), nonce...)
	return aead.Seal(out, nonce, pt, aad)
}

func refMAC(key []byte, b bindingJSON, msg []byte) []byte {
	sub := refHKDF(key, nil, []byte("vault/mac/v1"))
	return refHMAC(sub, append(refBinding(b), msg...))
}

func refStream(key []byte, version uint32, salt []byte, b bindingJSON, chunkSize int, pt []byte) []byte {
	header := binary.BigEndian.AppendUint32([]byte{0x76, 0x73, 0x01}, version)
	header = append(header, salt...)
	info := append([]byte("vault/stream/v1"), header...)
	info = append(info, refBinding(b)...)
	aead, err := chacha20poly1305.New(refHKDF(key, salt, info))
	if err != nil {
		panic(err)
	}
	out := bytes.Clone(header)
	for i := 0; ; i++ {
		n := min(chunkSize, len(pt))
		last := n == len(pt)
		nonce := make([]byte, 12)
		binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
		if last {
			nonce[11] = 1
		}
		out = aead.Seal(out, nonce, pt[:n], nil)
		pt = pt[n:]
		if last {
			return out
		}
	}
}

func sealStreamWithSalt(t testing.TB, k *Key, b Binding, salt []byte, chunkSize int, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newStreamWriter(&buf, k, b, salt, chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readStream(ks KeySource, b Binding, chunkSize int, s []byte) ([]byte, error) {
	r, err := newStreamReader(bytes.NewReader(s), ks, b, chunkSize)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = out.ReadFrom(r)
	return out.Bytes(), err
}

// computeVectors fills in every output of v from the package, and fails if
// the reference implementation disagrees.
func computeVectors(t *testing.T, v vectors) vectors {
	t.Helper()
	for i := range v.Envelopes {
		e := &v.Envelopes[i]
		k, err := NewKey(e.KeyVersion, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		env, err := sealWithNonce(k, e.Binding.binding(), e.Nonce, e.Plaintext)
		if err != nil {
			t.Fatal(err)
		}
		if ref := refSeal(e.Key, e.KeyVersion, e.Nonce, e.Binding, e.Plaintext); !bytes.Equal(env, ref) {
			t.Errorf("envelope %q: package and reference implementation differ", e.Name)
		}
		e.Envelope = env
	}
	for i := range v.MACs {
		m := &v.MACs[i]
		k, _ := NewKey(0, m.Key)
		sum, err := MAC(k, m.Binding.binding(), m.Message)
		if err != nil {
			t.Fatal(err)
		}
		if ref := refMAC(m.Key, m.Binding, m.Message); !bytes.Equal(sum, ref) {
			t.Errorf("mac %q: package and reference implementation differ", m.Name)
		}
		m.MAC = sum
	}
	for i := range v.Derive {
		d := &v.Derive[i]
		k, err := DeriveKey(0, d.Secret, d.Salt, d.Info)
		if err != nil {
			t.Fatal(err)
		}
		ref := refHKDF(d.Secret, d.Salt, []byte(d.Info))
		refKey, _ := NewKey(0, ref)
		if !k.Equal(refKey) {
			t.Errorf("derive %q: package and reference implementation differ", d.Name)
		}
		d.Key = ref
	}
	for i := range v.Wrap {
		w := &v.Wrap[i]
		kek, _ := NewKey(w.KEKVersion, w.KEK)
		k, _ := NewKey(99, w.Key)
		wrapped, err := wrapKeyWithNonce(kek, w.Binding.binding(), k, w.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		if ref := refSeal(w.KEK, w.KEKVersion, w.Nonce, w.Binding, w.Key); !bytes.Equal(wrapped, ref) {
			t.Errorf("wrap %q: package and reference implementation differ", w.Name)
		}
		w.Wrapped = wrapped
	}
	for i := range v.Streams {
		s := &v.Streams[i]
		k, _ := NewKey(s.KeyVersion, s.Key)
		pt := pattern(s.PlaintextLen)
		out := sealStreamWithSalt(t, k, s.Binding.binding(), s.Salt, s.ChunkSize, pt)
		if ref := refStream(s.Key, s.KeyVersion, s.Salt, s.Binding, s.ChunkSize, pt); !bytes.Equal(out, ref) {
			t.Errorf("stream %q: package and reference implementation differ", s.Name)
		}
		sum := sha256.Sum256(out)
		s.StreamSHA256 = sum[:]
		s.StreamLen = len(out)
		s.Chunks = max(1, (s.PlaintextLen+s.ChunkSize-1)/s.ChunkSize)
		s.Stream = nil
		if len(out) <= 1024 {
			s.Stream = out
		}
	}
	return v
}

func TestVectors(t *testing.T) {
	if *update {
		v := computeVectors(t, vectorInputs())
		if t.Failed() {
			t.Fatal("not writing vectors")
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", vectorsFile)
	}

	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var want vectors
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Envelopes) == 0 || len(want.MACs) == 0 || len(want.Derive) == 0 || len(want.Wrap) == 0 || len(want.Streams) == 0 {
		t.Fatal("vectors file is missing a section")
	}
	// Recompute every output from the file's inputs, with the package and
	// with the reference implementation.
	var inputs vectors
	_ = json.Unmarshal(raw, &inputs)
	got := computeVectors(t, inputs)

	for i, e := range want.Envelopes {
		t.Run("envelope/"+e.Name, func(t *testing.T) {
			if !bytes.Equal(got.Envelopes[i].Envelope, e.Envelope) {
				t.Errorf("Seal = %x\nwant   %x", got.Envelopes[i].Envelope, e.Envelope)
			}
			k, _ := NewKey(e.KeyVersion, e.Key)
			pt, err := Open(k, e.Binding.binding(), e.Envelope)
			if err != nil || !bytes.Equal(pt, e.Plaintext) {
				t.Errorf("Open = %x, %v; want %x", pt, err, e.Plaintext)
			}
			if v, err := EnvelopeKeyVersion(e.Envelope); err != nil || v != e.KeyVersion {
				t.Errorf("EnvelopeKeyVersion = %d, %v", v, err)
			}
		})
	}
	for i, m := range want.MACs {
		t.Run("mac/"+m.Name, func(t *testing.T) {
			if !bytes.Equal(got.MACs[i].MAC, m.MAC) {
				t.Errorf("MAC = %x, want %x", got.MACs[i].MAC, m.MAC)
			}
		})
	}
	for i, d := range want.Derive {
		t.Run("derive/"+d.Name, func(t *testing.T) {
			if !bytes.Equal(got.Derive[i].Key, d.Key) {
				t.Errorf("DeriveKey = %x, want %x", got.Derive[i].Key, d.Key)
			}
		})
	}
	for i, w := range want.Wrap {
		t.Run("wrap/"+w.Name, func(t *testing.T) {
			if !bytes.Equal(got.Wrap[i].Wrapped, w.Wrapped) {
				t.Errorf("WrapKey = %x, want %x", got.Wrap[i].Wrapped, w.Wrapped)
			}
			kek, _ := NewKey(w.KEKVersion, w.KEK)
			k, err := UnwrapKey(kek, w.Binding.binding(), 5, w.Wrapped)
			if err != nil {
				t.Fatal(err)
			}
			wk, _ := NewKey(5, w.Key)
			if !k.Equal(wk) {
				t.Error("UnwrapKey returned another key")
			}
		})
	}
	for i, s := range want.Streams {
		t.Run("stream/"+s.Name, func(t *testing.T) {
			g := got.Streams[i]
			if !bytes.Equal(g.StreamSHA256, s.StreamSHA256) || g.StreamLen != s.StreamLen || g.Chunks != s.Chunks {
				t.Errorf("stream sha256 %x len %d chunks %d; want %x len %d chunks %d",
					g.StreamSHA256, g.StreamLen, g.Chunks, s.StreamSHA256, s.StreamLen, s.Chunks)
			}
			if s.Stream != nil && !bytes.Equal(g.Stream, s.Stream) {
				t.Errorf("stream = %x\nwant     %x", g.Stream, s.Stream)
			}
			if s.Chunks < 1 || s.StreamLen != streamHeaderSize+s.PlaintextLen+s.Chunks*streamTag {
				t.Errorf("stream_len %d does not match %d chunks of a %d-byte plaintext", s.StreamLen, s.Chunks, s.PlaintextLen)
			}
			k, _ := NewKey(s.KeyVersion, s.Key)
			pt := pattern(s.PlaintextLen)
			enc := sealStreamWithSalt(t, k, s.Binding.binding(), s.Salt, s.ChunkSize, pt)
			back, err := readStream(k, s.Binding.binding(), s.ChunkSize, enc)
			if err != nil || !bytes.Equal(back, pt) {
				t.Errorf("reading the vector stream back: %v", err)
			}
		})
	}
}
