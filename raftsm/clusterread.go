package raftsm

import (
	"encoding/binary"
	"sync/atomic"
)

// clusterRead keeps the cluster record a QueryCluster read last, so that
// reads between two changes of the control shard do not each get it from
// Pebble (every secret inspect reads it for the grants it shows). The
// record is sealed; the copy holds no plaintext.
//
// epoch counts the batches the replica committed. A read takes the epoch
// before it reads the store and keeps what it read under that epoch; a
// batch bumps the epoch only after its commit, so a record kept under the
// current epoch was read after every committed change. A recovered
// snapshot changes the generation, which the kept record also names.
type clusterRead struct {
	epoch atomic.Uint64
	kept  atomic.Pointer[keptCluster]
}

type keptCluster struct {
	epoch, gen uint64
	c          *StoredCluster
}

// clusterChanged is called after each committed batch (and recovery).
func (s *StateMachine) clusterChanged() { s.clusterRead.epoch.Add(1) }

// readCluster answers QueryCluster, with s.mu read-locked.
func (s *StateMachine) readCluster(key []byte) (*StoredCluster, error) {
	epoch := s.clusterRead.epoch.Load()
	if k := s.clusterRead.kept.Load(); k != nil && k.epoch == epoch && k.gen == s.gen {
		return k.c, nil
	}
	v, err := s.store.get(key)
	if err != nil || len(v) < 8 {
		return nil, err
	}
	c := &StoredCluster{Gen: binary.BigEndian.Uint64(v), Sealed: v[8:]}
	s.clusterRead.kept.Store(&keptCluster{epoch: epoch, gen: s.gen, c: c})
	return c, nil
}
