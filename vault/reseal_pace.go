package vault

import (
	"context"
	"sync/atomic"
	"time"
)

// resealPacer lets a full rotation yield to foreground writes. A re-seal
// costs every replica an apply and the state database's compactions, on
// the same cores the writes clients are waiting for use; at full speed a
// rotation beside 64 creating clients took half of their rate.
//
// The one rule: while this manager proposes foreground writes (any
// proposal but a re-seal), a step's batches go one at a time, and after
// each the rotation pauses for resealYield times as long as the batch took
// from sealing to applied here. The batch's time grows with the load it
// competes with, so the pause does too: the rotation takes about
// 1/(1+resealYield) of the time of a group it shares, and runs at full
// speed (resealBatchesInFlight batches at once, no pause) when no write is
// waiting. Writes through other managers count on theirs: the manager
// that runs `vault key rotate --full` sees its share of them (clients
// spread over managers), which is what it paces by.
type resealPacer struct {
	inFlight atomic.Int64  // foreground proposals in flight on this node
	done     atomic.Uint64 // foreground proposals finished on this node
	last     uint64        // done when busy last looked (under resealWalk.mu)
}

// resealYield is the pause after a re-seal batch, in batch times, while
// foreground writes run (see resealPacer).
const resealYield = 1.0

// foreground marks a foreground proposal's start; the function returned
// marks its end.
func (p *resealPacer) foreground() func() {
	p.inFlight.Add(1)
	return func() {
		p.inFlight.Add(-1)
		p.done.Add(1)
	}
}

// busy reports whether a foreground proposal runs now or finished since
// busy last looked. The caller holds resealWalk.mu.
func (p *resealPacer) busy() bool {
	done := p.done.Load()
	ran := done != p.last
	p.last = done
	return ran || p.inFlight.Load() > 0
}

// pause waits resealYield times took, or until ctx ends.
func (p *resealPacer) pause(ctx context.Context, took time.Duration) {
	d := time.Duration(float64(took) * resealYield)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
