package raftsm

import "github.com/cockroachdb/pebble"

// tuneStateOptions sets what the state database does differently from
// Pebble's defaults.
//
// No compression: what it stores is sealed (records and data versions are
// XChaCha20-Poly1305 ciphertext, names are MACs, ids random), which Snappy
// cannot shrink; it only spent CPU trying on every block flushed and
// compacted (Snappy's encoder was the single largest function in a profile
// of the managers during a full rotation, 4 % of their CPU). Tables
// written before keep their blocks as they are; Pebble reads both.
//
// The memtable stays at Pebble's default (4 MiB). A 16 MiB one compacted
// less during a full rotation (`go test -tags measure -run
// TestMeasureResealApply ./raftsm`, 100k re-seals beside 100k creates, one
// replica: CPU 30.7 → 23.9 s, compacted 2,002 → 1,364 MiB), but the build
// with it (and without compression) held 443–512 MiB per manager at 1M
// secrets against 336–341 MiB before, and a single-client create right
// after the preload took 21.5 ms p50 against 2.85 (`vault-bench --duration
// 2s --preload 1000000`, the two builds one after the other under the same
// outside load); the memory goal is 512 MiB.
func tuneStateOptions(o *pebble.Options) {
	o.EnsureDefaults()
	for i := range o.Levels {
		o.Levels[i].Compression = pebble.NoCompression
	}
}
