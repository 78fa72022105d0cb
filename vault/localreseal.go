package vault

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// A full rotation's re-sealing is done by every manager on its own
// replicas (raftsm.ResealLocal): nothing goes through the Raft log. A step
// (POST /v1/keys/reseal, what `vault key rotate --full` repeats) runs one
// on this manager and, at once, one on every other manager
// (POST /v1/peer/reseal), and adds up what they did and what they have
// left. Every manager must be reachable and unlocked, as for the
// compaction that follows.

// localMachines are this node's replicas' state machines, by shard, as
// they open (raftsm.Hooks.Opened).
type localMachines struct {
	mu sync.Mutex
	m  map[uint64]*raftsm.StateMachine
}

func (l *localMachines) opened(s *raftsm.StateMachine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[uint64]*raftsm.StateMachine{}
	}
	l.m[s.Shard()] = s
}

func (l *localMachines) get(shard uint64) *raftsm.StateMachine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[shard]
}

// localResealWalk is where this manager's re-sealing is in its secret
// groups, so that a step continues where the last one stopped. A pass
// starts with a count of what this manager has to re-seal (left, then
// less what each step re-sealed); the next pass counts again, and the
// manager is done when a count finds nothing. mu is held through a step:
// steps on one manager run one at a time.
type localResealWalk struct {
	mu      sync.Mutex
	target  uint32
	group   int
	after   string
	counted bool
	left    int
}

// localResealStep is how long one step re-seals on a manager before it
// answers (the walk continues at the next step); after each batch it
// pauses localResealPause times as long as the batch took. Measured with
// 64 clients creating beside rotations of 100k-170k secrets (two cores,
// docs/PERFORMANCE.md, runs 28-50), the creates kept, of their rate
// alone, while it re-sealed: at 1, 55 %; at 2, 51-69 %; at 5, 66-67 %
// (5,300-6,400 secrets a second per manager: a 100k rotation in 20-24
// s); at 7, 65-80 % (3,800-4,800 a second: 25-31 s for 100k, past
// the 30 s a rotation of 100k may take). The rewrites' Pebble compactions,
// not the re-sealing's own CPU, are most of what the creates lose. On 6
// December, with cheaper batches (runs 159-165): at 5, about 7,000 a second
// and 69 % and 78 % kept; at 7, 69 %; a cap on the rate as well, 70-81 %
// at 26-36 s a 100k. A run's spread is as large as the pace's effect.
// Against three windows of creates alone (runs 168-180): at 5, 65-69 % at
// 16-27 s a 100k; at 6, 71 % and 76 % at 24.8 and 33.6 s; at 7, 81 % at
// 41 s. The rotation's own work (11-18 core-seconds a 100k on two cores)
// left no multiple that kept 70 % within 30 s on a slower host, until the
// state database cut its tables at its key regions and secret ids sorted
// in creation order (runs 184-189): at 5, 79 % and 89 % at 22.6-23.0 s a
// 100k, where the build before kept 66 % at 33.8 s on the same host.
//
// The pause is for the writes beside it: while no group on the manager has
// applied an entry since the batch before (nothing but the rotation runs),
// it pauses localResealQuietPause times instead, and reads still get half
// the time between batches. So does a batch that re-sealed nothing: it
// only read past secrets already under the target, which since ids sort
// in creation order (statedir.NewSecretID) are those created during the
// rotation, all at the end of the walk, and it wrote nothing for a
// compaction to rewrite. Paced as a re-seal, that tail's scan barely
// outran the creates that kept adding to it: 9 steps (16 s) with nothing
// left to re-seal at the end of a rotation of 258k secrets beside 64
// creating clients.
const (
	localResealStep       = 2 * time.Second
	localResealPause      = 5
	localResealQuietPause = 1
)

// resealPause is how long to pause after a batch that took took and
// re-sealed resealed secrets, given whether any entry was applied on the
// manager since the last batch.
func resealPause(took time.Duration, othersWrote bool, resealed int) time.Duration {
	if othersWrote && resealed > 0 {
		return took * localResealPause
	}
	return took * localResealQuietPause
}

// peerReseal is POST /v1/peer/reseal: one step on the receiving manager.
type peerReseal struct {
	Target uint32 `json:"target"`
	Limit  int    `json:"limit,omitempty"`
}

// resealLocal re-seals this manager's replicas of the secret groups under
// target for up to localResealStep (and at most limit secrets, if it is
// above 0), and says how many it has left: 0 only once a count finds
// nothing.
func (r *replicas) resealLocal(ctx context.Context, target uint32, limit int) (*api.ResealProgress, error) {
	active, err := r.ring.Active()
	if err != nil {
		return nil, err
	}
	if active.Version() != target {
		return nil, api.Errorf(api.CodeUnavailable, "manager %s has data key v%d active, not v%d: it has not applied the rotation's key yet", r.st.NodeID, active.Version(), target).
			WithHint("run `vault key rotate --full` again in a moment: it continues where it stopped")
	}
	w := &r.node.localReseal
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.target != target {
		w.target, w.group, w.after, w.counted, w.left = target, 0, "", false, 0
	}
	shards := raftsm.SecretShards(r.st.Shards)
	p := &api.ResealProgress{Target: target}
	if !w.counted {
		left, err := r.countLocal(target, shards)
		if err != nil || left == 0 {
			return p, err
		}
		w.group, w.after, w.counted, w.left = 0, "", true, left
	}
	deadline := time.Now().Add(localResealStep)
	// Writes since the last batch, as the groups' applied indexes move
	// (the re-seal itself applies nothing). The first batch of a step
	// counts as written beside.
	seen, othersWrote := r.appliedTotal(), true
	for w.group < len(shards) && time.Now().Before(deadline) && (limit <= 0 || p.Resealed < limit) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		shard := shards[w.group]
		s := r.machines.get(shard)
		if s == nil {
			return nil, noLocalReplica(shard, r.st.NodeID)
		}
		batch := raftsm.ResealLocalBatch
		if limit > 0 {
			batch = min(batch, limit-p.Resealed)
		}
		t0 := time.Now()
		n, next, more, err := s.ResealLocal(r.ring, active, w.after, batch)
		took := time.Since(t0)
		p.Resealed += n
		w.left -= n
		if err != nil {
			return nil, fmt.Errorf("re-seal group %d on manager %s: %w", shard, r.st.NodeID, r.node.explain(err))
		}
		w.after = next
		if !more {
			w.group, w.after = w.group+1, ""
		}
		// Longer than the batch took before the next one: the group's
		// applies and reads wait while a batch runs, and the writes beside
		// the rotation keep most of the CPU.
		select {
		case <-ctx.Done():
		case <-time.After(resealPause(took, othersWrote, n)):
		}
		now := r.appliedTotal()
		othersWrote, seen = now != seen, now
	}
	if w.group >= len(shards) {
		w.counted = false // the next step counts again, and ends it if nothing is left
	}
	p.Remaining = max(w.left, 1)
	return p, nil
}

// countLocal counts the secrets this manager's replicas hold with
// something not sealed under target.
func (r *replicas) countLocal(target uint32, shards []uint64) (int, error) {
	total := 0
	for _, shard := range shards {
		s := r.machines.get(shard)
		if s == nil {
			return 0, noLocalReplica(shard, r.st.NodeID)
		}
		for after := ""; ; {
			out, err := s.Lookup(raftsm.QueryResealPage{Target: target, After: after, Count: true})
			if err != nil {
				return 0, r.node.explain(err)
			}
			page := out.(*raftsm.ResealPage)
			total += page.Count
			if !page.More {
				break
			}
			after = page.Next
		}
	}
	return total, nil
}

func noLocalReplica(shard uint64, node string) error {
	return api.Errorf(api.CodeUnavailable, "group %d has no replica open on manager %s", shard, node).
		WithHint("run `vault key rotate --full` again once the manager's groups are up")
}

// resealEverywhere runs a step on every manager at once and adds up their
// progress.
func (r *replicas) resealEverywhere(ctx context.Context, target uint32, limit int, p *api.ResealProgress) error {
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	onEveryManager(rec.Members, func(_ int, m raftsm.Member) {
		var got *api.ResealProgress
		var err error
		if m.NodeID == r.st.NodeID {
			got, err = r.resealLocal(ctx, target, limit)
		} else {
			got = &api.ResealProgress{}
			cctx, cancel := context.WithTimeout(ctx, localResealTimeout)
			err = r.node.peerCall(cctx, r.tls, m.APIAddr, http.MethodPost, "/v1/peer/reseal", &peerReseal{Target: target, Limit: limit}, got)
			cancel()
			if err != nil {
				err = api.Errorf(api.CodeUnavailable, "re-seal on manager %s: %s", m.NodeID, operatorMessage(err.Error())).
					WithHint("bring it back (every manager re-seals its own copy) and run `vault key rotate --full` again: it continues where it stopped")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		p.Resealed += got.Resealed
		p.Remaining += got.Remaining
	})
	return firstErr
}

// localResealTimeout bounds a peer's step: its re-sealing, its count of
// what is left, and the answer.
const localResealTimeout = localResealStep + time.Minute
