package vault

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// listPart is how few records are worth a goroutine of their own when a
// page is opened (below it, the hand-off costs more than it saves).
const listPart = 512

// encodedPart is part of a page of a listing, opened and encoded: n
// elements, separated by ",\n" (api.SecretListWriter.AddEncoded).
type encodedPart struct {
	b []byte
	n int
}

// encodePage opens a page's records and encodes them (whole secrets, or
// only id and name) on up to GOMAXPROCS goroutines, each taking a
// contiguous run, and returns the runs in the page's order. Opening (the
// AEAD and the decode) is most of a listing's CPU, and one goroutine per
// request would leave the other cores to the client and the read-ahead.
// The error is the first record's, in page order, that failed.
func (r *replicas) encodePage(shard uint64, secrets []raftsm.StoredSecret, keysOnly bool) ([]encodedPart, error) {
	parts := min(runtime.GOMAXPROCS(0), (len(secrets)+listPart-1)/listPart)
	if parts <= 1 {
		p, err := r.encodeRun(shard, secrets, keysOnly)
		return []encodedPart{p}, err
	}
	out := make([]encodedPart, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		run := secrets[i*len(secrets)/parts : (i+1)*len(secrets)/parts]
		if i == 0 {
			continue // this goroutine's own, below
		}
		wg.Go(func() { out[i], errs[i] = r.encodeRun(shard, run, keysOnly) })
	}
	out[0], errs[0] = r.encodeRun(shard, secrets[:len(secrets)/parts], keysOnly)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// encodeRun opens and encodes a run of a page's records.
func (r *replicas) encodeRun(shard uint64, secrets []raftsm.StoredSecret, keysOnly bool) (encodedPart, error) {
	per := 320
	if keysOnly {
		per = 64
	}
	b := make([]byte, 0, len(secrets)*per)
	for i := range secrets {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		s := &secrets[i]
		if keysOnly {
			name, err := raftsm.OpenRecordName(r.ring, shard, s.ID, s.Sealed)
			if err != nil {
				return encodedPart{}, fmt.Errorf("open record of secret %s in shard %d: %w", s.ID, shard, err)
			}
			b = api.AppendSecretKey(b, s.ID, name)
			continue
		}
		e, err := r.openStored(shard, s)
		if err != nil {
			return encodedPart{}, err
		}
		b = api.AppendSecret(b, toAPISecret(&e.rec))
		e.rec.WipeKeys()
	}
	return encodedPart{b: b, n: len(secrets)}, nil
}
