package logdb

import "math"

// Span is the part of a replica's log that Dragonboat reads back when the
// replica restarts: the entries after its latest snapshot, up to its max
// index record. Dragonboat takes every entry there to be present (its
// LogReader panics at the next start if the first one after the snapshot
// is not), so a hole there is a real one; entries outside the span are
// dead records it never reads, and holes between them mean nothing.
//
// On restart Dragonboat applies the latest snapshot record and reads the
// entries from the snapshot index to the max index (node.replayLog,
// db.getRange). What it leaves outside that range, on a healthy node:
//
//   - Entries up to the snapshot index. They are covered by the snapshot
//     and go lazily: after a snapshot Dragonboat deletes [0, index -
//     compaction overhead) with one range deletion (RemoveEntriesTo;
//     CompactEntriesTo only rewrites tables), so entries below the snapshot
//     index survive. A follower that installs a snapshot from its leader
//     keeps the entries it held before it, with a hole up to the snapshot
//     index (it never received those), until a later snapshot of its own
//     deletes them.
//   - Entries above the max index. A new leader cuts off a follower's
//     uncommitted tail by rewriting the max index record with the entries
//     that replace it; the old entries above stay until overwritten.
type Span struct {
	Snapshot uint64 // index of the latest snapshot record; 0 without one
	Last     uint64 // the max index record
	HasLast  bool   // false: no max index record, the end is unknown
}

// Gap is a run of entries missing from a Span.
type Gap struct{ From, To uint64 }

// Holes finds the gaps of a span, restricted to [lo, hi] (hi 0: no bound),
// in a walk of the entries present. Call Saw with each index present in
// ascending order, then End.
func (s Span) Holes(lo, hi uint64) *Holes {
	h := &Holes{next: max(lo, s.Snapshot+1), last: math.MaxUint64, bounded: s.HasLast}
	if s.HasLast {
		h.last = s.Last
	}
	if hi != 0 && hi < h.last {
		h.last = hi
	}
	h.done = s.Snapshot == math.MaxUint64 || h.next > h.last
	return h
}

// Holes is a walk in progress; see Span.Holes.
type Holes struct {
	next, last uint64 // the first entry not seen yet, the last one wanted
	bounded    bool   // last is known, not just the end of the range
	done       bool   // every entry up to last has been accounted for
}

// Saw records that the entry at index is present and returns the entries
// of the span missing just before it. An index outside the span, or not
// above the previous one, returns nothing.
func (h *Holes) Saw(index uint64) (Gap, bool) {
	if h.done || index < h.next || index > h.last {
		return Gap{}, false
	}
	g, ok := Gap{h.next, index - 1}, index > h.next
	if index == h.last {
		h.done = true
	} else {
		h.next = index + 1
	}
	return g, ok
}

// End returns the entries of the span missing after the last one seen.
// Without a max index record the span has no known end, and nothing is
// missing at the end.
func (h *Holes) End() (Gap, bool) {
	if h.done || !h.bounded {
		return Gap{}, false
	}
	h.done = true
	return Gap{h.next, h.last}, true
}
