package vault

import (
	"context"
	"sync"
)

// leaderWatch tells the requests in flight on a group that its leader
// changed. A proposal or ReadIndex a follower forwarded to a leader that
// then stopped or handed its leadership off is lost without an answer
// (Raft drops it; nothing tells the follower), so the request waited for
// its attempt's timeout (2 s) before it tried again. Each attempt now ends
// when the group's replica here learns of a new leader, and the next one
// goes to that leader at once. Proposals keep their request id across
// attempts, so one that was not lost after all applies once.
type leaderWatch struct {
	mu     sync.Mutex
	epochs map[uint64]*leaderEpoch
}

// leaderEpoch is the time one leader leads a group, as this replica knows
// it: ctx ends when another leader is known.
type leaderEpoch struct {
	ctx    context.Context
	cancel context.CancelFunc
	leader uint64 // 0: none known
}

// epoch returns a context that ends when shard's replica here learns of a
// leader other than the one it knows now.
func (w *leaderWatch) epoch(shard uint64) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.epochLocked(shard).ctx
}

func (w *leaderWatch) epochLocked(shard uint64) *leaderEpoch {
	if w.epochs == nil {
		w.epochs = map[uint64]*leaderEpoch{}
	}
	e := w.epochs[shard]
	if e == nil {
		ctx, cancel := context.WithCancel(context.Background())
		e = &leaderEpoch{ctx: ctx, cancel: cancel}
		w.epochs[shard] = e
	}
	return e
}

// changed records shard's leader as the Raft library reports it (0: none).
// It does not block (it runs on the library's event goroutine).
func (w *leaderWatch) changed(shard, leader uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.epochLocked(shard)
	switch {
	case leader == e.leader:
	case leader == 0:
		// Lost: nothing is gained by ending attempts before a new leader
		// is known. The one that comes next, even the same one again,
		// starts a new epoch.
		e.leader = 0
	default:
		e.cancel()
		ctx, cancel := context.WithCancel(context.Background())
		w.epochs[shard] = &leaderEpoch{ctx: ctx, cancel: cancel, leader: leader}
	}
}
