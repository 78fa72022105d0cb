package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// A group whose replica on this manager met a committed entry it cannot
// open (sealed under a DEK this manager does not hold, or damaged) is
// stopped here, alone: the daemon and its other groups keep serving, and
// the other managers keep the group going. The replica keeps what it
// applied before that entry; the next start of the replicas (a restart,
// `vault unlock`) tries the entry again with the keys held by then. `vault status` lists stopped groups.

// stoppedGroup is a group this manager stopped, and why.
type stoppedGroup struct {
	f  *raftsm.ReplicaFailure
	at time.Time
}

// replicaFailed is the state machine's ReplicaFailed hook for the replicas
// of nh: it logs what happened and what to do, and stops the replica. It
// runs on Dragonboat's apply path, so the stop runs on its own goroutine.
func (n *Node) replicaFailed(nh *dragonboat.NodeHost, f *raftsm.ReplicaFailure) {
	n.stoppedMu.Lock()
	if n.stopped == nil {
		n.stopped = map[uint64]stoppedGroup{}
	}
	n.stopped[f.Shard] = stoppedGroup{f: f, at: time.Now()}
	n.stoppedMu.Unlock()
	reason, hint := failureText(f)
	n.log.Error(reason+"; "+hint, "shard", f.Shard, "entry", f.Index, "applied", f.Applied, "dek_version", f.KeyVersion, "err", f.Err)
	go func() {
		err := nh.StopShard(f.Shard)
		if err != nil && !errors.Is(err, dragonboat.ErrShardNotFound) && !errors.Is(err, dragonboat.ErrClosed) {
			n.log.Warn("stopping a failed group", "shard", f.Shard, "err", err)
		}
	}()
}

// failureText says what stopped a group and what to do about it.
func failureText(f *raftsm.ReplicaFailure) (reason, hint string) {
	what := fmt.Sprintf("entry %d", f.Index)
	if f.Index == 0 {
		what = fmt.Sprintf("a snapshot received after entry %d", f.Applied)
	}
	if f.MissingKey() {
		return fmt.Sprintf("group %d stopped at %s: it is sealed under data key v%d, which this manager does not hold", f.Shard, what, f.KeyVersion),
			"unlock it with the current unlock key (`vault unlock`; a restart tries the group again) or replace the node (`vault node rm`, then join)"
	}
	return fmt.Sprintf("group %d stopped at %s: it does not open (%v): the log or snapshot is damaged", f.Shard, what, f.Err),
		"replace the node (`vault node rm`, then join); `vault-rafttool verify` shows the damage"
}

// resetStopped forgets stopped groups: the replicas are being started again.
func (n *Node) resetStopped() {
	n.stoppedMu.Lock()
	n.stopped = nil
	n.stoppedMu.Unlock()
}

// groupStopped returns the error for requests to a group this manager
// stopped, or nil.
func (n *Node) groupStopped(shard uint64) error {
	n.stoppedMu.Lock()
	g, ok := n.stopped[shard]
	n.stoppedMu.Unlock()
	if !ok {
		return nil
	}
	reason, hint := failureText(g.f)
	return api.Errorf(api.CodeUnavailable, "%s (since %s)", reason, g.at.UTC().Format(time.RFC3339)).WithHint("%s; other managers still serve it", hint)
}

// stoppedGroups lists the stopped groups for the status.
func (n *Node) stoppedGroups() []api.StoppedGroup {
	n.stoppedMu.Lock()
	defer n.stoppedMu.Unlock()
	var out []api.StoppedGroup
	for _, g := range n.stopped {
		reason, hint := failureText(g.f)
		out = append(out, api.StoppedGroup{Group: g.f.Shard, Entry: g.f.Index, Applied: g.f.Applied, DEKVersion: g.f.KeyVersion, Since: g.at.UTC(), Reason: reason, Hint: hint})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// waitReadyOrStopped is waitReady that does not wait for groups this
// manager stopped (they fail again as they replay after a restart).
func (n *Node) waitReadyOrStopped(ctx context.Context, nh *dragonboat.NodeHost, shards []uint64) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for _, s := range shards {
		for {
			if n.groupStopped(s) != nil {
				break
			}
			if _, _, ok, err := nh.GetLeaderID(s); err == nil && ok {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("shard %d has no leader: %w", s, ctx.Err())
			case <-t.C:
			}
		}
	}
	return nil
}
