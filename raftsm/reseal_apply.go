package raftsm

import (
	"encoding/binary"

	sm "github.com/lni/dragonboat/v4/statemachine"
)

// applyReseal applies one secret.reseal (alone or in a batch). It gives
// the same result and writes the same keys as applySecret would, without
// looking the name up: a re-seal is bound to the object and its
// generation, never to the name (see applySecret), and a full rotation
// paid that Pebble read on every replica for every secret. The data
// versions it carries are still each checked before they are written, so
// one that no longer exists is never brought back.
func (a *applier) applyReseal(w *SecretWrite, index uint64) (sm.Result, error) {
	osub := append([]byte{subObject}, w.ID...)
	if !a.idx.mayHave(osub) {
		return sm.Result{Value: ResultNotFound}, nil
	}
	ok := a.key(osub...)
	obj, err := a.get(ok)
	if err != nil {
		return sm.Result{}, err
	}
	if len(obj) < 8 {
		return sm.Result{Value: ResultNotFound}, nil
	}
	if w.ExpectGen == 0 || binary.BigEndian.Uint64(obj) != w.ExpectGen || w.PruneBelow > 1 || w.Version != 0 {
		// Validate refuses a re-seal without ExpectGen or with a new
		// version; anything unusual takes the general path.
		return a.applySecret(OpSecretReseal, w, index)
	}
	gen := u64(index)
	if err := a.b.Set(ok, append(gen, w.Record...), nil); err != nil {
		return sm.Result{}, err
	}
	return a.resealData(w, gen)
}
