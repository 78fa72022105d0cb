package raftsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

// Hooks connect a state machine to its node.
type Hooks struct {
	// Keys opens log entries and snapshot streams: the node's unwrapped keyring.
	Keys crypto.KeySource
	// SnapshotKey returns the key to seal outgoing snapshot streams with (the
	// active DEK).
	SnapshotKey func() (*crypto.Key, error)
	// KeyringApplied is called inside Update after an entry replaced the
	// shard's wrapped keyring, and after a snapshot was recovered, so the node
	// can unwrap DEK versions it did not have yet. epoch is the ring's
	// keyring epoch: the groups apply their rings independently, so a node
	// whose one ring serves every group must not follow a lower epoch than
	// one it already took (a lagging group's older ring lacks the newest
	// DEKs another group's entries are sealed under). It must not block.
	KeyringApplied func(shard uint64, wrapped []byte, epoch uint64)
	// SecretsChanged (optional) is called after a batch that created,
	// updated, re-sealed or removed secrets was committed, with their ids,
	// so the node can refresh what it serves from them. It must not block.
	SecretsChanged func(shard uint64, ids []string)
	// Observer (optional) is told of applies, opened entries and
	// snapshots, for metrics (observe.go).
	Observer Observer
	// ReplicaFailed (optional) is called once when the replica meets an
	// entry or a snapshot it cannot open and stops applying (see
	// ErrReplicaFailed). The node should stop the replica. It must not
	// block.
	ReplicaFailed func(f *ReplicaFailure)
	// Opened (optional) is called when a replica's state machine has
	// opened, so the node can reach it (a full rotation re-seals through
	// it: ResealLocal). It must not block.
	Opened func(s *StateMachine)
}

// Validate reports a missing hook.
func (h Hooks) Validate() error {
	if h.Keys == nil || h.SnapshotKey == nil || h.KeyringApplied == nil {
		return errors.New("raftsm: Hooks needs Keys, SnapshotKey and KeyringApplied")
	}
	return nil
}

// dedupWindow is how long a request id is remembered (in proposer time).
const dedupWindow = int64(10 * 60 * 1e9)

// StateMachine is one shard's replica, backed by the node's shared Store.
type StateMachine struct {
	store   *Store
	shard   uint64
	replica uint64
	hooks   Hooks

	mu      sync.RWMutex // guards gen, idx and closed against Recover and Close
	gen     uint64
	idx     *keyIndex // the live generation's index (see keyIndex)
	applied uint64
	closed  bool

	failed atomic.Pointer[ReplicaFailure] // set once: nothing more is applied

	appliedNow atomic.Uint64 // applied, for readers that hold no lock (Applied)

	clusterRead // the control shard's cluster record, kept between reads
}

var _ sm.IOnDiskStateMachine = (*StateMachine)(nil)

// NewFactory returns the Dragonboat constructor for vault's state machines.
func NewFactory(store *Store, hooks Hooks) (sm.CreateOnDiskStateMachineFunc, error) {
	if err := hooks.Validate(); err != nil {
		return nil, err
	}
	return func(shardID, replicaID uint64) sm.IOnDiskStateMachine {
		return &StateMachine{store: store, shard: shardID, replica: replicaID, hooks: hooks}
	}, nil
}

// Open loads the shard's generation and applied index.
func (s *StateMachine) Open(<-chan struct{}) (uint64, error) {
	gen, err := s.store.Generation(s.shard)
	if err != nil {
		return 0, err
	}
	if gen == 0 {
		gen = 1
		err := s.store.with(func(db *pebble.DB) error {
			return db.Set(metaKey(s.shard), u64(gen), pebble.Sync)
		})
		if err != nil {
			return 0, err
		}
	}
	// Drop any other generation: leftovers of a recovery that crashed.
	err = s.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := b.DeleteRange(dataKey(s.shard, 0), dataKey(s.shard, gen), nil); err != nil {
			return err
		}
		if err := b.DeleteRange(dataKey(s.shard, gen+1), shardEnd(s.shard), nil); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
	if err != nil {
		return 0, err
	}
	v, err := s.store.get(dataKey(s.shard, gen, subApplied))
	if err != nil {
		return 0, err
	}
	var idx *keyIndex
	err = s.store.with(func(db *pebble.DB) error {
		if err := migrateRequests(db, s.shard, gen); err != nil {
			return err
		}
		idx, err = loadIndex(db, s.shard, gen, false)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.gen = gen
	s.idx = idx
	s.applied = getU64(v)
	s.appliedNow.Store(s.applied)
	// Started under s.mu: nothing is applied before its snapshot. A
	// store closed meanwhile leaves the index building (correct).
	_ = s.store.with(func(db *pebble.DB) error {
		s.buildIndex(db, idx, gen)
		return nil
	})
	applied := s.applied
	s.mu.Unlock()
	if s.hooks.Opened != nil {
		s.hooks.Opened(s)
	}
	return applied, nil
}

// Shard is the shard the state machine is a replica of.
func (s *StateMachine) Shard() uint64 { return s.shard }

// Applied is the index of the last entry the replica has applied (its
// snapshot's, right after a recovery): how far it has caught up.
func (s *StateMachine) Applied() uint64 { return s.appliedNow.Load() }

// Update applies committed entries in Pebble batches, each with the new
// applied index. A crash may lose a suffix of batches; Dragonboat replays
// them.
//
// A batch ends after an entry that changed the keyring: the node learns the
// DEKs a ring introduces from the KeyringApplied hook, run once the batch
// holding the ring has committed, and the entries after it may be sealed
// under one of them (a replica catching up gets a DEK's introduction and
// the first entries sealed under it in one Update).
func (s *StateMachine) Update(entries []sm.Entry) ([]sm.Entry, error) {
	for rest := entries; len(rest) > 0; {
		if s.failed.Load() != nil {
			failedResults(rest)
			break
		}
		n, err := s.updateBatch(rest)
		if err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	return entries, nil
}

// updateBatch applies entries in one Pebble batch, up to and including the
// first that changed the keyring, and returns how many it consumed (all of
// them when one cannot be opened: it and those after it fail).
func (s *StateMachine) updateBatch(entries []sm.Entry) (int, error) {
	start := observeStart()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keyrings []appliedKeyring
	var changed []string
	var failure *ReplicaFailure
	consumed := len(entries)
	err := s.store.with(func(db *pebble.DB) error {
		b := db.NewIndexedBatch()
		defer b.Close()
		a := newApplier(b, s.shard, s.gen)
		a.idx = s.idx
		applied := entries
		for i := range entries {
			e := &entries[i]
			c, kv, err := OpenCommand(s.hooks.Keys, s.shard, e.Cmd)
			if err != nil {
				// An entry this node cannot open means a missing key or a
				// corrupted log: applying anything after it would diverge.
				// Commit what came before it and stop (see failure.go).
				failure = &ReplicaFailure{Shard: s.shard, Index: e.Index, Applied: s.applied, KeyVersion: kv, Err: err}
				if i > 0 {
					failure.Applied = entries[i-1].Index
				}
				failedResults(entries[i:])
				applied = entries[:i]
				break
			}
			s.observeOpened(kv)
			res, err := a.apply(c, kv, e.Index)
			if err != nil {
				return fmt.Errorf("raftsm: shard %d entry %d: %w", s.shard, e.Index, err)
			}
			e.Result = res
			if c.Op == OpKeyringSet && res.Value == ResultOK {
				keyrings = append(keyrings, appliedKeyring{c.Keyring, c.KeyringEpoch})
				applied, consumed = entries[:i+1], i+1
				break
			}
		}
		if len(applied) == 0 {
			return nil
		}
		if err := a.flushSeals(); err != nil {
			return err
		}
		last := applied[len(applied)-1].Index
		if err := b.Set(dataKey(s.shard, s.gen, subApplied), u64(last), nil); err != nil {
			return err
		}
		// Batches are not synced: a crash loses at most a suffix, which
		// Dragonboat replays from its log. A batch that changed the keyring
		// is synced, because the replay itself needs the keys it holds.
		opts := pebble.NoSync
		if len(keyrings) > 0 {
			opts = pebble.Sync
		}
		commit := b.Commit
		if a.dekData {
			commit = func(opts *pebble.WriteOptions) error { return s.store.commitDEKData(b, opts) }
		}
		if err := commit(opts); err != nil {
			return err
		}
		a.commitIndex()
		a.commitCarry()
		changed = a.changed
		s.clusterChanged()
		s.applied = last
		s.appliedNow.Store(last)
		s.observeApplied(len(applied), start)
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keyrings {
		s.hooks.KeyringApplied(s.shard, k.ring, k.epoch)
	}
	if len(changed) > 0 && s.hooks.SecretsChanged != nil {
		s.hooks.SecretsChanged(s.shard, changed)
	}
	if failure != nil {
		s.fail(failure)
	}
	return consumed, nil
}

// appliedKeyring is a keyring an applied entry stored, for the hook.
type appliedKeyring struct {
	ring  []byte
	epoch uint64
}

// applier applies commands to one batch.
type applier struct {
	b     *pebble.Batch
	shard uint64
	gen   uint64

	// Per-batch state that would otherwise cost a Pebble read and write per
	// entry: entries sealed under each key version (added to the stored
	// counts once, by flushSeals), and the last prune time once read.
	seals      map[uint32]uint64
	sealTotals map[uint32]uint64 // the stored counts flushSeals wrote
	lastPrune  int64
	pruneKnown bool // lastPrune holds the stored value (-1: never pruned)

	// idx (the shard's index) lets lookups that must miss be skipped.
	// Keys the batch adds are added at once (the index may hold more than
	// the database); keys it deletes are removed only after the batch
	// committed (removed).
	idx     *keyIndex
	removed [][]byte
	times   []int64
	changed []string // ids of secrets the batch wrote, for SecretsChanged

	// dekData: the batch writes a data version sealed under a DEK (see
	// noDEKDataKey in purge.go).
	dekData bool
}

// noteData notes a data version the batch writes.
func (a *applier) noteData(sealed []byte) {
	if _, dek := UnderDEK(sealed); dek {
		a.dekData = true
	}
}

// commitIndex removes from the index the keys the committed batch deleted.
func (a *applier) commitIndex() {
	for _, k := range a.removed {
		a.idx.remove(k)
	}
	a.removed = a.removed[:0]
}

func newApplier(b *pebble.Batch, shard, gen uint64) *applier {
	return &applier{b: b, shard: shard, gen: gen, seals: map[uint32]uint64{}}
}

// flushSeals adds the batch's seal counts to the stored ones.
func (a *applier) flushSeals() error {
	for kv, n := range a.seals {
		ck := a.key(append([]byte{subSeals}, u32(kv)...)...)
		cur, known := a.carriedSeals(kv)
		if !known {
			v, err := a.get(ck)
			if err != nil {
				return err
			}
			cur = getU64(v)
		}
		if err := a.b.Set(ck, u64(cur+n), nil); err != nil {
			return err
		}
		a.noteSeals(kv, cur+n)
	}
	return nil
}

func (a *applier) key(sub ...byte) []byte { return dataKey(a.shard, a.gen, sub...) }

func (a *applier) get(key []byte) ([]byte, error) {
	v, c, err := a.b.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, c.Close()
}

func (a *applier) apply(c *Command, keyVersion uint32, index uint64) (sm.Result, error) {
	// Count the seal: key status reports how much each DEK version sealed.
	a.seals[keyVersion]++

	// A retried proposal: answer as the first time, change nothing. The
	// index names the proposer times the id may be remembered under.
	a.times = a.idx.requestTimes(c.RequestID, a.times[:0])
	for _, t := range a.times {
		prev, err := a.get(a.key(reqTimeKey(t, c.RequestID)...))
		if err != nil {
			return sm.Result{}, err
		}
		if len(prev) >= 16 {
			return sm.Result{Value: binary.BigEndian.Uint64(prev[8:16]), Data: prev[16:]}, nil
		}
	}
	if err := a.pruneRequests(c.Time); err != nil {
		return sm.Result{}, err
	}
	res, err := a.applyOp(c, index)
	if err != nil {
		return sm.Result{}, err
	}
	rec := make([]byte, 16, 16+len(res.Data))
	binary.BigEndian.PutUint64(rec, uint64(c.Time))
	binary.BigEndian.PutUint64(rec[8:], res.Value)
	rec = append(rec, res.Data...)
	a.idx.addRequest(c.RequestID, c.Time)
	return res, a.b.Set(a.key(reqTimeKey(c.Time, c.RequestID)...), rec, nil)
}

// pruneRequests forgets request ids older than dedupWindow, at most once a
// minute of proposer time. Deterministic: it depends only on state and c.Time.
func (a *applier) pruneRequests(now int64) error {
	pk := a.key(subRequests) // the bare prefix holds the last prune time
	if !a.pruneKnown {
		a.lastPrune, a.pruneKnown = a.carriedPrune()
	}
	if !a.pruneKnown {
		last, err := a.get(pk)
		if err != nil {
			return err
		}
		a.lastPrune, a.pruneKnown = -1, true
		if last != nil {
			a.lastPrune = int64(getU64(last))
		}
	}
	if a.lastPrune >= 0 && now/prunePeriod == a.lastPrune/prunePeriod {
		return nil
	}
	if err := a.b.Set(pk, u64(uint64(now)), nil); err != nil {
		return err
	}
	a.lastPrune = now
	// Request records are keyed by time: everything older than the window
	// is one range.
	cutoff := now - dedupWindow
	if err := a.b.DeleteRange(a.key(subReqTime), a.key(reqTimeKey(cutoff, nil)...), nil); err != nil {
		return err
	}
	a.idx.pruneRequests(cutoff)
	return nil
}

func (a *applier) applyOp(c *Command, index uint64) (sm.Result, error) {
	switch c.Op {
	case OpKeyringSet:
		cur, err := a.get(a.key(subEpoch))
		if err != nil {
			return sm.Result{}, err
		}
		epoch := getU64(cur)
		switch {
		case c.KeyringCAS && epoch != c.ExpectEpoch:
			return sm.Result{Value: ResultConflict, Data: u64(epoch)}, nil
		case c.KeyringEpoch < epoch:
			return sm.Result{Value: ResultStale, Data: u64(epoch)}, nil
		case c.KeyringEpoch == epoch:
			ring, err := a.get(a.key(subKeyring))
			if err != nil {
				return sm.Result{}, err
			}
			if !bytes.Equal(ring, c.Keyring) {
				return sm.Result{Value: ResultConflict, Data: u64(epoch)}, nil
			}
			return sm.Result{Value: ResultStale, Data: u64(epoch)}, nil // already there
		}
		if err := a.b.Set(a.key(subEpoch), u64(c.KeyringEpoch), nil); err != nil {
			return sm.Result{}, err
		}
		return sm.Result{Value: ResultOK, Data: u64(c.KeyringEpoch)}, a.b.Set(a.key(subKeyring), c.Keyring, nil)
	case OpClusterSet:
		cur, err := a.get(a.key(subCluster))
		if err != nil {
			return sm.Result{}, err
		}
		if len(cur) >= 8 && binary.BigEndian.Uint64(cur) != c.ClusterGen || len(cur) < 8 && c.ClusterGen != 0 {
			return sm.Result{Value: ResultConflict}, nil
		}
		return sm.Result{Value: ResultOK, Data: u64(index)}, a.b.Set(a.key(subCluster), append(u64(index), c.Cluster...), nil)
	case OpSecretResealBatch:
		// Each re-seal applies as its own secret.reseal would; those that
		// do not (changed or removed since read) are left to the next pass.
		applied := 0
		for _, w := range c.Secrets {
			res, err := a.applyReseal(w, index)
			if err != nil {
				return sm.Result{}, err
			}
			if res.Value == ResultOK {
				applied++
				a.changed = append(a.changed, w.ID)
			}
		}
		// Value stays a result code (a count could read as ResultFailed).
		return sm.Result{Value: ResultOK, Data: u64(uint64(applied))}, nil
	}
	var res sm.Result
	var err error
	if c.Op == OpSecretReseal {
		res, err = a.applyReseal(c.Secret, index)
	} else {
		res, err = a.applySecret(c.Op, c.Secret, index)
	}
	if err == nil && res.Value == ResultOK {
		a.changed = append(a.changed, c.Secret.ID)
	}
	return res, err
}

// applySecret applies one secret write of op (create, update, rm, reseal).
func (a *applier) applySecret(op Op, w *SecretWrite, index uint64) (sm.Result, error) {
	nsub := append([]byte{subName}, w.NameMAC...)
	osub := append([]byte{subObject}, w.ID...)
	nk, ok := a.key(nsub...), a.key(osub...)
	var owner, obj []byte
	var err error
	if a.idx.mayHave(nsub) {
		if owner, err = a.get(nk); err != nil {
			return sm.Result{}, err
		}
	}
	if a.idx.mayHave(osub) {
		if obj, err = a.get(ok); err != nil {
			return sm.Result{}, err
		}
	}
	gen := u64(index)
	switch op {
	case OpSecretCreate:
		if owner != nil || obj != nil {
			return sm.Result{Value: ResultExists, Data: owner}, nil
		}
		if err := a.b.Set(nk, []byte(w.ID), nil); err != nil {
			return sm.Result{}, err
		}
		a.idx.add(nsub)
		a.idx.add(osub)
	case OpSecretUpdate, OpSecretRemove, OpSecretReseal:
		if obj == nil || len(obj) < 8 {
			return sm.Result{Value: ResultNotFound}, nil
		}
		// A re-seal is bound to the object and its generation, not to the
		// name: it rewrites the same record and versions under another
		// key, so a name index that does not lead to the object must not
		// keep that object under an old key forever.
		if op != OpSecretReseal && !bytes.Equal(owner, []byte(w.ID)) {
			return sm.Result{Value: ResultInvalid}, nil
		}
		if w.ExpectGen != 0 && binary.BigEndian.Uint64(obj) != w.ExpectGen {
			if op != OpSecretReseal {
				return sm.Result{Value: ResultConflict}, nil
			}
			// The record changed since the re-seal read it: the write that
			// changed it sealed a new record under the key active then,
			// so keep that one. Data versions never change once written,
			// so their re-sealed copies still hold: a secret updated
			// faster than a re-seal can read it must not keep its old
			// versions under an old key.
			return a.resealData(w, obj[:8])
		}
	}
	if op == OpSecretRemove {
		if err := a.b.Delete(nk, nil); err != nil {
			return sm.Result{}, err
		}
		if err := a.b.Delete(ok, nil); err != nil {
			return sm.Result{}, err
		}
		a.removed = append(a.removed, nsub, osub)
		return sm.Result{Value: ResultOK, Data: gen}, a.deleteData(w.ID, 0)
	}
	if err := a.b.Set(ok, append(gen, w.Record...), nil); err != nil {
		return sm.Result{}, err
	}
	if w.Version != 0 {
		if err := a.putData(w.ID, w.Version, index, w.Data); err != nil {
			return sm.Result{}, err
		}
	}
	if err := a.pruneVersions(w); err != nil {
		return sm.Result{}, err
	}
	return a.resealData(w, gen)
}

// resealData replaces the data versions a re-seal carries that still exist;
// gen is the object's generation to answer with.
func (a *applier) resealData(w *SecretWrite, gen []byte) (sm.Result, error) {
	for _, d := range w.Resealed {
		// A version that no longer exists is not brought back.
		if _, err := a.replaceData(w.ID, d.Version, d.Data); err != nil {
			return sm.Result{}, err
		}
	}
	return sm.Result{Value: ResultOK, Data: gen}, nil
}

func dataPrefix(id string) []byte {
	p := append([]byte{subData}, id...)
	return append(p, 0)
}

// Sync makes every applied batch durable. A failed replica refuses, which
// aborts the snapshot Dragonboat would otherwise record at an index the
// replica never applied.
func (s *StateMachine) Sync() error {
	if s.failed.Load() != nil {
		return fmt.Errorf("raftsm: shard %d: %w: %w", s.shard, sm.ErrSnapshotAborted, ErrReplicaFailed)
	}
	return s.store.with(func(db *pebble.DB) error { return db.LogData(nil, pebble.Sync) })
}

// Close marks the replica closed. The Store belongs to the node.
func (s *StateMachine) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.idx != nil {
		s.idx.stop.Store(true)
	}
	s.mu.Unlock()
	return nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}
