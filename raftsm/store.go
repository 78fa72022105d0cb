package raftsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// ErrClosed is returned by Store methods after Close.
var ErrClosed = errors.New("raftsm: store closed")

// Key layout of the node's one Pebble DB. Every shard owns two ranges:
//
//	'M' shard(8)                  the shard's current generation (uint64)
//	'D' shard(8) gen(8) sub...    the shard's data in that generation
//
// A snapshot is recovered into generation g+1 and becomes live in one batch that
// moves the 'M' pointer; generation g is then deleted with one range deletion.
// Removing a shard deletes both of its ranges.
const (
	prefixMeta byte = 'M'
	prefixData byte = 'D'
)

// Sub-keys inside a shard's generation.
const (
	subApplied  byte = 'a' // applied index, uint64
	subKeyring  byte = 'k' // keys.WrappedKeyring, marshalled
	subEpoch    byte = 'e' // the keyring's epoch, uint64
	subSeals    byte = 'c' // + key version (4): entries sealed under it, uint64
	subCluster  byte = 'x' // sealed cluster record (control shard)
	subName     byte = 'n' // + name MAC: secret id
	subObject   byte = 'o' // + id: gen(8) || sealed record
	subData     byte = 'v' // + id + 0x00 + version(4): index(8) || key version(4) of its subDataAt value (or, written before, the sealed data)
	subDataAt   byte = 'w' // + index(8) + id: a data version's sealed data (datalayout.go)
	subRequests byte = 'r' // bare: last prune time; + request id: the old layout of request records (migrated on open)
	subReqTime  byte = 't' // + time(8, sign flipped) + request id: time(8) || code(8) || result data
)

// Store is the node's single Pebble database, shared by every shard's state
// machine. The node owns it: state machines never close it.
type Store struct {
	mu     sync.RWMutex
	db     *pebble.DB
	closed bool

	closing atomic.Bool // Close is waiting: long scans (index builds) give up

	// See noDEKDataKey (purge.go).
	dekMu     sync.Mutex
	dekWrites atomic.Uint64

	// See view (views.go).
	viewsMu sync.Mutex
	views   map[*view]struct{}
}

// stateCacheSize is the state database's block cache. Pebble's default,
// 8 MiB, held too few of the index and record blocks a read of random
// secrets touches: with 20k secrets, a third of a stale inspect's CPU was
// Pebble, a quarter of that reading and checksumming blocks the cache had
// dropped. The cache fills only as blocks are read, so a small store never
// holds it all.
const stateCacheSize = 64 << 20

// OpenStore opens (creating if needed) the Pebble database in dir.
func OpenStore(dir string, readOnly bool) (*Store, error) {
	cache := pebble.NewCache(stateCacheSize)
	defer cache.Unref() // the database holds its own reference
	opts := &pebble.Options{ReadOnly: readOnly, Logger: quietLogger{}, FS: noReuseFS{vfs.Default}, Cache: cache}
	tuneStateOptions(opts)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", dir, err)
	}
	if !readOnly {
		if err := markNewStore(db); err != nil {
			db.Close()
			return nil, fmt.Errorf("open state database %s: %w", dir, err)
		}
	}
	return &Store{db: db}, nil
}

// Close closes the database. Later calls on the store return ErrClosed.
func (s *Store) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// No view can be opened now (that takes the read lock); a stream
	// still reading one is aborted, an index build has seen closing.
	s.endViews()
	return s.db.Close()
}

// with runs f with the database while holding the read lock.
func (s *Store) with(f func(db *pebble.DB) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return f(s.db)
}

// get returns a copy of the value at key, or nil if it does not exist.
func (s *Store) get(key []byte) ([]byte, error) {
	var out []byte
	err := s.with(func(db *pebble.DB) error {
		v, c, err := db.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append([]byte(nil), v...)
		return c.Close()
	})
	return out, err
}

// Generation returns the live generation of a shard (0 if the shard has none yet).
func (s *Store) Generation(shard uint64) (uint64, error) {
	v, err := s.get(metaKey(shard))
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftsm: shard %d: corrupt generation record", shard)
	}
	return binary.BigEndian.Uint64(v), nil
}

// WipeShard deletes every key of a shard, all generations.
func (s *Store) WipeShard(shard uint64) error {
	return s.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := b.Delete(metaKey(shard), nil); err != nil {
			return err
		}
		if err := b.DeleteRange(dataKey(shard, 0), shardEnd(shard), nil); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
}

func metaKey(shard uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixMeta
	binary.BigEndian.PutUint64(k[1:], shard)
	return k
}

// dataKey returns 'D' shard gen, followed by sub.
func dataKey(shard, gen uint64, sub ...byte) []byte {
	k := make([]byte, 17, 17+len(sub))
	k[0] = prefixData
	binary.BigEndian.PutUint64(k[1:], shard)
	binary.BigEndian.PutUint64(k[9:], gen)
	return append(k, sub...)
}

// shardEnd is the first key after every generation of shard.
func shardEnd(shard uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixData
	binary.BigEndian.PutUint64(k[1:], shard+1)
	return k
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// Keyring returns the wrapped keyring stored in a shard's live generation, or
// nil. The node reads it before starting replicas, to open their logs.
func (s *Store) Keyring(shard uint64) ([]byte, error) {
	ring, _, err := s.KeyringEpoch(shard)
	return ring, err
}

// KeyringEpoch returns a shard's stored keyring and its epoch (nil, 0
// when the shard has none).
func (s *Store) KeyringEpoch(shard uint64) ([]byte, uint64, error) {
	gen, err := s.Generation(shard)
	if err != nil || gen == 0 {
		return nil, 0, err
	}
	ring, err := s.get(dataKey(shard, gen, subKeyring))
	if err != nil || ring == nil {
		return nil, 0, err
	}
	e, err := s.get(dataKey(shard, gen, subEpoch))
	return ring, getU64(e), err
}

// noReuseFS keeps Pebble from recycling WAL files: a recycled file keeps its
// old bytes past what is rewritten, so ciphertext sealed under a retired key
// could outlive its retirement in the state dir. Obsolete WAL files are
// deleted instead.
type noReuseFS struct{ vfs.FS }

// walRecycleLimit is how many obsolete WAL files Pebble keeps for reuse:
// MemTableStopWritesThreshold (default 2) + 1.
const walRecycleLimit = 3

func (fs noReuseFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	if err := fs.FS.Remove(oldname); err != nil {
		return nil, err
	}
	return fs.FS.Create(newname)
}

// Purge flushes the memtable and compacts the database, so that
// overwritten and deleted values (for example, values re-sealed under a new
// key) leave the files: their WAL segments and old tables become obsolete
// and are deleted. The live data ranges are left out while they hold
// nothing under a DEK (see noDEKDataKey in purge.go).
//
// Pebble keeps a few obsolete WAL files for reuse instead of deleting them,
// and reuses one at each memtable switch; noReuseFS turns each reuse into a
// deletion. Flushing more times than Pebble keeps files therefore deletes
// every WAL written before the purge.
func (s *Store) Purge() error {
	return s.with(func(db *pebble.DB) error {
		s.endViews()
		return s.purge(db)
	})
}
