package raftnet

import "sync"

// maxValidAddrs bounds the addresses Factory.Validate remembers: a cluster
// has a handful of Raft addresses; past the bound, addresses are checked
// each time as before.
const maxValidAddrs = 256

// validAddrs is the set of addresses Factory.Validate accepted. Checking
// an address (stringutil.IsValidAddress: a split, an Atoi and a hostname
// regular expression) cost about 1.5 % of the managers' CPU during
// concurrent creates (perf), because Dragonboat validates the sender's
// address once for every message it receives. The answer depends only on
// the string, so remembering it changes no decision.
type validAddrs struct {
	mu    sync.RWMutex
	addrs map[string]struct{}
}

func (v *validAddrs) has(addr string) bool {
	v.mu.RLock()
	_, ok := v.addrs[addr]
	v.mu.RUnlock()
	return ok
}

func (v *validAddrs) add(addr string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.addrs == nil {
		v.addrs = map[string]struct{}{}
	}
	if len(v.addrs) < maxValidAddrs {
		v.addrs[addr] = struct{}{}
	}
}
