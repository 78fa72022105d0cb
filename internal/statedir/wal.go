package statedir

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
)

// Pebble's record format (MANIFEST files and write-ahead logs): 32 KiB
// blocks of chunks, each with a masked CRC-32C, a length and a type; the
// recyclable chunk types of write-ahead logs also carry the log number.
const (
	recordBlockSize        = 32 << 10
	legacyHeaderSize       = 7
	recyclableHeaderSize   = 11
	recyclableFullChunk    = 5
	recyclableLastChunk    = 8
	lastLegacyChunk        = 4
	recordChecksumMaskBias = 0xa282ead8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkAt reports whether a valid chunk of log logNum starts at off in
// block (off relative to the block), and its total size.
func chunkAt(block []byte, off int, logNum uint32, wal bool) (int, bool) {
	if off+legacyHeaderSize > len(block) {
		return 0, false
	}
	sum := binary.LittleEndian.Uint32(block[off:])
	length := int(binary.LittleEndian.Uint16(block[off+4:]))
	typ := block[off+6]
	header := legacyHeaderSize
	switch {
	case typ >= 1 && typ <= lastLegacyChunk:
	case wal && typ >= recyclableFullChunk && typ <= recyclableLastChunk:
		header = recyclableHeaderSize
		if off+header > len(block) || binary.LittleEndian.Uint32(block[off+7:]) != logNum {
			return 0, false
		}
	default:
		return 0, false
	}
	end := off + header + length
	if end > len(block) {
		return 0, false
	}
	c := crc32.Update(0, castagnoli, block[off+6:end])
	if uint32(c>>15|c<<17)+recordChecksumMaskBias != sum {
		return 0, false
	}
	return end - off, true
}

// checkRecords walks a record file chunk by chunk. A chunk that does not
// check out ends the log as Pebble reads it: that is a torn tail if nothing
// after it checks out, and damage (records Pebble would silently drop) if
// an intact chunk of the same log follows.
func checkRecords(path string, logNum uint32, wal bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return integrityError(path, "%v", err)
	}
	for start := 0; start < len(b); start += recordBlockSize {
		block := b[start:min(start+recordBlockSize, len(b))]
		off := 0
		for off+legacyHeaderSize <= len(block) {
			if bytes.Count(block[off:off+legacyHeaderSize], []byte{0}) == legacyHeaderSize {
				break // zeroes: padding, or the preallocated end of the log
			}
			n, ok := chunkAt(block, off, logNum, wal)
			if !ok {
				if !wal && start+off == 0 {
					// CURRENT names a MANIFEST only once its first record, a
					// full description of the database, is synced: Pebble
					// would open an empty database in place of this one.
					return integrityError(path, "its first record is damaged")
				}
				if intactAfter(b, start, off+1, logNum, wal) {
					return integrityError(path, "damaged record at offset %d, followed by intact records", start+off)
				}
				return nil // a torn tail
			}
			off += n
		}
	}
	return nil
}

// intactAfter reports whether a valid chunk starts anywhere after off in
// the block at start, or at the start of any later block.
func intactAfter(b []byte, start, off int, logNum uint32, wal bool) bool {
	block := b[start:min(start+recordBlockSize, len(b))]
	for ; off+legacyHeaderSize <= len(block); off++ {
		if _, ok := chunkAt(block, off, logNum, wal); ok {
			return true
		}
	}
	for s := start + recordBlockSize; s < len(b); s += recordBlockSize {
		if _, ok := chunkAt(b[s:min(s+recordBlockSize, len(b))], 0, logNum, wal); ok {
			return true
		}
	}
	return false
}
