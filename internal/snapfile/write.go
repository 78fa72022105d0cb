package snapfile

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// MetadataFile is the name of the flag file beside an exported snapshot.
const MetadataFile = "snapshot.metadata"

// sessionTable is an empty client session table as Dragonboat writes it for
// an on-disk state machine: its capacity, then a count of 0.
var sessionTable = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 4096), 0)

// WriteExported writes payload (a state machine's SaveSnapshot bytes) as an
// exported snapshot of shard at index and term into dir, the layout
// Dragonboat's tools.ImportSnapshot reads: one snapshot file and its
// snapshot.metadata. The metadata carries membership as given (the import
// rewrites it). OnDiskIndex is index: the state machine's own applied
// index travels in the payload, and a replica that recovered the import
// streams it on to others only if Dragonboat knows its on-disk index.
// Files are synced.
func WriteExported(dir string, shard, index, term uint64, membership pb.Membership, payload io.Reader) error {
	fp := filepath.Join(dir, fmt.Sprintf("snapshot-%016X.gbsnap", index))
	f, err := os.OpenFile(fp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, HeaderSize)); err != nil {
		return err
	}
	// Blocks: BlockSize bytes of payload, then their CRC32 (big endian).
	bw := bufio.NewWriterSize(f, 1<<20)
	sums := crc32.NewIEEE() // of the block checksums: Dragonboat's payload checksum
	var total uint64
	block := make([]byte, 0, BlockSize)
	flush := func() error {
		if len(block) == 0 {
			return nil
		}
		sum := crc32be(block)
		sums.Write(sum)
		if _, err := bw.Write(block); err != nil {
			return err
		}
		if _, err := bw.Write(sum); err != nil {
			return err
		}
		total += uint64(len(block) + checksumSize)
		block = block[:0]
		return nil
	}
	src := io.MultiReader(bytes.NewReader(sessionTable), payload)
	for {
		n, err := io.ReadFull(src, block[len(block):BlockSize])
		block = block[:len(block)+n]
		if len(block) == BlockSize {
			if ferr := flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	tail := binary.LittleEndian.AppendUint64(nil, total)
	if _, err := bw.Write(append(tail, blockMagic...)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	payloadSum := sums.Sum(nil)
	h := pb.SnapshotHeader{PayloadChecksum: payloadSum, ChecksumType: pb.CRC32IEEE, Version: version2}
	data, err := h.Marshal()
	if err != nil {
		return err
	}
	h.HeaderChecksum = crc32be(data)
	if data, err = h.Marshal(); err != nil {
		return err
	}
	hdr := binary.LittleEndian.AppendUint64(nil, uint64(len(data)))
	if _, err := f.WriteAt(append(hdr, data...), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	ss := pb.Snapshot{
		Filepath: fp, FileSize: uint64(fi.Size()), Index: index, OnDiskIndex: index, Term: term,
		Membership: membership, Checksum: payloadSum, Type: pb.OnDiskStateMachine, ShardID: shard,
	}
	meta, err := ss.Marshal()
	if err != nil {
		return err
	}
	sum := md5.Sum(meta)
	if err := os.WriteFile(filepath.Join(dir, MetadataFile), append(sum[8:], meta...), 0o600); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
