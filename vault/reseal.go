package vault

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

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

// A step's page is re-sealed in batches: each is one secret.reseal-batch
// entry of up to resealBatchSecrets secrets and resealBatchBytes bytes
// (under raftsm's bounds), and up to resealBatchesInFlight of them are
// sealed and proposed at once. One entry per secret paid the sealing,
// framing, LogDB write and apply of an entry for each; a batch pays them
// once, and leaves the Raft pipeline to the creates beside it.
const (
	resealBatchSecrets     = 128
	resealBatchBytes       = raftsm.MaxResealBatchBytes * 7 / 8
	resealBatchesInFlight  = 4
	resealCandidateReserve = 256 // bytes an encoded write adds to its sealed contents
)

// resealPage re-seals a page's candidates and returns how many it
// re-sealed and the first error. A batch that fails leaves the others
// re-sealed; its secrets are candidates again for the next step.
func (r *replicas) resealPage(ctx context.Context, shard uint64, cands []raftsm.ResealCandidate) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		resealed int
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, resealBatchesInFlight)
	for _, chunk := range resealChunks(cands) {
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
			done, err := r.resealBatch(ctx, shard, chunk)
			mu.Lock()
			defer mu.Unlock()
			resealed += done
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

// resealChunks cuts candidates into batches by count and by their sealed
// size (a re-sealed copy is the same size as the sealed one it replaces).
func resealChunks(cands []raftsm.ResealCandidate) [][]raftsm.ResealCandidate {
	var out [][]raftsm.ResealCandidate
	start, size := 0, 0
	for i, c := range cands {
		n := resealCandidateReserve + len(c.Sealed)
		for _, d := range c.Data {
			n += resealCandidateReserve + len(d.Data)
		}
		if i > start && (i-start == resealBatchSecrets || size+n > resealBatchBytes) {
			out = append(out, cands[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(cands) {
		out = append(out, cands[start:])
	}
	return out
}

// resealBatch seals a batch's candidates under the active DEK and proposes
// them as one secret.reseal-batch entry, or one secret.reseal each if they
// do not fit one entry (a secret larger than a batch, or a re-sealed copy
// larger than estimated). It returns how many the apply took.
func (r *replicas) resealBatch(ctx context.Context, shard uint64, cands []raftsm.ResealCandidate) (int, error) {
	writes := make([]*raftsm.SecretWrite, 0, len(cands))
	size := 0
	for _, c := range cands {
		w, err := r.sealReseal(shard, c)
		if err != nil {
			return 0, err
		}
		writes = append(writes, w)
		size += w.Size()
	}
	if len(writes) == 1 || size > raftsm.MaxResealBatchBytes {
		done := 0
		for _, w := range writes {
			ok, err := r.proposeReseal(ctx, shard, w)
			if err != nil {
				return done, err
			}
			if ok {
				done++
			}
		}
		return done, nil
	}
	res, err := r.propose(ctx, shard, &raftsm.Command{Op: raftsm.OpSecretResealBatch, RequestID: newRequestID(), Time: time.Now().UnixNano(), Secrets: writes})
	if err != nil {
		return 0, err
	}
	if res.Value != raftsm.ResultOK || len(res.Data) != 8 {
		return 0, fmt.Errorf("re-seal batch in group %d: unexpected result %d", shard, res.Value)
	}
	done := int(binary.BigEndian.Uint64(res.Data))
	if done < len(writes) {
		r.node.log.Info("re-seals did not apply (changed or removed since read); the next pass takes them again", "shard", shard, "batch", len(writes), "applied", done)
	}
	return done, nil
}
