package raftsm

import (
	"errors"
	"fmt"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

// A replica that meets a committed entry (or a received snapshot) it cannot
// open must not apply anything after it: the others did, and it would
// diverge. Returning the error to Dragonboat would not stop only that
// replica: Dragonboat panics on any error from Update, taking down every
// group of the node. So the state machine stops applying instead: it keeps
// its state and applied index at the last entry it applied, answers every
// later entry with ResultFailed without touching its state, refuses reads
// and snapshots, and tells the node (Hooks.ReplicaFailed), which stops the
// replica. Dragonboat counts the skipped entries as applied in memory only;
// no snapshot records them (Sync refuses while failed, which aborts a
// snapshot), so a restart replays the log from the last applied entry and
// tries again, with whatever keys the node holds by then.

// ErrReplicaFailed is returned by a failed replica's reads and snapshots.
var ErrReplicaFailed = errors.New("raftsm: replica stopped at an entry it cannot open")

// ReplicaFailure says where and why a replica stopped applying.
type ReplicaFailure struct {
	Shard uint64
	// Index is the log index of the entry that did not open; 0 for a
	// received snapshot.
	Index uint64
	// Applied is the last index the replica applied.
	Applied uint64
	// KeyVersion is the DEK version the entry or snapshot is sealed under,
	// when its header could be read (0 if not).
	KeyVersion uint32
	Err        error
}

// MissingKey reports whether the failure is a DEK this node does not hold
// (rather than a damaged entry).
func (f *ReplicaFailure) MissingKey() bool {
	return errors.Is(f.Err, crypto.ErrUnknownKeyVersion)
}

func (f *ReplicaFailure) Error() string {
	what := fmt.Sprintf("entry %d", f.Index)
	if f.Index == 0 {
		what = "a received snapshot"
	}
	return fmt.Sprintf("raftsm: shard %d stopped at %s (applied up to %d): %v", f.Shard, what, f.Applied, f.Err)
}

func (f *ReplicaFailure) Unwrap() []error { return []error{ErrReplicaFailed, f.Err} }

// Failure returns why the replica stopped applying, or nil.
func (s *StateMachine) Failure() *ReplicaFailure { return s.failed.Load() }

// fail records the first failure and tells the node. It must be called
// without s.mu held for writing.
func (s *StateMachine) fail(f *ReplicaFailure) {
	if !s.failed.CompareAndSwap(nil, f) {
		return
	}
	if s.hooks.ReplicaFailed != nil {
		s.hooks.ReplicaFailed(f)
	}
}

// failedResults answers entries a failed replica did not apply.
func failedResults(entries []sm.Entry) {
	for i := range entries {
		entries[i].Result = sm.Result{Value: ResultFailed}
	}
}
