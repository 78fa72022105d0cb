package snapfile

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// What WriteExported writes reads back through Reader and ReadMetadata,
// for payloads around the block size.
func TestWriteExportedRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, BlockSize - 16, BlockSize, 2*BlockSize + 7} {
		payload := make([]byte, n)
		rand.Read(payload)
		dir := t.TempDir()
		m := pb.Membership{Addresses: map[uint64]string{3: "a:1"}}
		if err := WriteExported(dir, 2, 99, 4, m, bytes.NewReader(payload)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "snapshot-0000000000000063.gbsnap"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("payload of %d: got %d bytes, %v", n, len(got), err)
		}
		mb, err := os.ReadFile(filepath.Join(dir, MetadataFile))
		if err != nil {
			t.Fatal(err)
		}
		ss, err := ReadMetadata(mb)
		if err != nil || ss.Index != 99 || ss.Term != 4 || ss.ShardID != 2 || ss.FileSize != uint64(len(b)) || ss.Membership.Addresses[3] != "a:1" {
			t.Fatalf("metadata %+v, %v", ss, err)
		}
	}
}
