package vault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultd/vault/raftsm"
)

// A manager serves worker streams only while it is part of a quorum of the
// control group. A manager cut off from the others would otherwise keep
// sending the grant set it last applied, with keepalives, for as long as
// its workers stay connected: revocations and new versions made by the
// majority would never reach them. Instead it ends its streams and refuses
// new ones, so that its workers fail over to a manager that has a quorum
// (or, with none reachable, keep what they hold and report it stale).
//
// The check is a ReadIndex on the control group (it completes only with a
// quorum's acknowledgement), done at most once per workerQuorumEvery while
// streams are open, and at a stream's opening when the last one is older.

const (
	// workerQuorumEvery is how often the poller confirms the quorum.
	workerQuorumEvery = workerKeepalive
	// workerQuorumStale: a confirmation older than this ends the streams.
	// It tolerates a leader election (a second or two) without moving
	// every worker.
	workerQuorumStale = 8 * time.Second
	// workerQuorumTimeout bounds one check.
	workerQuorumTimeout = 3 * time.Second
)

// errWorkerNoQuorum: this manager is not part of a quorum; its workers go
// to another.
var errWorkerNoQuorum = errors.New("this manager has no quorum of the control group: it serves no worker streams until it rejoins the majority")

// workerQuorum is the hub's last quorum confirmation.
type workerQuorum struct {
	mu       sync.Mutex   // held during a check: one at a time
	at       atomic.Int64 // unix nanoseconds of the last confirmation
	inFlight atomic.Bool  // a poller's check is running
}

// fresh reports whether the quorum was confirmed recently.
func (q *workerQuorum) fresh() bool {
	at := q.at.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < workerQuorumStale
}

// check confirms the quorum now (unless a concurrent check just did).
func (n *Node) checkWorkerQuorum(ctx context.Context) error {
	q := &n.workerHub().quorum
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fresh() && time.Since(time.Unix(0, q.at.Load())) < workerQuorumEvery/2 {
		return nil
	}
	r := n.current()
	if r == nil {
		return errLocked()
	}
	cctx, cancel := context.WithTimeout(ctx, workerQuorumTimeout)
	defer cancel()
	start := time.Now()
	if _, err := r.host().SyncRead(cctx, raftsm.ControlShard, raftsm.QueryCluster{}); err != nil {
		return errWorkerNoQuorum
	}
	q.at.Store(start.UnixNano())
	return nil
}

// admitWorkerStream is the check at a stream's opening.
func (n *Node) admitWorkerStream(ctx context.Context) error {
	if n.workerHub().quorum.fresh() {
		return nil
	}
	return n.checkWorkerQuorum(ctx)
}

// pollWorkerQuorum starts a check unless one is running (the poller calls
// it every workerPoll; it checks every workerQuorumEvery).
func (n *Node) pollWorkerQuorum() {
	q := &n.workerHub().quorum
	if at := q.at.Load(); at != 0 && time.Since(time.Unix(0, at)) < workerQuorumEvery {
		return
	}
	if !q.inFlight.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer q.inFlight.Store(false)
		_ = n.checkWorkerQuorum(context.Background())
	}()
}

// workerStreams is the number of worker streams this manager serves now
// (vaultd_worker_streams).
func (n *Node) workerStreams() int {
	h := n.workerHub()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams
}
