package raftsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

// Snapshot stream format, inside a crypto sealed stream (PurposeSnapshot,
// bound to the shard):
//
//	"vault-snapshot" 0x00 0x01           magic and format version
//	shard (8) applied index (8)          big endian
//	{ uvarint klen>0, key, uvarint vlen, value }...   sub-keys of the generation
//	uvarint 0, uvarint record count      end marker
//
// The stream carries the applied index because RecoverFromSnapshot is not
// told it, and the wrapped keyring because it is one of the records.
var snapshotMagic = []byte("vault-snapshot\x00\x01")

// maxSnapshotRecord bounds one key or value so a corrupt length cannot make
// the reader allocate without limit.
const maxSnapshotRecord = 16 << 20

// ErrBadSnapshot is returned for a snapshot stream whose contents are not
// well formed (after it authenticated).
var ErrBadSnapshot = errors.New("raftsm: malformed snapshot")

type preparedSnapshot struct {
	view    *view
	gen     uint64
	applied uint64
}

// SnapshotBinding is the associated data of a shard's snapshot stream.
func SnapshotBinding(shard uint64) crypto.Binding {
	return crypto.Binding{Purpose: crypto.PurposeSnapshot, Shard: shard}
}

// PrepareSnapshot pins a consistent view; it runs exclusively with Update.
func (s *StateMachine) PrepareSnapshot() (interface{}, error) {
	if s.failed.Load() != nil {
		return nil, fmt.Errorf("raftsm: shard %d: %w: %w", s.shard, sm.ErrSnapshotStopped, ErrReplicaFailed)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := &preparedSnapshot{gen: s.gen, applied: s.applied}
	err := s.store.with(func(db *pebble.DB) error {
		p.view = s.store.openView(db, true)
		return nil
	})
	return p, err
}

// SaveSnapshot streams the prepared view, sealed under the active DEK. It is
// only called to send a snapshot to another replica (or to export one).
func (s *StateMachine) SaveSnapshot(ctx interface{}, w io.Writer, stopc <-chan struct{}) (err error) {
	p := ctx.(*preparedSnapshot)
	defer s.store.releaseView(p.view)
	w, observed := s.observeSave(w)
	defer func() { observed(err) }()
	k, err := s.hooks.SnapshotKey()
	if err != nil {
		return err
	}
	sw, err := crypto.NewStreamWriter(w, k, SnapshotBinding(s.shard))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(sw, 64<<10)
	if err := WriteSnapshot(bw, s.shard, p.applied, func(emit func(k, v []byte) error) error {
		return p.view.read(func(snap *pebble.Snapshot) error {
			base := dataKey(s.shard, p.gen)
			it := snap.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
			defer it.Close()
			n := 0
			for it.First(); it.Valid(); it.Next() {
				sub := it.Key()[len(base):]
				if len(sub) == 1 && sub[0] == subApplied {
					continue
				}
				if p.view.aborted.Load() {
					return errViewAborted
				}
				if n++; n%1024 == 0 {
					select {
					case <-stopc:
						return sm.ErrSnapshotStopped
					default:
					}
				}
				if err := emit(sub, it.Value()); err != nil {
					return err
				}
			}
			return it.Error()
		})
	}); err != nil {
		if errors.Is(err, errViewAborted) {
			// Dragonboat takes an aborted stream for one to retry.
			return fmt.Errorf("raftsm: shard %d: %w: %w", s.shard, sm.ErrSnapshotAborted, err)
		}
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return sw.Close()
}

// WriteSnapshot writes the plaintext snapshot format to w; each calls emit
// for every record.
func WriteSnapshot(w io.Writer, shard, applied uint64, each func(emit func(k, v []byte) error) error) error {
	hdr := append(append([]byte(nil), snapshotMagic...), u64(shard)...)
	hdr = append(hdr, u64(applied)...)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	var n uint64
	var lb [binary.MaxVarintLen64]byte
	emit := func(k, v []byte) error {
		if len(k) == 0 {
			return errors.New("raftsm: empty key in snapshot")
		}
		for _, b := range [][]byte{k, v} {
			if _, err := w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(b)))]); err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		n++
		return nil
	}
	if err := each(emit); err != nil {
		return err
	}
	if _, err := w.Write(lb[:binary.PutUvarint(lb[:], 0)]); err != nil {
		return err
	}
	_, err := w.Write(lb[:binary.PutUvarint(lb[:], n)])
	return err
}

// SnapshotReader decodes the plaintext snapshot format.
type SnapshotReader struct {
	r       *bufio.Reader
	Shard   uint64
	Applied uint64
	n       uint64
	done    bool
}

// NewSnapshotReader reads the header.
func NewSnapshotReader(r io.Reader) (*SnapshotReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	hdr := make([]byte, len(snapshotMagic)+16)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	if string(hdr[:len(snapshotMagic)]) != string(snapshotMagic) {
		return nil, fmt.Errorf("%w: bad magic", ErrBadSnapshot)
	}
	h := hdr[len(snapshotMagic):]
	return &SnapshotReader{r: br, Shard: binary.BigEndian.Uint64(h), Applied: binary.BigEndian.Uint64(h[8:])}, nil
}

// Next returns the next record, or io.EOF after a verified end marker. The
// caller must still check that the underlying stream ends (the sealed stream
// reader does: it returns io.EOF only after its authenticated last chunk).
func (sr *SnapshotReader) Next() (k, v []byte, err error) {
	if sr.done {
		return nil, nil, io.EOF
	}
	kl, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return nil, nil, sr.bad(err)
	}
	if kl == 0 {
		count, err := binary.ReadUvarint(sr.r)
		if err != nil {
			return nil, nil, sr.bad(err)
		}
		if count != sr.n {
			return nil, nil, fmt.Errorf("%w: %d records, end marker says %d", ErrBadSnapshot, sr.n, count)
		}
		if _, err := sr.r.ReadByte(); err != io.EOF {
			if err == nil {
				return nil, nil, fmt.Errorf("%w: data after end marker", ErrBadSnapshot)
			}
			return nil, nil, err
		}
		sr.done = true
		return nil, nil, io.EOF
	}
	if k, err = sr.field(kl); err != nil {
		return nil, nil, err
	}
	vl, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return nil, nil, sr.bad(err)
	}
	if v, err = sr.field(vl); err != nil {
		return nil, nil, err
	}
	sr.n++
	return k, v, nil
}

func (sr *SnapshotReader) field(n uint64) ([]byte, error) {
	if n > maxSnapshotRecord {
		return nil, fmt.Errorf("%w: record of %d bytes", ErrBadSnapshot, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(sr.r, b); err != nil {
		return nil, sr.bad(err)
	}
	return b, nil
}

// bad keeps integrity errors from the sealed stream as they are and reports
// anything else as a malformed snapshot.
func (sr *SnapshotReader) bad(err error) error {
	if crypto.IsIntegrityError(err) {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
}

// RecoverFromSnapshot replaces the shard's state with a received stream. The
// stream is written into the next generation and becomes live only after the
// whole stream authenticated; on any error the live state is untouched.
func (s *StateMachine) RecoverFromSnapshot(r io.Reader, stopc <-chan struct{}) (err error) {
	r, observed := s.observeRecover(r)
	defer func() { observed(err) }()
	s.mu.RLock()
	old := s.gen
	s.mu.RUnlock()
	next := old + 1
	wipeNext := func() error {
		return s.store.with(func(db *pebble.DB) error {
			return db.DeleteRange(dataKey(s.shard, next), dataKey(s.shard, next+1), pebble.NoSync)
		})
	}
	if err := wipeNext(); err != nil {
		return err
	}
	// The stream may hold data versions sealed under a DEK.
	if err := s.store.with(s.store.dekDataMayFollow); err != nil {
		return err
	}
	if s.failed.Load() != nil {
		if stopc != nil {
			<-stopc // as below: the node is stopping this replica
		}
		return fmt.Errorf("raftsm: shard %d: %w: %w", s.shard, sm.ErrSnapshotStopped, ErrReplicaFailed)
	}
	head := &headReader{r: r}
	applied, keyring, err := s.recoverInto(head, next, stopc)
	if err != nil {
		_ = wipeNext()
		if errors.Is(err, errRecoveryStopped) {
			return fmt.Errorf("raftsm: shard %d: recover snapshot: %w", s.shard, sm.ErrSnapshotStopped)
		}
		// Dragonboat panics on a failed recovery, and has already replaced
		// the log with the snapshot: stop this replica instead, at the
		// state it had (see failure.go). An aborted recovery leaves
		// Dragonboat's applied index behind the log it holds, and the next
		// entries would trip its check for holes (a panic too), so wait
		// here, where nothing is applied, until the node stops the replica.
		s.mu.RLock()
		f := &ReplicaFailure{Shard: s.shard, Applied: s.applied, Err: err}
		s.mu.RUnlock()
		f.KeyVersion, _ = crypto.StreamKeyVersion(head.b)
		s.fail(f)
		if stopc != nil {
			<-stopc
		}
		return fmt.Errorf("raftsm: shard %d: recover snapshot: %w: %w", s.shard, sm.ErrSnapshotStopped, err)
	}
	var idx *keyIndex
	err = s.store.with(func(db *pebble.DB) error {
		var err error
		idx, err = loadIndex(db, s.shard, next, false)
		return err
	})
	if err != nil {
		_ = wipeNext()
		return err
	}
	s.mu.Lock()
	err = s.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := b.Set(dataKey(s.shard, next, subApplied), u64(applied), nil); err != nil {
			return err
		}
		if err := b.Set(metaKey(s.shard), u64(next), nil); err != nil {
			return err
		}
		if err := b.DeleteRange(dataKey(s.shard, old), dataKey(s.shard, old+1), nil); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
	if err == nil {
		if s.idx != nil {
			s.idx.stop.Store(true)
		}
		s.gen, s.applied, s.idx = next, applied, idx
		s.appliedNow.Store(applied)
		s.clusterChanged()
		// Started under s.mu: nothing is applied before its snapshot. A
		// store closed meanwhile leaves the index building (correct).
		_ = s.store.with(func(db *pebble.DB) error {
			s.buildIndex(db, idx, next)
			return nil
		})
	}
	s.mu.Unlock()
	if err != nil {
		_ = wipeNext()
		return err
	}
	if keyring != nil {
		e, err := s.store.get(dataKey(s.shard, next, subEpoch))
		if err != nil {
			return err
		}
		s.hooks.KeyringApplied(s.shard, keyring, getU64(e))
	}
	return nil
}

func (s *StateMachine) recoverInto(r io.Reader, gen uint64, stopc <-chan struct{}) (applied uint64, keyring []byte, err error) {
	sr, err := crypto.NewStreamReader(r, s.hooks.Keys, SnapshotBinding(s.shard))
	if err != nil {
		return 0, nil, err
	}
	dec, err := NewSnapshotReader(sr)
	if err != nil {
		return 0, nil, err
	}
	if dec.Shard != s.shard {
		return 0, nil, fmt.Errorf("%w: stream is for shard %d", ErrBadSnapshot, dec.Shard)
	}
	err = s.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		defer func() { b.Close() }()
		for {
			k, v, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			if len(k) == 1 && k[0] == subApplied {
				return fmt.Errorf("%w: applied index record inside stream", ErrBadSnapshot)
			}
			if len(k) == 1 && k[0] == subKeyring {
				keyring = v
			}
			if len(k) > 1 && k[0] == subRequests {
				// A stream from a replica that keeps the old layout of
				// request records: store them in the new one.
				nk, ok := migratedRequest(k, v)
				if !ok {
					continue
				}
				k = nk
			}
			if err := b.Set(dataKey(s.shard, gen, k...), v, nil); err != nil {
				return err
			}
			if b.Len() > 4<<20 {
				select {
				case <-stopc:
					return errRecoveryStopped
				default:
				}
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
				b.Close()
				b = db.NewBatch()
			}
		}
		return b.Commit(pebble.NoSync)
	})
	return dec.Applied, keyring, err
}

// errRecoveryStopped means Dragonboat stopped a recovery (stopc closed).
var errRecoveryStopped = errors.New("snapshot recovery stopped")

// headReader keeps the first bytes read through it: the stream header,
// which names the key version.
type headReader struct {
	r io.Reader
	b []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if need := 16 - len(h.b); need > 0 {
		h.b = append(h.b, p[:min(n, need)]...)
	}
	return n, err
}
