package vault

import (
	"context"
	"sync"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// resealWalk is where a full rotation's re-sealing is in its walk over
// the secret groups. Each ResealStep continues the walk from where the
// last one stopped (raftsm.QueryResealPage), so a pass reads each secret
// once: re-sealing is linear in secrets, where listing every candidate on
// every step was quadratic. A pass that met candidates is followed by
// another (a secret that changed under its re-seal is taken again then);
// the rotation is done when a count at the start of a pass finds none.
//
// mu is held across the step's Raft reads and proposals: steps on one
// node run one at a time. It is taken before Node.mu (package doc).
type resealWalk struct {
	mu      sync.Mutex
	target  uint32 // the DEK version re-sealed under; another one starts over
	group   int    // index in the secret groups
	after   string // the last id walked in that group
	counted bool   // the pass has counted its candidates
	left    int    // candidates counted, less those re-sealed since
	found   int    // candidates met in this pass
}

func (w *resealWalk) restart(target uint32) {
	w.target, w.group, w.after, w.counted, w.left, w.found = target, 0, "", false, 0, 0
}

// resealSecrets re-seals secrets under target until p.Resealed reaches
// limit or the pass ends, and sets p.Remaining: an estimate while a pass
// runs (never 0), 0 once a pass's count finds nothing left.
func (r *replicas) resealSecrets(ctx context.Context, limit int, target uint32, p *api.ResealProgress) error {
	w := &r.node.reseal
	w.mu.Lock()
	defer w.mu.Unlock()
	shards := raftsm.SecretShards(r.st.Shards)
	if w.target != target || w.group >= len(shards) {
		w.restart(target)
	}
	if !w.counted {
		total := 0
		for _, shard := range shards {
			for after := ""; ; {
				page, err := readAs[*raftsm.ResealPage](ctx, r, shard, raftsm.QueryResealPage{Target: target, After: after, Count: true})
				if err != nil {
					return err
				}
				total += page.Count
				if !page.More {
					break
				}
				after = page.Next
			}
		}
		if total == 0 {
			w.restart(target)
			p.Remaining = 0
			return nil
		}
		w.counted, w.left = true, total
	}
	for w.group < len(shards) && p.Resealed < limit {
		shard := shards[w.group]
		page, err := readAs[*raftsm.ResealPage](ctx, r, shard, raftsm.QueryResealPage{Target: target, After: w.after, Limit: limit - p.Resealed, Full: true})
		if err != nil {
			return err
		}
		done, err := r.resealPage(ctx, shard, page.Candidates)
		w.found += len(page.Candidates)
		p.Resealed += done
		w.left -= done
		if err != nil {
			// The walk resumes at this page: what it re-sealed is no
			// candidate any more.
			return err
		}
		w.after = page.Next
		if !page.More {
			w.group, w.after = w.group+1, ""
		}
	}
	if w.group >= len(shards) {
		// The pass is over; the next step counts again (and finishes if
		// every candidate met was re-sealed).
		w.group, w.after, w.counted, w.found = 0, "", false, 0
	}
	p.Remaining = max(w.left, 1)
	return nil
}

// resealConcurrency is how many secrets a step re-seals at once. One at a
// time, each paid its reads and a Raft round trip (an fsync on a quorum)
// alone; overlapped, the reads share ReadIndex rounds and the proposals
// share entries and fsyncs.
const resealConcurrency = 32

// resealPage re-seals a page's candidates, resealConcurrency at a time,
// and returns how many it re-sealed and the first error. Each candidate is
// its own proposal, so one that fails leaves the others re-sealed.
func (r *replicas) resealPage(ctx context.Context, shard uint64, cands []raftsm.ResealCandidate) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		resealed int
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, resealConcurrency)
	for _, c := range cands {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			done, err := r.resealSecret(ctx, shard, c)
			mu.Lock()
			defer mu.Unlock()
			if done {
				resealed++
			}
			if err != nil && firstErr == nil {
				firstErr = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return resealed, firstErr
}
