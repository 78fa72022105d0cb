package raftsm

import (
	"bytes"
	"errors"

	"github.com/cockroachdb/pebble"
)

// A full rotation ends by purging every manager's state database: a
// compaction that leaves no obsolete copy of anything sealed under an old
// DEK. Data versions under their own data keys (DataKeyVersion) need none:
// their keys are in the records, so once the old records are compacted
// away nothing on disk opens the versions' old copies under an old DEK. The
// data ranges, most of the bytes, are then left alone.
//
// They may be left alone only while they hold no value sealed under a DEK,
// live or obsolete (versions written before data keys, re-sealed by each
// rotation, or snapshot streams recovered from a peer that hold them).
// noDEKDataKey says so; it is set on a new store, and by a purge that
// compacted everything after it found no live such value, and deleted in
// the batch of any write that may have put one there. dekWrites counts
// those writes since the store was opened, so that a purge does not set the
// mark over one made while it ran.

// noDEKDataKey marks a store whose data ranges hold no copy of a value
// sealed under a DEK. It is outside the 'D' and 'M' ranges.
var noDEKDataKey = []byte("F/no-dek-data")

// markNewStore marks an empty store: nothing in it is under a DEK.
func markNewStore(db *pebble.DB) error {
	it := db.NewIter(nil)
	empty := !it.First()
	if err := it.Close(); err != nil {
		return err
	}
	if !empty {
		return nil
	}
	return db.Set(noDEKDataKey, []byte{1}, pebble.Sync)
}

// commitDEKData commits b, which may write a value sealed under a DEK into
// a data range, and clears the mark in the same batch.
func (s *Store) commitDEKData(b *pebble.Batch, opts *pebble.WriteOptions) error {
	if err := b.Delete(noDEKDataKey, nil); err != nil {
		return err
	}
	s.dekMu.Lock()
	defer s.dekMu.Unlock()
	err := b.Commit(opts)
	s.dekWrites.Add(1)
	return err
}

// dekDataMayFollow clears the mark before writes that cannot say what they
// hold (a snapshot being recovered).
func (s *Store) dekDataMayFollow(db *pebble.DB) error {
	s.dekMu.Lock()
	defer s.dekMu.Unlock()
	s.dekWrites.Add(1)
	return db.Delete(noDEKDataKey, pebble.Sync)
}

// DataRangesClean reports whether the store carries the mark.
func (s *Store) DataRangesClean() (bool, error) {
	var clean bool
	err := s.with(func(db *pebble.DB) (err error) {
		clean, err = marked(db)
		return err
	})
	return clean, err
}

// marked reports whether r (the database or a snapshot of it) carries the
// mark.
func marked(r pebble.Reader) (bool, error) {
	_, closer, err := r.Get(noDEKDataKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}

func (s *Store) purge(db *pebble.DB) error {
	c0 := s.dekWrites.Load()
	clean, err := marked(db)
	if err != nil {
		return err
	}
	live := false
	if !clean {
		// Looked for before the flushes: whatever this finds nothing of
		// was written (and overwritten) before them, and the compaction
		// below removes it.
		var err error
		if live, err = liveDEKData(db); err != nil {
			return err
		}
	}
	for range walRecycleLimit + 2 {
		if err := db.Flush(); err != nil {
			return err
		}
	}
	ranges := [][2][]byte{{{prefixData}, {prefixData + 1}}, {{prefixMeta}, {prefixMeta + 1}}}
	if clean {
		var err error
		if ranges, err = outsideDataRanges(db); err != nil {
			return err
		}
	}
	for _, r := range ranges {
		if err := db.Compact(r[0], r[1], true); err != nil {
			return err
		}
	}
	if clean || live {
		return nil
	}
	s.dekMu.Lock()
	defer s.dekMu.Unlock()
	if s.dekWrites.Load() != c0 {
		return nil // a write since the look may have put one there
	}
	return db.Set(noDEKDataKey, []byte{1}, pebble.Sync)
}

// liveDataRanges returns each shard's live data range (its current
// generation's 'v' pointers and 'w' values, which are adjacent), in key
// order.
func liveDataRanges(db *pebble.DB) ([][2][]byte, error) {
	it := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixMeta}, UpperBound: []byte{prefixMeta + 1}})
	var out [][2][]byte
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != 9 || len(v) != 8 {
			continue
		}
		shard, gen := getU64(k[1:]), getU64(v)
		out = append(out, [2][]byte{dataKey(shard, gen, subData), prefixEnd(dataKey(shard, gen, subDataAt))})
	}
	return out, it.Close()
}

// outsideDataRanges returns the 'D' range without the live data ranges,
// and the 'M' range: what a purge of a marked store compacts.
func outsideDataRanges(db *pebble.DB) ([][2][]byte, error) {
	data, err := liveDataRanges(db)
	if err != nil {
		return nil, err
	}
	var out [][2][]byte
	from := []byte{prefixData}
	for _, r := range data {
		if bytes.Compare(from, r[0]) < 0 {
			out = append(out, [2][]byte{from, r[0]})
		}
		from = r[1]
	}
	out = append(out, [2][]byte{from, {prefixData + 1}}, [2][]byte{{prefixMeta}, {prefixMeta + 1}})
	return out, nil
}

// liveDEKData reports whether a live data range holds a value sealed under
// a DEK (or one that is not an envelope at all). The 'v' keys say, for
// both layouts (a pointer carries its value's key version).
func liveDEKData(db *pebble.DB) (bool, error) {
	data, err := liveDataRanges(db)
	if err != nil {
		return false, err
	}
	for _, r := range data {
		it := db.NewIter(&pebble.IterOptions{LowerBound: r[0], UpperBound: prefixEnd(r[0])})
		found := false
		for it.First(); it.Valid() && !found; it.Next() {
			_, found = storedKeyVersion(it.Value())
		}
		if err := it.Close(); err != nil || found {
			return found, err
		}
	}
	return false, nil
}
