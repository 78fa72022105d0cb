package raftsm

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
)

// keyIndex is a shard's in-memory filter over the keys an apply looks up and
// almost never finds: name MACs, object ids and remembered request ids. A
// create's apply would otherwise pay three Pebble point lookups that miss,
// each walking every level (the pinned Pebble's Get consults no bloom
// filter).
//
// The index is a superset of the live generation: every such key in the
// database has its hash in the index. A key whose hash is absent is absent
// from the database, so the apply skips the lookup; a key whose hash is
// present is looked up as before. The database therefore decides every
// answer and the index only saves lookups: it cannot make a replica decide
// differently from its state. It is rebuilt from the database on Open and
// after a snapshot is recovered, and is never written to disk.
//
// Request ids are loaded before the replica applies anything (the dedup
// lookup needs their times). Names and objects, a scan of every secret, are
// loaded in the background from a Pebble snapshot, so a restart at a
// million secrets does not wait for it: until the scan is merged, mayHave
// answers yes (every lookup goes to the database), and the keys applies add
// or remove meanwhile are logged and replayed over the scan.
//
// Hashes are keyed by a per-process random seed, so crafted names cannot
// aim collisions at it. A collision costs one lookup, and is counted so that
// removing one of the colliding keys keeps the other's hash. Names and
// objects take 16 bytes a secret (a sorted array, see base).
type keyIndex struct {
	seed       maphash.Seed
	mask       uint64 // all ones; tests narrow it to force collisions
	compactMin int    // indexCompactMin when made

	// Hashes of 'n'+MAC and 'o'+id sub-keys, as a multiset (two keys may
	// share a hash): base, sorted, holds them as of the last scan or
	// compaction, 8 bytes a key; added and gone count the changes since.
	// A hash's count is its copies in base + added - gone.
	base  []uint64
	added map[uint64]uint32
	gone  map[uint64]uint32

	building bool        // keys is not loaded yet (see above)
	log      []indexOp   // while building: changes since the scan's snapshot
	stop     atomic.Bool // the scan is no longer wanted

	// Request ids by the minute of their proposer time (floor), each a
	// hash -> proposer time; pruning drops whole minutes.
	reqs map[int64]*reqMinute
	// carry holds stored values the apply reads once a batch, kept
	// between batches (applycarry.go).
	carry applyCarry
}

type indexOp struct {
	h      uint64
	remove bool
}

type reqMinute struct {
	ids  map[uint64]int64
	more []reqEntry // ids whose hash was already taken in this minute
}

type reqEntry struct {
	h uint64
	t int64
}

// indexHashMask narrows the index's hashes; tests set it to force
// collisions.
var indexHashMask = ^uint64(0)

// prunePeriod is how often (in proposer time) request ids are pruned, and
// the width of the index's request-id buckets.
const prunePeriod = int64(60 * 1e9)

func newKeyIndex() *keyIndex {
	return &keyIndex{
		seed:       maphash.MakeSeed(),
		mask:       indexHashMask,
		compactMin: indexCompactMin,
		added:      map[uint64]uint32{},
		gone:       map[uint64]uint32{},
		reqs:       map[int64]*reqMinute{},
	}
}

func (x *keyIndex) hash(b []byte) uint64 { return maphash.Bytes(x.seed, b) & x.mask }

// mayHave reports whether sub (a sub-key: 'n'+MAC or 'o'+id) may exist.
func (x *keyIndex) mayHave(sub []byte) bool {
	if x.building {
		return true
	}
	h := x.hash(sub)
	return x.added[h] > 0 || x.inBase(h) > x.gone[h]
}

// inBase returns how many copies of h base holds.
func (x *keyIndex) inBase(h uint64) uint32 {
	i, ok := slices.BinarySearch(x.base, h)
	if !ok {
		return 0
	}
	n := uint32(0)
	for ; i < len(x.base) && x.base[i] == h; i++ {
		n++
	}
	return n
}

// add records that sub was written where it did not exist.
func (x *keyIndex) add(sub []byte) {
	h := x.hash(sub)
	if x.building {
		x.log = append(x.log, indexOp{h: h})
		return
	}
	x.addHash(h)
}

func (x *keyIndex) addHash(h uint64) {
	x.added[h]++
	x.compactIfDue()
}

// remove records that sub, which existed, was deleted.
func (x *keyIndex) remove(sub []byte) {
	h := x.hash(sub)
	if x.building {
		x.log = append(x.log, indexOp{h: h, remove: true})
		return
	}
	x.removeHash(h)
}

func (x *keyIndex) removeHash(h uint64) {
	switch n := x.added[h]; {
	case n > 1:
		x.added[h] = n - 1
	case n == 1:
		delete(x.added, h)
	default:
		x.gone[h]++ // a key counted in base
		x.compactIfDue()
	}
}

// indexCompactMin is the fewest changes compactIfDue merges (tests lower it).
var indexCompactMin = 4096

// compactIfDue merges the changes into base once they are a sixteenth of
// it: the maps stay small, and the merges cost O(1) a change over time.
func (x *keyIndex) compactIfDue() {
	if len(x.added)+len(x.gone) <= max(x.compactMin, len(x.base)/16) {
		return
	}
	add := make([]uint64, 0, len(x.added))
	for h, n := range x.added {
		for range n {
			add = append(add, h)
		}
	}
	slices.Sort(add)
	out := make([]uint64, 0, len(x.base)+len(add))
	i := 0
	for _, h := range x.base {
		for i < len(add) && add[i] < h {
			out = append(out, add[i])
			i++
		}
		if n := x.gone[h]; n > 0 {
			if n == 1 {
				delete(x.gone, h)
			} else {
				x.gone[h] = n - 1
			}
			continue
		}
		out = append(out, h)
	}
	x.base = append(out, add[i:]...)
	clear(x.added)
	clear(x.gone)
}

// requestTimes appends to out the proposer times under which id may be
// remembered.
func (x *keyIndex) requestTimes(id []byte, out []int64) []int64 {
	h := x.hash(id)
	for _, m := range x.reqs {
		if t, ok := m.ids[h]; ok {
			out = append(out, t)
			for _, e := range m.more {
				if e.h == h {
					out = append(out, e.t)
				}
			}
		}
	}
	return out
}

// addRequest records that id was remembered under proposer time t.
func (x *keyIndex) addRequest(id []byte, t int64) {
	h := x.hash(id)
	min := floorDiv(t, prunePeriod)
	m := x.reqs[min]
	if m == nil {
		m = &reqMinute{ids: map[uint64]int64{}}
		x.reqs[min] = m
	}
	if old, ok := m.ids[h]; ok {
		if old != t {
			m.more = append(m.more, reqEntry{h, t})
		}
		return
	}
	m.ids[h] = t
}

// pruneRequests forgets the minutes that hold only times before cutoff
// (those the database's range deletion removed entirely). The minute that
// straddles cutoff stays: a superset is all the index promises.
func (x *keyIndex) pruneRequests(cutoff int64) {
	c := floorDiv(cutoff, prunePeriod)
	for min := range x.reqs {
		if min < c {
			delete(x.reqs, min)
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// loadIndex builds a shard generation's index from the database: all of
// it, or (keys false) only the request ids, leaving the index building.
func loadIndex(db pebble.Reader, shard, gen uint64, keys bool) (*keyIndex, error) {
	x := newKeyIndex()
	base := dataKey(shard, gen, subReqTime)
	it := db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
	for it.First(); it.Valid(); it.Next() {
		if t, id, ok := splitReqTimeKey(it.Key()[len(base)-1:]); ok {
			x.addRequest(id, t)
		}
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if !keys {
		x.building = true
		return x, nil
	}
	hashes, err := x.scanKeys(db, shard, gen, func() bool { return false })
	if err != nil {
		return nil, err
	}
	x.base = hashes
	return x, nil
}

// errIndexStopped ends a scan nobody wants any more.
var errIndexStopped = errors.New("raftsm: index scan stopped")

// scanKeys reads the hashes of every name and object key of a generation.
// It returns the hashes sorted, and gives up when x is no longer wanted or
// stop returns true.
func (x *keyIndex) scanKeys(db pebble.Reader, shard, gen uint64, stop func() bool) ([]uint64, error) {
	var hashes []uint64
	for _, sub := range []byte{subName, subObject} {
		base := dataKey(shard, gen, sub)
		it := db.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
		skip := len(base) - 1 // keep the sub-key, from its kind byte
		n := 0
		for it.First(); it.Valid(); it.Next() {
			hashes = append(hashes, x.hash(it.Key()[skip:]))
			if n++; n%4096 == 0 && (x.stop.Load() || stop()) {
				it.Close()
				return nil, errIndexStopped
			}
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	slices.Sort(hashes)
	return slices.Clip(hashes), nil
}

// buildIndex starts the background scan of idx, a building index of the
// replica's generation gen: it snapshots the database now, before anything
// more is applied, and merges the scan into idx if idx is still the
// replica's index when it is done. A scan that fails or is stopped leaves
// idx building, so every lookup reads the database.
func (s *StateMachine) buildIndex(db *pebble.DB, idx *keyIndex, gen uint64) {
	v := s.store.openView(db, false)
	hook := indexMergeHook
	go func() {
		var base []uint64
		err := v.read(func(snap *pebble.Snapshot) error {
			var err error
			base, err = idx.scanKeys(snap, s.shard, gen, s.store.closing.Load)
			return err
		})
		s.store.releaseView(v) // before the merge: a purge waits for it
		if err != nil {
			return
		}
		if hook != nil {
			hook()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.idx == idx && !s.closed {
			idx.finish(base)
		}
	}()
}

// indexMergeHook (tests) runs before a background scan is merged.
var indexMergeHook func()

// finish installs a scan taken while the index was building and replays
// the changes logged since the scan's snapshot. The caller excludes
// applies.
func (x *keyIndex) finish(base []uint64) {
	x.base, x.building = base, false
	for _, op := range x.log {
		if op.remove {
			x.removeHash(op.h)
		} else {
			x.addHash(op.h)
		}
	}
	x.log = nil
}

// reqTimeKey returns the sub-key of a request record: 't' time(8) id, with
// the time's sign bit flipped so that keys sort by time.
func reqTimeKey(t int64, id []byte) []byte {
	k := make([]byte, 9, 9+len(id))
	k[0] = subReqTime
	binary.BigEndian.PutUint64(k[1:], uint64(t)^(1<<63))
	return append(k, id...)
}

// splitReqTimeKey decodes a sub-key made by reqTimeKey.
func splitReqTimeKey(k []byte) (t int64, id []byte, ok bool) {
	if len(k) < 10 || k[0] != subReqTime {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(k[1:9]) ^ (1 << 63)), k[9:], true
}

// migrateRequests rewrites a generation's request records from the old
// layout ('r' id, found in state dirs written before records were keyed by
// time) to the new one ('t' time id), in one batch. The record values are
// the same, and both layouts prune the same records at the same proposer
// times, so a replica answers the same whether it migrated early or late:
// migrating on open is deterministic across replicas.
func migrateRequests(db *pebble.DB, shard, gen uint64) error {
	b := db.NewBatch()
	defer b.Close()
	n, err := migrateRequestsTo(db, b, shard, gen)
	if err != nil || n == 0 {
		return err
	}
	return b.Commit(pebble.Sync)
}

// migrateRequestsTo writes into w the migration of the old-layout request
// records r holds, and returns how many it found.
func migrateRequestsTo(r pebble.Reader, w pebble.Writer, shard, gen uint64) (int, error) {
	lo, hi := dataKey(shard, gen, subRequests, 0), prefixEnd(dataKey(shard, gen, subRequests))
	type rec struct{ k, v []byte }
	var recs []rec
	it := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	for it.First(); it.Valid(); it.Next() {
		recs = append(recs, rec{append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...)})
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 0, nil
	}
	skip := len(dataKey(shard, gen)) // keep the sub-key: 'r' id
	for _, r := range recs {
		if k, ok := migratedRequest(r.k[skip:], r.v); ok {
			if err := w.Set(dataKey(shard, gen, k...), r.v, nil); err != nil {
				return 0, err
			}
		}
	}
	return len(recs), w.DeleteRange(lo, hi, nil)
}

// migratedRequest returns the new-layout sub-key of an old-layout request
// record (sub-key 'r' id). Records too short to hold a result were never
// answered from and are dropped.
func migratedRequest(sub, v []byte) ([]byte, bool) {
	if len(sub) < 2 || sub[0] != subRequests || len(v) < 16 {
		return nil, false
	}
	return reqTimeKey(int64(binary.BigEndian.Uint64(v)), sub[1:]), true
}
