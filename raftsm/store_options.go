package raftsm

import "github.com/cockroachdb/pebble"

// stateMemTableSize is the state database's memtable (Pebble's default is
// 4 MiB). Every flush of a memtable that took writes all over the key
// space (creates land at random ids; a full rotation rewrites every
// secret) is an L0 table overlapping the whole of the base level, which
// the next L0 compaction rewrites: fewer, larger flushes rewrite it less
// often. In `go test -tags measure -run TestMeasureResealApply ./raftsm`
// (100k secrets re-sealed beside 100k creates, one replica) it cut the
// bytes compacted from 2,002 to 1,364 MiB and the CPU from 30.7 to 23.9 s
// (both without compression). It costs up to two memtables of memory.
const stateMemTableSize = 16 << 20

// tuneStateOptions sets what the state database does differently from
// Pebble's defaults.
//
// No compression: what it stores is sealed (records and data versions are
// XChaCha20-Poly1305 ciphertext, names are MACs, ids random), which Snappy
// cannot shrink; it only spent CPU trying on every block flushed and
// compacted (Snappy's encoder was the single largest function in a profile
// of the managers during a full rotation, 4 % of their CPU). Tables
// written before keep their blocks as they are; Pebble reads both.
func tuneStateOptions(o *pebble.Options) {
	o.MemTableSize = stateMemTableSize
	o.EnsureDefaults()
	for i := range o.Levels {
		o.Levels[i].Compression = pebble.NoCompression
	}
}
