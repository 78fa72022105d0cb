package raftsm

import (
	"io"
	"time"
)

// Observer (Hooks.Observer, optional) is told what a replica did, for the
// node's metrics. Its methods are called on the apply path and must not
// block.
type Observer interface {
	// Applied: the shard's replica applied a batch of n entries in d.
	Applied(shard uint64, n int, d time.Duration)
	// Opened: an entry sealed under DEK version v was opened.
	Opened(v uint32)
	// SnapshotSaved: a snapshot stream of size bytes was written in d.
	SnapshotSaved(d time.Duration, size int64)
	// SnapshotReceived: the replica recovered from a snapshot stream of
	// size bytes in d.
	SnapshotReceived(d time.Duration, size int64)
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	return k, err
}

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// observeSave wraps the snapshot stream w for the observer; done reports
// the save once it ended (nothing is reported for a save that failed).
func (s *StateMachine) observeSave(w io.Writer) (io.Writer, func(err error)) {
	o := s.hooks.Observer
	if o == nil {
		return w, func(error) {}
	}
	cw, start := &countingWriter{w: w}, time.Now()
	return cw, func(err error) {
		if err == nil {
			o.SnapshotSaved(time.Since(start), cw.n)
		}
	}
}

// observeRecover is observeSave for a snapshot received.
func (s *StateMachine) observeRecover(r io.Reader) (io.Reader, func(err error)) {
	o := s.hooks.Observer
	if o == nil {
		return r, func(error) {}
	}
	cr, start := &countingReader{r: r}, time.Now()
	return cr, func(err error) {
		if err == nil {
			o.SnapshotReceived(time.Since(start), cr.n)
		}
	}
}

// observeOpened reports an entry opened under key version v.
func (s *StateMachine) observeOpened(v uint32) {
	if o := s.hooks.Observer; o != nil {
		o.Opened(v)
	}
}

// observeStart is when an apply started.
func observeStart() time.Time { return time.Now() }

// observeApplied reports a batch of n entries applied since start.
func (s *StateMachine) observeApplied(n int, start time.Time) {
	if o := s.hooks.Observer; o != nil && n > 0 {
		o.Applied(s.shard, n, time.Since(start))
	}
}
