// Package logdb reads Dragonboat's default LogDB (sharded Pebble) offline.
//
// Dragonboat keeps its LogDB in internal packages, so this package reads
// the format from the outside: a NodeHost's LogDB is N Pebble databases,
// logdb-0 to logdb-(N-1) (N is 16 with Dragonboat's defaults; vault
// records the N it uses in node.json), and each Raft shard lives in one of
// them (shard id mod N; readers ask each database with Replicas rather
// than rely on it). Every key
// starts with a two-byte kind header and two zero bytes, followed by the
// shard and replica ids and, for entries and snapshots, an index, all big
// endian (see Key). Values are marshalled raftpb messages; an entry's Cmd
// is stored verbatim, so for vault it is a sealed raftsm command.
//
// Not every entry record is part of the log: Dragonboat deletes compacted
// entries lazily and leaves a cut-off tail in place. Span is the part it
// reads back, the only part where a missing entry is a hole.
//
// # Invariants
//
//   - The package only reads. Open uses Pebble's read-only mode and must be
//     given a private copy of a live database (see package checkpoint):
//     Dragonboat holds the live one open and locked.
//   - No input makes it panic: keys are decoded by ParseKey, values through
//     one guarded decoder, and a record that does not decode is reported
//     with its key rather than stopping the walk.
package logdb

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/cockroachdb/pebble"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// DB is one logdb-N database opened read-only.
type DB struct {
	Path string
	db   *pebble.DB
}

// Open opens the Pebble database in dir read-only. dir must be a private
// copy: Pebble takes a lock on the directory it opens.
func Open(dir string) (db *DB, err error) {
	defer guard(&err, "open "+dir)
	p, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, ErrorIfNotExists: true, Logger: quietLogger{}})
	if err != nil {
		return nil, err
	}
	return &DB{Path: dir, db: p}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// guard turns a panic inside Pebble (a corrupt file it does not expect)
// into an error naming what was being read.
func guard(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: pebble failed on corrupt data: %v", what, r)
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf(format, args...))
}

// Replica is a (shard, replica) pair that has records in a LogDB.
type Replica struct {
	Shard   uint64
	Replica uint64
}

// Replicas lists the replicas with a bootstrap, state or max index record,
// in ascending order.
func (d *DB) Replicas() (out []Replica, err error) {
	defer guard(&err, d.Path)
	seen := map[Replica]bool{}
	for _, kind := range []Kind{KindBootstrap, KindState, KindMaxIndex} {
		lo := Key{Kind: kind}.Encode()
		hi := Key{Kind: kind, Shard: math.MaxUint64, Replica: math.MaxUint64}.Encode()
		err := d.scan(lo, append(hi, 0), func(k, _ []byte) error {
			key, err := ParseKey(k)
			if err != nil {
				return nil // not a key of this kind: shown by Entries' callers
			}
			r := Replica{key.Shard, key.Replica}
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sortReplicas(out)
	return out, nil
}

func sortReplicas(rs []Replica) {
	sort.Slice(rs, func(i, j int) bool {
		return rs[i].Shard < rs[j].Shard || rs[i].Shard == rs[j].Shard && rs[i].Replica < rs[j].Replica
	})
}

// scan calls f with copies of every key and value in [lo, hi).
func (d *DB) scan(lo, hi []byte, f func(k, v []byte) error) error {
	it := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	for it.First(); it.Valid(); it.Next() {
		if err := f(bytes.Clone(it.Key()), bytes.Clone(it.Value())); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	return nil
}

// get returns a copy of the value at key, or nil.
func (d *DB) get(k Key) (v []byte, err error) {
	defer guard(&err, d.Path)
	val, c, err := d.db.Get(k.Encode())
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", d.Path, k, err)
	}
	v = bytes.Clone(val)
	return v, c.Close()
}

// State returns a replica's persistent Raft state (term, vote, commit).
func (d *DB) State(shard, replica uint64) (pb.State, bool, error) {
	v, err := d.get(Key{Kind: KindState, Shard: shard, Replica: replica})
	if err != nil || v == nil {
		return pb.State{}, false, err
	}
	s, err := DecodeState(v)
	return s, err == nil, err
}

// MaxIndex returns the last index a replica saved.
func (d *DB) MaxIndex(shard, replica uint64) (uint64, bool, error) {
	v, err := d.get(Key{Kind: KindMaxIndex, Shard: shard, Replica: replica})
	if err != nil || v == nil {
		return 0, false, err
	}
	i, err := DecodeMaxIndex(v)
	return i, err == nil, err
}

// Bootstrap returns a replica's bootstrap record: its initial members.
func (d *DB) Bootstrap(shard, replica uint64) (pb.Bootstrap, bool, error) {
	v, err := d.get(Key{Kind: KindBootstrap, Shard: shard, Replica: replica})
	if err != nil || v == nil {
		return pb.Bootstrap{}, false, err
	}
	b, err := DecodeBootstrap(v)
	return b, err == nil, err
}

// Snapshot returns the metadata of a replica's latest snapshot.
func (d *DB) Snapshot(shard, replica uint64) (ss pb.Snapshot, ok bool, err error) {
	defer guard(&err, d.Path)
	lo := Key{Kind: KindSnapshot, Shard: shard, Replica: replica}.Encode()
	hi := Key{Kind: KindSnapshot, Shard: shard, Replica: replica, Index: math.MaxUint64}.Encode()
	err = d.scan(lo, append(hi, 0), func(k, v []byte) error {
		s, err := DecodeSnapshot(v)
		if err != nil {
			key, _ := ParseKey(k)
			return fmt.Errorf("%s: %v: %w", d.Path, key, err)
		}
		if !ok || s.Index >= ss.Index {
			ss, ok = s, true
		}
		return nil
	})
	return ss, ok, err
}

// Record is one log entry found in a LogDB, or the error that kept a value
// from decoding (then Entry is zero and Key says where it is).
type Record struct {
	Key   Key
	Entry pb.Entry
	Err   error
}

// Entries calls f for every entry of a replica whose index is in [lo, hi]
// (hi 0: no upper bound), in index order: first the plain entry keys, then
// entry batches (a LogDB holds one or the other). A value that does not
// decode, or an entry stored under another index than its own, is passed
// with Err set and the walk goes on. An error returned by f stops it.
func (d *DB) Entries(shard, replica, lo, hi uint64, f func(Record) error) (err error) {
	defer guard(&err, d.Path)
	if hi == 0 {
		hi = math.MaxUint64
	}
	if lo > hi {
		return nil
	}
	start := Key{Kind: KindEntry, Shard: shard, Replica: replica, Index: lo}.Encode()
	end := append(Key{Kind: KindEntry, Shard: shard, Replica: replica, Index: hi}.Encode(), 0)
	err = d.scan(start, end, func(k, v []byte) error {
		key, err := ParseKey(k)
		if err != nil {
			return f(Record{Key: key, Err: err})
		}
		e, err := DecodeEntry(v)
		if err == nil && e.Index != key.Index {
			err = fmt.Errorf("%w: key index %d holds entry %d", ErrMalformed, key.Index, e.Index)
		}
		if err != nil {
			return f(Record{Key: key, Err: err})
		}
		return f(Record{Key: key, Entry: e})
	})
	if err != nil {
		return err
	}
	// Batches are keyed by index / batch size, which this reader does not
	// know: scan every batch of the replica and filter by entry index.
	start = Key{Kind: KindEntryBatch, Shard: shard, Replica: replica}.Encode()
	end = append(Key{Kind: KindEntryBatch, Shard: shard, Replica: replica, Index: math.MaxUint64}.Encode(), 0)
	return d.scan(start, end, func(k, v []byte) error {
		key, err := ParseKey(k)
		if err != nil {
			return f(Record{Key: key, Err: err})
		}
		ents, err := DecodeEntryBatch(v)
		if err != nil {
			return f(Record{Key: key, Err: err})
		}
		for _, e := range ents {
			if e.Index < lo || e.Index > hi {
				continue
			}
			if err := f(Record{Key: key, Entry: e}); err != nil {
				return err
			}
		}
		return nil
	})
}
