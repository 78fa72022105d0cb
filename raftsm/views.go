package raftsm

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
)

// A view is a Pebble snapshot kept beyond the call that took it: the one
// PrepareSnapshot hands Dragonboat, streamed to a lagging follower later
// and for as long as the follower takes, and the one an index build scans
// in the background. Pebble keeps every version a snapshot can see through
// its compactions, so a purge beneath a view would keep what it exists to
// remove: the keyring a retirement replaced, wrapping the retired DEK.
//
// The store knows its views. A purge (and Close) ends them first: a stream
// is aborted (it fails as ErrSnapshotAborted and Dragonboat sends a new
// one, of the purged state, later); an index build, which cannot start
// over, is waited for: it ends in seconds even at a million secrets.
type view struct {
	mu        sync.Mutex       // held while the view is read
	snap      *pebble.Snapshot // nil once released
	abortable bool
	aborted   atomic.Bool
	done      chan struct{} // closed on release
}

// errViewAborted is returned by a read of a view a purge or Close ended.
var errViewAborted = errors.New("raftsm: the database view was ended by a purge or by closing the store")

// openView takes a view of db (which the caller holds through with).
func (s *Store) openView(db *pebble.DB, abortable bool) *view {
	v := &view{snap: db.NewSnapshot(), abortable: abortable, done: make(chan struct{})}
	s.viewsMu.Lock()
	if s.views == nil {
		s.views = map[*view]struct{}{}
	}
	s.views[v] = struct{}{}
	s.viewsMu.Unlock()
	return v
}

// read runs f with the view's snapshot, unless the view was ended. f of an
// abortable view checks v.aborted as it goes and returns errViewAborted.
func (v *view) read(f func(*pebble.Snapshot) error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.snap == nil {
		return errViewAborted
	}
	return f(v.snap)
}

// releaseView closes the view's snapshot (waiting for a read of it to
// return) and forgets it. Calling it again does nothing.
func (s *Store) releaseView(v *view) {
	v.mu.Lock()
	if v.snap != nil {
		v.snap.Close()
		v.snap = nil
		close(v.done)
	}
	v.mu.Unlock()
	s.viewsMu.Lock()
	delete(s.views, v)
	s.viewsMu.Unlock()
}

// endViews ends every view open now: aborts the abortable ones, waiting
// for a read in progress to give up, and waits for the others to be
// released. Views taken later see only what is already written.
func (s *Store) endViews() {
	s.viewsMu.Lock()
	vs := make([]*view, 0, len(s.views))
	for v := range s.views {
		vs = append(vs, v)
	}
	s.viewsMu.Unlock()
	for _, v := range vs {
		if v.abortable {
			v.aborted.Store(true)
		}
	}
	for _, v := range vs {
		if v.abortable {
			s.releaseView(v)
		} else {
			<-v.done
		}
	}
}
