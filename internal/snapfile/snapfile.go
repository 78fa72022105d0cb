// Package snapfile reads Dragonboat's snapshot files (*.gbsnap) and their
// snapshot.metadata flag files offline.
//
// A snapshot file, version 2 (Dragonboat's internal/rsm/snapshotio.go and
// rwv.go), is
//
//	header    1024 bytes: length (u64 LE) || raftpb.SnapshotHeader || CRC32-IEEE of it || zero padding
//	blocks    each up to 2 MiB of payload followed by its CRC32-IEEE (big endian)
//	tail      total size of the blocks with their checksums (u64 LE) || 8-byte magic
//
// The payload is the client session table (16 bytes when empty, as it always
// is for vault's on-disk state machines) followed by whatever the state
// machine's SaveSnapshot wrote: for vault, a crypto sealed stream. A
// snapshot taken locally by an on-disk state machine, or one shrunk after
// recovery, holds no state machine bytes at all.
//
// # Invariants
//
//   - Payload bytes are returned only after the block holding them passed
//     its checksum, and io.EOF only after the tail matched.
//   - No input makes the reader panic, and memory use is bounded by one
//     block whatever the header claims.
package snapfile

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/internal/logdb"
)

// Format constants (Dragonboat's internal/settings/hard.go).
const (
	HeaderSize   = 1024
	BlockSize    = 2 << 20
	checksumSize = 4
	tailSize     = 16
	version2     = 2
)

// blockMagic ends every version 2 snapshot file.
var blockMagic = []byte{0x3F, 0x5B, 0xCB, 0xF1, 0xFA, 0xBA, 0x81, 0x9F}

var (
	// ErrCorrupt means the file does not pass Dragonboat's checksums or
	// framing: it was damaged or truncated.
	ErrCorrupt = errors.New("snapfile: corrupt snapshot file")
	// ErrUnsupported means a well-formed file uses a feature this reader
	// does not implement (version 1, compression, client sessions).
	ErrUnsupported = errors.New("snapfile: unsupported snapshot file")
)

// Reader reads the state machine's bytes out of a snapshot file.
type Reader struct {
	Header pb.SnapshotHeader

	src     io.ReaderAt
	off     int64 // next block's offset
	end     int64 // offset of the tail
	block   int   // next block's number, for errors
	buf     []byte
	pending []byte // verified payload not yet returned
	total   uint64 // bytes of blocks and checksums seen
	skip    int    // session bytes still to drop
	err     error
}

// Open checks the header of the snapshot file in src (size bytes) and
// returns a reader of its state machine bytes. Errors wrap ErrCorrupt or
// ErrUnsupported.
func Open(src io.ReaderAt, size int64) (*Reader, error) {
	if size < HeaderSize+tailSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than header and tail", ErrCorrupt, size)
	}
	hdr := make([]byte, HeaderSize)
	if _, err := src.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	n := binary.LittleEndian.Uint64(hdr)
	if n > HeaderSize-8-checksumSize {
		return nil, fmt.Errorf("%w: header length %d", ErrCorrupt, n)
	}
	body, crc := hdr[8:8+n], hdr[8+n:8+n+checksumSize]
	if !bytes.Equal(crc, []byte{0, 0, 0, 0}) && !bytes.Equal(crc, crc32be(body)) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	r := &Reader{src: src, off: HeaderSize, end: size - tailSize}
	if err := decodeHeader(body, &r.Header); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	switch {
	case r.Header.Version != version2:
		return nil, fmt.Errorf("%w: format version %d", ErrUnsupported, r.Header.Version)
	case r.Header.ChecksumType != pb.CRC32IEEE:
		return nil, fmt.Errorf("%w: checksum type %v", ErrUnsupported, r.Header.ChecksumType)
	case r.Header.CompressionType != pb.NoCompression:
		return nil, fmt.Errorf("%w: compressed with %v", ErrUnsupported, r.Header.CompressionType)
	}
	if err := r.readSessions(); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeHeader unmarshals the header, turning a decoder panic into an error.
func decodeHeader(b []byte, h *pb.SnapshotHeader) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("header does not decode")
		}
	}()
	return h.Unmarshal(b)
}

func crc32be(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b))
}

// readSessions consumes the client session table that starts the payload.
func (r *Reader) readSessions() error {
	var s [16]byte
	if _, err := io.ReadFull(rawReader{r}, s[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: payload ends inside the session table", ErrCorrupt)
		}
		return err
	}
	if n := binary.LittleEndian.Uint64(s[8:]); n != 0 {
		return fmt.Errorf("%w: %d client sessions (vault uses none)", ErrUnsupported, n)
	}
	return nil
}

// rawReader reads verified payload including the session table.
type rawReader struct{ r *Reader }

func (rr rawReader) Read(p []byte) (int, error) { return rr.r.read(p) }

// Read returns verified state machine bytes; io.EOF after the tail.
func (r *Reader) Read(p []byte) (int, error) { return r.read(p) }

func (r *Reader) read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// next verifies the next block into pending, or the tail (io.EOF).
func (r *Reader) next() error {
	left := r.end - r.off
	if left <= 0 {
		return r.checkTail()
	}
	n := int64(BlockSize + checksumSize)
	if left < n {
		n = left
	}
	if n <= checksumSize {
		return fmt.Errorf("%w: block %d at offset %d is %d bytes", ErrCorrupt, r.block, r.off, n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := r.src.ReadAt(b, r.off); err != nil {
		return fmt.Errorf("read block %d at offset %d: %w", r.block, r.off, err)
	}
	data, sum := b[:n-checksumSize], b[n-checksumSize:]
	if !bytes.Equal(sum, crc32be(data)) {
		return fmt.Errorf("%w: block %d at offset %d: checksum mismatch", ErrCorrupt, r.block, r.off)
	}
	r.off += n
	r.block++
	r.total += uint64(n)
	r.pending = data
	return nil
}

func (r *Reader) checkTail() error {
	var t [tailSize]byte
	if _, err := r.src.ReadAt(t[:], r.end); err != nil {
		return fmt.Errorf("read tail at offset %d: %w", r.end, err)
	}
	if !bytes.Equal(t[8:], blockMagic) {
		return fmt.Errorf("%w: bad magic at offset %d (truncated?)", ErrCorrupt, r.end+8)
	}
	if got := binary.LittleEndian.Uint64(t[:8]); got != r.total {
		return fmt.Errorf("%w: tail says %d bytes of blocks, file has %d", ErrCorrupt, got, r.total)
	}
	return io.EOF
}

// ReadMetadata decodes a snapshot.metadata file: the last 8 bytes of an
// MD5 of the body, then a marshalled raftpb.Snapshot.
func ReadMetadata(b []byte) (pb.Snapshot, error) {
	if len(b) < 8 {
		return pb.Snapshot{}, fmt.Errorf("%w: metadata of %d bytes", ErrCorrupt, len(b))
	}
	sum := md5.Sum(b[8:])
	if !bytes.Equal(sum[8:], b[:8]) {
		return pb.Snapshot{}, fmt.Errorf("%w: metadata checksum mismatch", ErrCorrupt)
	}
	ss, err := logdb.DecodeSnapshot(b[8:])
	if err != nil {
		return pb.Snapshot{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return ss, nil
}
