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
// An 8 MiB memtable, twice Pebble's default: the flushes that fill L0 are
// half as many for the same bytes, so each L0 compaction into Lbase merges
// twice as much for one rewrite of the Lbase tables its random keys (name
// MACs, ids) overlap. `go test -tags measure -run TestMeasureResealApply
// ./raftsm -reseal-mode none -reseal-secrets 300000` (300k creates beside
// 300k held, one replica): CPU 20.9-21.5 s -> 17.6 s, compactions wrote
// 2.4-2.5 -> 1.9 GiB; BenchmarkApplyCreate 31.7-33.2 -> 29.5 µs of CPU a
// create; 64-client creates on three managers 306 -> 285 and 364 -> 337
// µs of the managers' CPU a create (runs 66 and 67, docs/PERFORMANCE.md).
// It costs 20-35 MiB of RSS per manager (383-406 MiB at 1M secrets against
// 348-372 before; the goal is 512) and nothing measurable at restart (the
// WAL replayed at open is at most one memtable). Reads do not change: L0
// holds as many sublevels as before.
//
// 16 MiB was tried before (CPU 30.7 -> 23.9 s during a rotation's
// re-seals) but held 443-512 MiB per manager at 1M secrets, and a
// single-client create right after that preload took 21.5 ms p50 (8 MiB:
// 1.22-1.31 ms, run 68). Keeping L0's
// compaction threshold at 16 files instead (the same merge per rewrite
// without the memory) cut the CPU as much, but reads then went through up
// to 15 L0 sublevels whenever writes stopped short of the threshold: stale
// reads 0.78-0.90x in two of three runs, with or without bloom filters.
//
// No table spans two regions of a group's keys (stateTableLimit).
func tuneStateOptions(o *pebble.Options) {
	o.EnsureDefaults()
	for i := range o.Levels {
		o.Levels[i].Compression = pebble.NoCompression
	}
	o.MemTableSize = stateMemTableSize
	o.Experimental.OutputSplitLimit = stateTableLimit
}

const stateMemTableSize = 8 << 20

// stateTableLimit is where the state database starts a new table after
// key k (third_party/pebble, PATCHES.md): at the end of k's region. The
// regions of a group's generation are its small per-group values ('a' to
// 'k'), its names ('n'), records ('o'), request records ('r', 't'), data
// pointers ('v'), data ('w') and what follows ('x').
//
// A flush holds some of every region, since each create writes to most of
// them. Cut only by size, one of its tables reached from a random name MAC
// through the newest records and pointers into the newest data: a key
// range that takes in every older record, pointer and data table below
// it, so each compaction of that table into the level below rewrote them
// all, the 1 KiB data versions included, although no key of theirs had
// changed (docs/PERFORMANCE.md, 6 December, "Why the data versions were
// measured in a database of their own"). Cut at the regions, a table of
// new data overlaps nothing below it and moves down without a rewrite,
// and a table of names only meets the names below.
//
// `go test -tags measure -run TestMeasureResealApply ./raftsm` (one
// replica, 100k secrets, 100k creates beside a re-seal of all of them), as
// Pebble bytes compacted and the process's CPU, before -> after, with
// secret ids in creation order (statedir.NewSecretID): creates alone 557
// -> 229 MiB, 7.9 -> 6.1 s; with the re-seal 893 -> 436 MiB, 12.7 -> 7.8
// s. With random ids the cut alone saves less (463 and 738 MiB): records
// and pointers then land everywhere in their regions.
func stateTableLimit(k []byte) []byte {
	const prefix = 17 // prefixData, shard, generation
	if len(k) == 0 || k[0] != prefixData {
		if len(k) > 0 && k[0] < prefixData {
			return []byte{prefixData}
		}
		return nil // the metadata after every group: one region
	}
	if len(k) < prefix {
		return nil
	}
	sub := byte(0) // none: the group's first region
	if len(k) > prefix {
		sub = k[prefix]
	}
	for _, end := range stateRegionEnds {
		if sub < end {
			return append(append(make([]byte, 0, prefix+1), k[:prefix]...), end)
		}
	}
	return prefixEnd(k[:prefix])
}

// stateRegionEnds are the sub-key bytes at which a group's regions end, in
// order: its small values end at the names, the names at the records, the
// records just past them, the request records at the data pointers, the
// pointers at the data, the data just past it.
var stateRegionEnds = [...]byte{subName, subObject, subObject + 1, subData, subDataAt, subDataAt + 1}
