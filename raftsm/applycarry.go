package raftsm

// Each apply batch read two stored values before this: the last prune time
// of request ids (pruneRequests, on the batch's first entry) and the seal
// count of each key version the batch's entries were sealed under
// (flushSeals). Both are Pebble point lookups, about 1.2 % of the three
// managers' CPU during 64-client creates (perf), where a batch holds few
// entries. Only the apply writes them, so the values a committed batch
// wrote are what the next batch would read: they are kept in the
// generation's keyIndex, which is made anew from the database on Open and
// on a snapshot's recovery (a new generation), so they never outlive the
// state they came from. Values are kept only after the batch committed; a
// batch that fails stops the replica (Update returns the error).

// applyCarry is what a committed batch leaves for the next one.
type applyCarry struct {
	pruneKnown bool
	lastPrune  int64             // as pruneRequests reads it (-1: never pruned)
	seals      map[uint32]uint64 // key version -> stored seal count
}

// carriedPrune returns the last prune time a committed batch left, if any.
func (a *applier) carriedPrune() (int64, bool) {
	if a.idx == nil || !a.idx.carry.pruneKnown {
		return 0, false
	}
	return a.idx.carry.lastPrune, true
}

// carriedSeals returns the stored seal count of key version kv a committed
// batch left, if any.
func (a *applier) carriedSeals(kv uint32) (uint64, bool) {
	if a.idx == nil {
		return 0, false
	}
	n, ok := a.idx.carry.seals[kv]
	return n, ok
}

// noteSeals records the seal count flushSeals wrote for kv.
func (a *applier) noteSeals(kv uint32, total uint64) {
	if a.sealTotals == nil {
		a.sealTotals = map[uint32]uint64{}
	}
	a.sealTotals[kv] = total
}

// commitCarry keeps, once the batch committed, the values it read or wrote
// for the next batch.
func (a *applier) commitCarry() {
	if a.idx == nil {
		return
	}
	c := &a.idx.carry
	if a.pruneKnown {
		c.pruneKnown, c.lastPrune = true, a.lastPrune
	}
	for kv, n := range a.sealTotals {
		if c.seals == nil {
			c.seals = map[uint32]uint64{}
		}
		c.seals[kv] = n
	}
}
