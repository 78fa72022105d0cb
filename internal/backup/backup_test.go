package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
)

type fixture struct {
	file []byte
	key  *keys.UnlockKey
	ring *keys.WrappedKeyring
}

func makeSnapshot(t *testing.T, clusterID string) fixture {
	t.Helper()
	u, err := keys.GenerateUnlockKey(clusterID)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := u.KEK(clusterID, 7)
	if err != nil {
		t.Fatal(err)
	}
	w, ring, err := keys.NewKeyring(kek, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Wipe()
	streams := [][]byte{bytes.Repeat([]byte{1}, 100), {}, bytes.Repeat([]byte{3}, 5000)}
	h := &Header{ClusterID: clusterID, Created: time.Unix(2, 0).UTC(), KEKVersion: 7, KeyCheck: w.KEKCheck, KeySource: KeySnapshot}
	var rs []io.Reader
	for i, s := range streams {
		h.Groups = append(h.Groups, Group{Shard: uint64(i + 1), Index: 10, Size: int64(len(s))})
		rs = append(rs, bytes.NewReader(s))
	}
	var buf bytes.Buffer
	n, err := Write(&buf, h, w.Marshal(), kek, rs)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("write: %d of %d bytes, %v", n, buf.Len(), err)
	}
	if size, err := FileSize(h, len(w.Marshal())); err != nil || size != n {
		t.Fatalf("FileSize %d, wrote %d (%v)", size, n, err)
	}
	return fixture{file: buf.Bytes(), key: u, ring: w}
}

func open(b []byte) (*Snapshot, error) { return Open(bytes.NewReader(b), int64(len(b))) }

func TestRoundTrip(t *testing.T) {
	f := makeSnapshot(t, "c1")
	s, err := open(f.file)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := s.KEK(f.key)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Unlock(kek)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Marshal(), f.ring.Marshal()) {
		t.Fatal("keyring differs")
	}
	got, _ := io.ReadAll(s.Stream(2))
	if !bytes.Equal(got, bytes.Repeat([]byte{3}, 5000)) || s.Header.Groups[1].Size != 0 {
		t.Fatalf("stream 2: %d bytes", len(got))
	}
}

// Every way a file can be wrong gives its own error.
func TestDistinctErrors(t *testing.T) {
	f := makeSnapshot(t, "c1")
	other := makeSnapshot(t, "c2")
	sameCluster := makeSnapshot(t, "c1")

	for i := range f.file {
		b := bytes.Clone(f.file)
		b[i] ^= 0x10
		_, err := open(b)
		if i < len(magic) {
			if !errors.Is(err, ErrNotSnapshot) {
				t.Fatalf("flip at %d: %v", i, err)
			}
			continue
		}
		if i >= len(b)-crypto.MACSize {
			// Only the key can check the MAC.
			if err == nil {
				s, _ := open(b)
				kek, _ := s.KEK(f.key)
				_, err = s.Unlock(kek)
			}
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d: %v, want corrupt", i, err)
		}
	}
	for _, n := range []int{0, 5, prefixSize, 100, len(f.file) - 1} {
		_, err := open(f.file[:n])
		if n < len(magic) {
			if !errors.Is(err, ErrNotSnapshot) {
				t.Fatalf("cut at %d: %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: %v, want truncated", n, err)
		}
	}
	s, err := open(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.KEK(other.key); !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("other cluster's key: %v", err)
	}
	if _, err := s.KEK(sameCluster.key); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
	// A file rewritten by someone without the key: checksum recomputed, MAC not.
	kek, _ := s.KEK(f.key)
	forged := makeSnapshot(t, "c1")
	fs, err := open(forged.file)
	if err != nil {
		t.Fatal(err)
	}
	fs.Header.KeyCheck = s.Header.KeyCheck
	if _, err := fs.Unlock(kek); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("forged MAC: %v", err)
	}
	if _, err := open([]byte("hello world, not a snapshot")); !errors.Is(err, ErrNotSnapshot) {
		t.Fatalf("other file: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	u, _ := keys.GenerateUnlockKey("c1")
	k, err := ParseKey([]byte(u.Text() + "\n"))
	if err != nil || !k.Equal(u) {
		t.Fatalf("key: %v", err)
	}
	shares, err := u.Split(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	k, err = ParseKey([]byte(shares[0] + "\n" + shares[2] + "\n"))
	if err != nil || !k.Equal(u) {
		t.Fatalf("shares: %v", err)
	}
	if _, err := ParseKey(nil); err == nil {
		t.Fatal("empty key file accepted")
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte("VLTSNAP\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := open(b)
		if err == nil {
			for i := range s.Header.Groups {
				_, _ = io.ReadAll(s.Stream(i))
			}
		}
	})
}
