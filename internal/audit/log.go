package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Policy says what a failed audit write means for the request it records.
type Policy int

const (
	// FailClosed (the default): [Log.Write] returns the error and the
	// caller refuses the request.
	FailClosed Policy = iota
	// FailOpen: [Log.Write] never fails; records that cannot be written are
	// counted and a "lost" record says how many once writing works again.
	// [Log.Healthy] reports the failure.
	FailOpen
)

// ParsePolicy reads "closed" or "open" (the --audit-fail flag).
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "closed", "":
		return FailClosed, nil
	case "open":
		return FailOpen, nil
	}
	return 0, fmt.Errorf("audit: fail policy %q: want closed or open", s)
}

func (p Policy) String() string {
	if p == FailOpen {
		return "open"
	}
	return "closed"
}

// Defaults of [Config].
const (
	DefaultMaxSize      = 64 << 20
	DefaultMaxFiles     = 5
	DefaultSealEvery    = 1000
	DefaultSealInterval = time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultQueueSize    = 4096
)

// Config configures a [Log]. It comes from the daemon's flags or config
// file only, never from the API. Zero fields take the defaults.
type Config struct {
	Path         string        // the log file; rotated files are Path.1 .. Path.MaxFiles
	Node         string        // the node id written into every record
	MaxSize      int64         // rotate when the file reaches this many bytes
	MaxFiles     int           // rotated files kept
	SealEvery    int           // seal after this many records ...
	SealInterval time.Duration // ... or this long after the first unsealed one
	WriteTimeout time.Duration // how long Write (closed policy), Reopen and Close wait for the disk
	QueueSize    int           // records waiting for the disk before Write refuses
	Fail         Policy
	// Logf, if set, reports write failures and recoveries (one line each
	// change of health, no record contents).
	Logf func(format string, args ...any)
}

// Validate checks c after defaults are filled.
func (c *Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("audit: no log file")
	case c.MaxSize < 4096:
		return fmt.Errorf("audit: max size %d is below 4096 bytes", c.MaxSize)
	case c.MaxFiles < 1:
		return fmt.Errorf("audit: max files %d: keep at least one rotated file", c.MaxFiles)
	case c.SealEvery < 1 || c.SealInterval <= 0 || c.WriteTimeout <= 0 || c.QueueSize < 1:
		return errors.New("audit: seal, timeout and queue settings must be positive")
	case c.Fail != FailClosed && c.Fail != FailOpen:
		return fmt.Errorf("audit: unknown fail policy %d", c.Fail)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = DefaultMaxFiles
	}
	if c.SealEvery == 0 {
		c.SealEvery = DefaultSealEvery
	}
	if c.SealInterval == 0 {
		c.SealInterval = DefaultSealInterval
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	return c
}

// file is what the log writes to; *os.File is one. Tests inject faults
// through it.
type file interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

func openFile(path string) (file, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// Log is an append-only, hash-chained audit log file. Write is safe for
// concurrent use: one goroutine owns the file and the chain, so concurrent
// writers always make one chain.
type Log struct {
	cfg  Config
	keys atomic.Pointer[Keys]   // nil while the node is locked
	node atomic.Pointer[string] // set by SetNode; else cfg.Node

	reqs   chan *request
	ctl    chan ctlRequest
	exited chan struct{}
	closed atomic.Bool
	// gaveUp is set when Close timed out waiting for the writer (a hung
	// disk): the writer then finishes the close on its own once the disk
	// answers. Only then: a Close still on its way to the writer must get
	// the writer's answer, not find it gone.
	gaveUp atomic.Bool
	// busySince is when the write in progress began (unix nanos), 0 when
	// the writer is idle: a write older than WriteTimeout is a hung disk.
	busySince atomic.Int64
	lost      atomic.Uint64

	mu      sync.Mutex
	lastErr error

	open func(path string) (file, int64, error)
	now  func() time.Time

	// Owned by the writer goroutine.
	f         file
	size      int64
	seq       uint64
	prev      [sha256.Size]byte
	unsealed  int
	firstOpen time.Time // when the oldest unsealed record was written
	note      string    // for the next open record
	buf       bytes.Buffer
}

type request struct {
	rec   *Record
	async bool // nobody waits: the writer returns it to the pool
	done  chan error
}

type ctlRequest struct {
	op   string // "reopen", "close"
	done chan error
}

var reqPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// Open opens (or creates) the log file and continues the chain found at its
// end (or at the end of Path.1 when Path is new). A record cut mid-line at
// the end of the file (a crash during a write) is dropped, and the open
// record that follows says so. keys may be nil while the node is locked
// (see [Log.SetKeys]); keys given must not be wiped while the log uses them.
func Open(cfg *Config, keys *Keys) (*Log, error) {
	return open(cfg, keys, openFile, time.Now)
}

func open(cfg *Config, keys *Keys, of func(string) (file, int64, error), now func() time.Time) (*Log, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &Log{
		cfg:    c,
		reqs:   make(chan *request, c.QueueSize),
		ctl:    make(chan ctlRequest),
		exited: make(chan struct{}),
		open:   of, now: now,
	}
	l.keys.Store(keys)
	if err := l.findHead(); err != nil {
		return nil, err
	}
	f, size, err := l.open(c.Path)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", c.Path, err)
	}
	l.f, l.size = f, size
	note := "opened"
	if l.note != "" {
		note = l.note
	}
	if err := l.writeRecords(&Record{Kind: KindOpen, Note: note}); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: open %s: %w", c.Path, err)
	}
	go l.run()
	return l, nil
}

// findHead sets seq and prev from the last record of Path (or Path.1),
// dropping a partial last line of Path.
func (l *Log) findHead() error {
	for i, path := range []string{l.cfg.Path, l.cfg.Path + ".1"} {
		last, partial, err := lastLine(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", path, err)
		}
		if partial > 0 && i == 0 {
			fi, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("audit: read %s: %w", path, err)
			}
			if err := os.Truncate(path, fi.Size()-int64(partial)); err != nil {
				return fmt.Errorf("audit: drop the partial record at the end of %s: %w", path, err)
			}
			l.note = fmt.Sprintf("dropped a partial record of %d bytes", partial)
		}
		if last == nil {
			continue
		}
		r, err := ParseRecord(last)
		if err != nil {
			return fmt.Errorf("audit: the last record of %s is unreadable, so the chain cannot continue (move the file aside): %w", path, err)
		}
		l.seq, l.prev = r.Seq, lineHash(last)
		return nil
	}
	return nil
}

// lastLine returns the last newline-terminated line of path (nil if none)
// and the length of an unterminated tail.
func lastLine(path string) (last []byte, partial int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	const window = 1 << 20
	off := max(fi.Size()-window, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, 0, err
	}
	i := bytes.LastIndexByte(b, '\n')
	partial = len(b) - (i + 1)
	if i < 0 {
		if off > 0 {
			return nil, 0, errors.New("last line longer than 1 MiB")
		}
		return nil, partial, nil
	}
	b = b[:i]
	j := bytes.LastIndexByte(b, '\n')
	if j < 0 && off > 0 {
		return nil, 0, errors.New("last line longer than 1 MiB")
	}
	return b[j+1:], partial, nil
}

// Keys returns the keys the log seals with, nil while it has none.
func (l *Log) Keys() *Keys { return l.keys.Load() }

// HashName is [Keys.HashName] with the log's keys: the "name_hmac" of a
// record. It returns [ErrNoKeys] while the log has none (the node is
// locked).
func (l *Log) HashName(name string) (string, error) {
	k := l.keys.Load()
	if k == nil {
		return "", ErrNoKeys
	}
	return k.HashName(name)
}

// SetKeys gives the log its keys when the node unlocks (and nil when it
// locks). Records written without keys are chained but not sealed; the
// first seal after SetKeys covers them. After SetKeys(nil) returns without
// error the log no longer uses the old keys, and the caller may wipe them.
func (l *Log) SetKeys(k *Keys) error {
	l.keys.Store(k)
	return l.control("seal")
}

// SetNode sets the node id written into later records: a node that joins
// or creates a cluster while its log is open learns its id then.
func (l *Log) SetNode(id string) { l.node.Store(&id) }

func (l *Log) nodeID() string {
	if p := l.node.Load(); p != nil {
		return *p
	}
	return l.cfg.Node
}

// Policy returns the log's fail policy.
func (l *Log) Policy() Policy { return l.cfg.Fail }

// Write appends r to the log. Write owns r from then on.
//
// Under FailClosed it returns once r is written (not yet synced: seals
// sync), or with an error the caller must act on by refusing the request:
// the write failed, took longer than WriteTimeout ([ErrTimeout]), too many
// records wait ([ErrQueueFull]), or the disk is known to hang
// ([ErrUnhealthy], returned at once rather than after another timeout).
// Under FailOpen it queues r and returns nil; failures show in
// [Log.Healthy] and [Log.LastError] and as a "lost" record.
func (l *Log) Write(r *Record) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.cfg.Fail == FailClosed {
		if err := l.hung(); err != nil {
			return err
		}
	}
	req := reqPool.Get().(*request)
	req.rec, req.async = r, l.cfg.Fail == FailOpen
	select {
	case l.reqs <- req:
	default:
		req.rec = nil
		reqPool.Put(req)
		if l.cfg.Fail == FailOpen {
			l.lost.Add(1)
			l.setErr(ErrQueueFull)
			return nil
		}
		err := fmt.Errorf("%w: %d records wait for %s", ErrQueueFull, l.cfg.QueueSize, l.cfg.Path)
		l.setErr(err)
		return err
	}
	if l.cfg.Fail == FailOpen {
		return nil
	}
	t := time.NewTimer(l.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case err := <-req.done:
		req.rec = nil
		reqPool.Put(req)
		return err
	case <-l.exited:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrClosed
		}
	case <-t.C:
		// The writer still holds req and will answer into its buffered
		// channel; it is not reused.
		err := fmt.Errorf("%w: %s did not take a record within %v", ErrTimeout, l.cfg.Path, l.cfg.WriteTimeout)
		l.setErr(err)
		return err
	}
}

// hung returns an error when the write in progress has run longer than
// WriteTimeout.
func (l *Log) hung() error {
	since := l.busySince.Load()
	if since == 0 || time.Since(time.Unix(0, since)) < l.cfg.WriteTimeout {
		return nil
	}
	return fmt.Errorf("%w: a write to %s has not returned for %v", ErrUnhealthy, l.cfg.Path, time.Since(time.Unix(0, since)).Round(time.Millisecond))
}

// Healthy reports whether the last write succeeded and none hangs now.
func (l *Log) Healthy() bool { return l.LastError() == nil }

// LastError returns why the log is unhealthy, or nil.
func (l *Log) LastError() error {
	if err := l.hung(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *Log) setErr(err error) {
	l.mu.Lock()
	was := l.lastErr
	l.lastErr = err
	l.mu.Unlock()
	if l.cfg.Logf == nil {
		return
	}
	switch {
	case was == nil && err != nil:
		l.cfg.Logf("audit: log %s is failing (policy %s): %v", l.cfg.Path, l.cfg.Fail, err)
	case was != nil && err == nil:
		l.cfg.Logf("audit: log %s is writable again", l.cfg.Path)
	}
}

// Reopen seals and closes the file and opens Path again: after logrotate
// moved it away, a new file starts whose first record continues the chain.
// The daemon calls it on SIGHUP.
func (l *Log) Reopen() error { return l.control("reopen") }

// Close seals the chain, syncs and closes the file. Later calls return
// ErrClosed.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return ErrClosed
	}
	return l.control("close")
}

func (l *Log) control(op string) error {
	if op != "close" && l.closed.Load() {
		return ErrClosed
	}
	c := ctlRequest{op: op, done: make(chan error, 1)}
	t := time.NewTimer(l.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case l.ctl <- c:
	case <-l.exited:
		return ErrClosed
	case <-t.C:
		if op == "close" {
			l.gaveUp.Store(true)
		}
		return fmt.Errorf("%w: %s: the writer is stuck", ErrTimeout, op)
	}
	select {
	case err := <-c.done:
		return err
	case <-t.C:
		// The writer has the request: it closes and exits by itself.
		return fmt.Errorf("%w: %s of %s", ErrTimeout, op, l.cfg.Path)
	}
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.exited)
	tick := time.NewTicker(max(l.cfg.SealInterval/4, time.Millisecond))
	defer tick.Stop()
	batch := make([]*request, 0, 64)
	// Everything the writer does may touch the disk (open, write, sync,
	// rename), so all of it counts as busy for Log.hung.
	busy := func() { l.busySince.Store(time.Now().UnixNano()) }
	idle := func() { l.busySince.Store(0) }
	for {
		idle()
		select {
		case req := <-l.reqs:
			batch = append(batch[:0], req)
		drain:
			for len(batch) < cap(batch) {
				select {
				case r := <-l.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			busy()
			l.writeBatch(batch)
			clear(batch)
		case <-tick.C:
			if l.gaveUp.Load() {
				// Close gave up waiting (a hung disk): finish its work
				// now that the disk answers again.
				busy()
				l.drainQueue()
				l.report(l.sealAndClose())
				return
			}
			// Without keys nothing is written, and nothing may be
			// reported: a no-op must not clear an earlier failure.
			if l.unsealed > 0 && l.keys.Load() != nil && l.now().Sub(l.firstOpen) >= l.cfg.SealInterval {
				busy()
				l.report(l.writeRecords())
			}
		case c := <-l.ctl:
			busy()
			switch c.op {
			case "reopen":
				c.done <- l.reopen("reopened")
			case "seal":
				var err error
				if l.unsealed > 0 && l.keys.Load() != nil {
					err = l.writeRecords()
					l.report(err)
				}
				c.done <- err
			case "close":
				l.drainQueue()
				err := l.sealAndClose()
				c.done <- err
				return
			}
		}
	}
}

// drainQueue writes what is queued when Close is called.
func (l *Log) drainQueue() {
	var batch []*request
	for {
		select {
		case r := <-l.reqs:
			batch = append(batch, r)
		default:
			if len(batch) > 0 {
				l.writeBatch(batch)
			}
			return
		}
	}
}

func (l *Log) report(err error) { l.setErr(err) }

func (l *Log) writeBatch(batch []*request) {
	recs := make([]*Record, 0, len(batch)+1)
	lost := l.lost.Load()
	var lostRec *Record
	if lost > 0 {
		lostRec = &Record{Kind: KindLost, Lost: lost, Note: "records dropped while the log could not be written (open policy)"}
		recs = append(recs, lostRec)
	}
	for _, r := range batch {
		recs = append(recs, r.rec)
	}
	err := l.writeRecords(recs...)
	if err == nil && lostRec != nil {
		l.lost.Add(^(lost - 1))
	}
	if err != nil && l.cfg.Fail == FailOpen {
		l.lost.Add(uint64(len(batch)))
	}
	l.report(err)
	for _, r := range batch {
		if r.async {
			r.rec = nil
			reqPool.Put(r)
			continue
		}
		r.done <- err
	}
	if err == nil && l.size >= l.cfg.MaxSize {
		l.report(l.rotate())
	}
}

// writeRecords chains recs (and a seal when one is due), writes them with
// one write, and advances the chain only if the write succeeded. With no
// recs it writes a seal if anything is unsealed. A nil f (after a failed
// reopen) is opened again first.
func (l *Log) writeRecords(recs ...*Record) error {
	if l.f == nil {
		f, size, err := l.open(l.cfg.Path)
		if err != nil {
			return fmt.Errorf("audit: open %s: %w", l.cfg.Path, err)
		}
		l.f, l.size = f, size
	}
	l.buf.Reset()
	keys := l.keys.Load()
	seq, prev, unsealed, first := l.seq, l.prev, l.unsealed, l.firstOpen
	now := l.now().UTC()
	var hexPrev [2 * sha256.Size]byte
	add := func(r *Record) error {
		seq++
		hex.Encode(hexPrev[:], prev[:])
		r.Seq, r.Prev, r.Time, r.Node = seq, string(hexPrev[:]), now, l.nodeID()
		if r.Kind == "" {
			r.Kind = KindRequest
		}
		if r.Kind == KindSeal {
			r.Key = keys.VerifyKey().ID()
			r.Sig = ""
			msg, err := r.sealMessage()
			if err != nil {
				return err
			}
			sig, err := keys.sign(msg)
			if errors.Is(err, ErrKeysWiped) {
				// Wiped by a lock racing SetKeys(nil): no seal this time.
				seq--
				return nil
			}
			if err != nil {
				return err
			}
			r.Sig = hex.EncodeToString(sig)
		}
		line, err := r.marshal()
		if err != nil {
			return err
		}
		prev = lineHash(line)
		l.buf.Write(line)
		l.buf.WriteByte('\n')
		if r.Kind == KindSeal {
			unsealed = 0
		} else {
			if unsealed == 0 {
				first = now
			}
			unsealed++
		}
		return nil
	}
	for _, r := range recs {
		if err := add(r); err != nil {
			return err
		}
		if unsealed >= l.cfg.SealEvery && keys != nil {
			if err := add(&Record{Kind: KindSeal}); err != nil {
				return err
			}
		}
	}
	if len(recs) == 0 {
		if unsealed == 0 || keys == nil {
			return nil
		}
		if err := add(&Record{Kind: KindSeal}); err != nil {
			return err
		}
	}
	sealed := unsealed == 0
	n, err := l.f.Write(l.buf.Bytes())
	if err == nil && sealed {
		err = l.f.Sync()
		n = l.buf.Len()
	}
	if err != nil {
		if n > 0 && n < l.buf.Len() {
			// Take back a partial line so the next write does not follow
			// garbage; if that fails too, the verifier will name the spot.
			_ = l.f.Truncate(l.size)
		} else if n == l.buf.Len() {
			// Written but not synced: the chain did advance.
			l.seq, l.prev, l.unsealed, l.firstOpen = seq, prev, unsealed, first
			l.size += int64(n)
		}
		return fmt.Errorf("audit: write %s: %w", l.cfg.Path, err)
	}
	l.seq, l.prev, l.unsealed, l.firstOpen = seq, prev, unsealed, first
	l.size += int64(n)
	return nil
}

// sealAndClose seals, syncs and closes the current file.
func (l *Log) sealAndClose() error {
	if l.f == nil {
		return nil
	}
	err := l.writeRecords()
	if err == nil {
		err = l.f.Sync()
	}
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: close %s: %w", l.cfg.Path, cerr)
	}
	l.f = nil
	return err
}

// reopen seals and closes the file, opens Path again, and writes an open
// record into it, so every file starts with a record naming the last hash
// of the one before.
func (l *Log) reopen(note string) error {
	err := l.sealAndClose()
	f, size, oerr := l.open(l.cfg.Path)
	if oerr != nil {
		err = errors.Join(err, fmt.Errorf("audit: open %s: %w", l.cfg.Path, oerr))
		l.report(err)
		return err
	}
	l.f, l.size = f, size
	if werr := l.writeRecords(&Record{Kind: KindOpen, Note: note}); werr != nil {
		err = errors.Join(err, werr)
	}
	l.report(err)
	return err
}

// rotate moves Path to Path.1 (Path.1 to Path.2, ..., dropping
// Path.MaxFiles) and starts a new Path.
func (l *Log) rotate() error {
	if err := l.sealAndClose(); err != nil {
		// Keep writing to the same file rather than lose the chain.
		return errors.Join(err, l.reopen("reopened after a failed rotation"))
	}
	p := l.cfg.Path
	for i := l.cfg.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return errors.Join(err, l.reopen("reopened after a failed rotation"))
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return errors.Join(err, l.reopen("reopened after a failed rotation"))
	}
	return l.reopen("rotated")
}

// State is the log's health for `vault status` and the health check.
type State struct {
	Path      string
	Policy    string // "closed" or "open"
	Healthy   bool
	LastError string // empty when healthy
	Lost      uint64 // records not written yet counted under the open policy
}

// State returns the log's current state.
func (l *Log) State() State {
	s := State{Path: l.cfg.Path, Policy: l.cfg.Fail.String(), Healthy: true, Lost: l.lost.Load()}
	if err := l.LastError(); err != nil {
		s.Healthy, s.LastError = false, err.Error()
	}
	return s
}
