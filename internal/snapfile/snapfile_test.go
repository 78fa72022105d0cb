package snapfile

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// encode writes a version 2 snapshot file the way Dragonboat's block writer
// does, with sessions client sessions and payload after them.
func encode(t testing.TB, sessions uint64, payload []byte) []byte {
	t.Helper()
	h := pb.SnapshotHeader{Version: version2, ChecksumType: pb.CRC32IEEE}
	hb, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint64(out, uint64(len(hb)))
	copy(out[8:], hb)
	copy(out[8+len(hb):], crc32be(hb))
	data := binary.LittleEndian.AppendUint64(nil, 4096)
	data = binary.LittleEndian.AppendUint64(data, sessions)
	data = append(data, payload...)
	var total uint64
	for len(data) > 0 {
		n := min(len(data), BlockSize)
		out = append(out, data[:n]...)
		out = append(out, crc32be(data[:n])...)
		total += uint64(n + checksumSize)
		data = data[n:]
	}
	out = binary.LittleEndian.AppendUint64(out, total)
	return append(out, blockMagic...)
}

func readAll(b []byte) ([]byte, *Reader, error) {
	r, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	got, err := io.ReadAll(r)
	return got, r, err
}

// A snapshot Dragonboat wrote for an on-disk state machine: metadata only.
func TestReadsDragonboatLocalSnapshot(t *testing.T) {
	b, err := os.ReadFile("testdata/local.gbsnap")
	if err != nil {
		t.Fatal(err)
	}
	got, r, err := readAll(b)
	if err != nil || len(got) != 0 || r.Header.Version != 2 {
		t.Fatalf("local snapshot: %d bytes, %v, header %+v", len(got), err, r)
	}
	m, err := os.ReadFile("testdata/snapshot.metadata")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ReadMetadata(m)
	if err != nil || ss.Index != 0x34 || ss.ShardID != 2 || !ss.Dummy {
		t.Fatalf("metadata = %+v, %v", ss, err)
	}
	m[len(m)-1] ^= 1
	if _, err := ReadMetadata(m); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged metadata: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, BlockSize - 16, BlockSize - 15, BlockSize, 2*BlockSize + 5} {
		payload := make([]byte, size)
		rand.Read(payload)
		got, _, err := readAll(encode(t, 0, payload))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("size %d: read %d bytes, %v", size, len(got), err)
		}
	}
}

func TestDamage(t *testing.T) {
	payload := bytes.Repeat([]byte("vault"), BlockSize/4) // two blocks
	good := encode(t, 0, payload)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"header length", flip(0), ErrCorrupt},
		{"header body", flip(9), ErrCorrupt},
		{"first block", flip(HeaderSize + 100), ErrCorrupt},
		{"first checksum", flip(HeaderSize + BlockSize + 1), ErrCorrupt},
		{"second block", flip(HeaderSize + BlockSize + 10), ErrCorrupt},
		{"tail total", flip(len(good) - 16), ErrCorrupt},
		{"tail magic", flip(len(good) - 1), ErrCorrupt},
		{"truncated", good[:len(good)-100], ErrCorrupt},
		{"cut to header", good[:HeaderSize+3], ErrCorrupt},
		{"tiny", good[:10], ErrCorrupt},
		{"sessions", encode(t, 2, nil), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnsupportedHeader(t *testing.T) {
	for name, h := range map[string]pb.SnapshotHeader{
		"version 1": {Version: 1},
		"snappy":    {Version: 2, CompressionType: pb.Snappy},
	} {
		hb, _ := h.Marshal()
		b := make([]byte, HeaderSize+tailSize)
		binary.LittleEndian.PutUint64(b, uint64(len(hb)))
		copy(b[8:], hb)
		if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	if b, err := os.ReadFile("testdata/local.gbsnap"); err == nil {
		f.Add(b)
	}
	f.Add(encode(f, 0, []byte("payload")))
	f.Add(encode(f, 1, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, err := readAll(b)
		if err == nil && len(got) > len(b) {
			t.Fatalf("read %d bytes out of a %d-byte file", len(got), len(b))
		}
		ReadMetadata(b)
	})
}
