package raftsm

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// A full rotation re-seals what each replica stores on that replica: every
// secret record, and every data version still sealed under a DEK (one
// written before data keys), not sealed under the target DEK is opened
// with the node's keyring and sealed again under the target, in place.
// Nothing goes through the Raft log: the stored value changes, what it
// holds does not (the same record, the same generation), so the replicas
// keep the same state while each holds its own ciphertext of it. Through
// the log, each re-seal cost an entry, its replication and its apply on
// every replica, and competed with the writes beside it (100k secrets: 65
// to 115 s); here it costs an open and a seal per value per replica.
//
// A value written under an older DEK after the pass (an entry proposed
// before the rotation and applied late, on a replica that lagged) is found
// by the next pass: the rotation ends only when every manager counts
// nothing left (QueryResealPage's Count) and the key status of every
// manager shows no value under an older DEK.

// ResealLocalBatch bounds the secrets one ResealLocal call re-seals, and
// resealLocalScan those it looks at: the shard's applies wait while it
// runs.
const (
	ResealLocalBatch = 64
	resealLocalScan  = 1024
)

// ResealLocal re-seals, in this replica's store, up to max secrets (their
// records and their data versions under a DEK) not sealed under target,
// walking the shard in id order after the id after. It returns how many
// secrets it re-sealed, the id to continue after, and whether the walk
// has secrets left. ks opens what is stored; target is the DEK to seal
// under. Values that do not open stop it with the error.
func (s *StateMachine) ResealLocal(ks crypto.KeySource, target *crypto.Key, after string, max int) (n int, next string, more bool, err error) {
	s.mu.Lock() // no apply, recovery or close while values change under it
	defer s.mu.Unlock()
	if s.closed {
		return 0, after, false, ErrClosed
	}
	if f := s.failed.Load(); f != nil {
		return 0, after, false, f
	}
	tv := target.Version()
	key := func(sub ...byte) []byte { return dataKey(s.shard, s.gen, sub...) }
	objBase, dataBase := key(subObject), key(subData)
	lower := objBase
	if after != "" {
		lower = append(append(bytes.Clone(objBase), after...), 0)
	}
	next = after
	err = s.store.with(func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		dekData := false
		it := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(objBase)})
		defer it.Close()
		// The data versions, walked beside the records in id order.
		dit := db.NewIter(&pebble.IterOptions{LowerBound: dataBase, UpperBound: prefixEnd(dataBase)})
		defer dit.Close()
		scanned := 0
		for it.First(); it.Valid(); it.Next() {
			if n == max || scanned == resealLocalScan {
				more = true
				break
			}
			scanned++
			k, v := it.Key(), it.Value()
			id := string(k[len(objBase):])
			if len(v) < 8 {
				continue
			}
			touched := false
			if kv, err := crypto.EnvelopeKeyVersion(v[8:]); err != nil || kv != tv {
				sealed, err := reseal(ks, target, ValueBinding(s.shard, RecordObject(id)), v[8:])
				if err != nil {
					return fmt.Errorf("re-seal the record of secret %s in group %d: %w", id, s.shard, err)
				}
				if err := b.Set(k, append(bytes.Clone(v[:8]), sealed...), nil); err != nil {
					return err
				}
				touched = true
			}
			// The secret's data versions still under a DEK: their pointers
			// say so without reading the values (datalayout.go).
			prefix := append(append(bytes.Clone(dataBase), id...), 0)
			for dit.SeekGE(prefix); dit.Valid() && bytes.HasPrefix(dit.Key(), prefix); dit.Next() {
				dk, dv := dit.Key(), dit.Value()
				if len(dk) != len(prefix)+4 {
					continue
				}
				kv, dek := storedKeyVersion(dv)
				if !dek || kv == tv {
					continue
				}
				version := binary.BigEndian.Uint32(dk[len(prefix):])
				at, sealed := bytes.Clone(dk), dv
				if isPointer(dv) {
					at = key(dataAtSub(binary.BigEndian.Uint64(dv), id)...)
					var err error
					if sealed, err = getCopy(db, at); err != nil {
						return err
					}
				}
				resealed, err := reseal(ks, target, ValueBinding(s.shard, DataObject(id, version)), sealed)
				if err != nil {
					return fmt.Errorf("re-seal version %d of secret %s in group %d: %w", version, id, s.shard, err)
				}
				if isPointer(dv) {
					if err := b.Set(bytes.Clone(dk), dataPointer(binary.BigEndian.Uint64(dv), resealed), nil); err != nil {
						return err
					}
				}
				if err := b.Set(at, resealed, nil); err != nil {
					return err
				}
				touched, dekData = true, true
			}
			if err := dit.Error(); err != nil {
				return err
			}
			if touched {
				n++
			}
			next = id
		}
		if !more {
			next = ""
		}
		if err := it.Error(); err != nil {
			return err
		}
		if b.Empty() {
			return nil
		}
		if dekData {
			return s.store.commitDEKData(b, pebble.NoSync)
		}
		return b.Commit(pebble.NoSync)
	})
	return n, next, more, err
}

// reseal opens sealed under ks and seals the plaintext under target, with
// the same binding; the plaintext is wiped.
func reseal(ks crypto.KeySource, target *crypto.Key, bind crypto.Binding, sealed []byte) ([]byte, error) {
	b, err := crypto.Open(ks, bind, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return crypto.Seal(target, bind, b)
}
