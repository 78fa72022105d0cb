package vault

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// A running manager checks every second that the other managers answer
// (the status call `vault node ls` makes) and which manager leads each
// group, and logs each change once: a peer unreachable, locked or reachable
// again, the quorum lost or regained, a group's leader changed. A failed
// check is retried every second without a line of its own.

// healthInterval is how often a running manager checks its peers.
const healthInterval = time.Second

// healthMisses is how many checks in a row a peer must miss before it is
// logged as unreachable: one slow answer on a loaded machine is not news.
const healthMisses = 2

// peerState is what a manager knows of another one.
type peerState int

const (
	peerReady peerState = iota
	peerLocked
	peerUnreachable
)

// healthEvent is one line for the log.
type healthEvent struct {
	level slog.Level
	msg   string
	attrs []any
}

// health remembers what the log last said, so that each change is said
// once. The zero value is ready: every peer is taken to be reachable and
// the quorum present until a check says otherwise, and the first leader seen
// for a group is not a change.
type health struct {
	peers      map[string]peerState // by node id: as last logged
	misses     map[string]int       // checks missed in a row
	quorumLost bool                 // the quorum was last logged as lost
	leaders    map[uint64]uint64    // by shard: leader replica as last seen, 0 for none

	// The checks keep one connection to each peer: a TLS handshake every
	// second would cost more than the check.
	tm         *tlsMaterial
	transports map[string]*http.Transport // by API address
}

// transport returns the kept transport to addr under this node's TLS
// material, replacing them all when the material changed.
func (h *health) transport(tm *tlsMaterial, addr string) *http.Transport {
	if h.tm != tm {
		h.closeTransports()
		h.tm = tm
	}
	if h.transports == nil {
		h.transports = map[string]*http.Transport{}
	}
	tr := h.transports[addr]
	if tr == nil {
		tr = &http.Transport{TLSClientConfig: tm.clientConfig(addr), MaxIdleConnsPerHost: 1, IdleConnTimeout: 10 * healthInterval}
		h.transports[addr] = tr
	}
	return tr
}

func (h *health) closeTransports() {
	for _, tr := range h.transports {
		tr.CloseIdleConnections()
	}
	h.transports = nil
}

// observe takes one round of checks: the members, the state each peer was
// found in (absent: no answer), and each group's leader (0: none known). It
// returns the changes to log.
func (h *health) observe(self string, members []raftsm.Member, found map[string]peerState, leaders map[uint64]uint64) []healthEvent {
	if h.peers == nil {
		h.peers, h.misses, h.leaders = map[string]peerState{}, map[string]int{}, map[uint64]uint64{}
	}
	var out []healthEvent
	byReplica := map[uint64]string{}
	current := map[string]bool{}
	up := 0
	for _, m := range members {
		byReplica[m.ReplicaID] = m.NodeID
		current[m.NodeID] = true
		if m.NodeID == self {
			up++
			continue
		}
		s, ok := found[m.NodeID]
		if !ok {
			s = peerUnreachable
		}
		was := h.peers[m.NodeID] // zero: ready
		switch {
		case s == peerUnreachable:
			h.misses[m.NodeID]++
			if was != peerUnreachable && h.misses[m.NodeID] >= healthMisses {
				h.peers[m.NodeID] = peerUnreachable
				out = append(out, healthEvent{slog.LevelWarn, "peer unreachable", []any{"node_id", m.NodeID, "addr", m.Addr}})
			}
		case s == was:
			h.misses[m.NodeID] = 0
		case s == peerLocked:
			h.misses[m.NodeID] = 0
			h.peers[m.NodeID] = peerLocked
			out = append(out, healthEvent{slog.LevelWarn, "peer is locked: it serves again after `vault unlock` on it", []any{"node_id", m.NodeID, "addr", m.Addr}})
		default: // ready after locked or unreachable
			h.misses[m.NodeID] = 0
			h.peers[m.NodeID] = peerReady
			out = append(out, healthEvent{slog.LevelInfo, "peer reachable again", []any{"node_id", m.NodeID, "addr", m.Addr}})
		}
		if h.peers[m.NodeID] == peerReady {
			up++
		}
	}
	for id := range h.peers {
		if !current[id] {
			delete(h.peers, id)
			delete(h.misses, id)
		}
	}
	need := len(members)/2 + 1
	switch {
	case len(members) == 0:
	case up < need && !h.quorumLost:
		h.quorumLost = true
		out = append(out, healthEvent{slog.LevelWarn, "quorum lost: writes and linearizable reads wait until managers come back",
			[]any{"reachable", up, "managers", len(members), "need", need}})
	case up >= need && h.quorumLost:
		h.quorumLost = false
		out = append(out, healthEvent{slog.LevelInfo, "quorum regained", []any{"reachable", up, "managers", len(members)}})
	}
	for _, shard := range slices.Sorted(maps.Keys(leaders)) {
		leader := leaders[shard]
		was, seen := h.leaders[shard]
		h.leaders[shard] = leader
		if !seen || was == leader {
			continue
		}
		name := "none"
		if leader != 0 {
			if name = byReplica[leader]; name == "" {
				name = "replica " + strconv.FormatUint(leader, 10)
			}
		}
		out = append(out, healthEvent{slog.LevelInfo, "leader changed", []any{"shard", shard, "leader", name}})
	}
	return out
}

// healthLoop runs the checks until stop is closed.
func (n *Node) healthLoop(stop <-chan struct{}) {
	var h health
	defer h.closeTransports()
	every(stop, healthInterval, func() {
		for _, e := range n.healthOnce(&h) {
			n.log.Log(context.Background(), e.level, e.msg, e.attrs...)
		}
	})
}

func (n *Node) healthOnce(h *health) []healthEvent {
	r := n.current()
	if r == nil {
		return nil
	}
	st, tm := r.st, r.tls
	rec, err := n.staleCluster()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*pingTimeout)
	defer cancel()
	// The same status call as ping, over kept connections.
	var mu sync.Mutex
	var wg sync.WaitGroup
	live := map[string]*peerStatus{st.NodeID: {NodeID: st.NodeID, Ready: true}}
	for _, m := range rec.Members {
		if m.NodeID == st.NodeID {
			continue
		}
		tr := h.transport(tm, m.APIAddr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			var ps peerStatus
			start := time.Now()
			if err := httpsDo(cctx, tr, m.APIAddr, "GET", "/v1/peer/status", nil, &ps); err == nil && ps.NodeID == m.NodeID {
				n.metrics().PeerRoundTrip(m.NodeID, time.Since(start))
				mu.Lock()
				live[m.NodeID] = &ps
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	found := map[string]peerState{}
	for id, ps := range live {
		found[id] = peerReady
		if ps.Locked {
			found[id] = peerLocked
		}
	}
	for id := range lockedPeers(ctx, rec.Members, live) {
		found[id] = peerLocked
	}
	n.healthSeen(rec.Members, found)
	leaders := map[uint64]uint64{}
	for _, shard := range statedir.AllShards(rec.Shards) {
		leader, _, ok, err := r.host().GetLeaderID(shard)
		if err != nil {
			continue // the group is not running here (yet)
		}
		if !ok {
			leader = 0
		}
		leaders[shard] = leader
	}
	return h.observe(st.NodeID, rec.Members, found, leaders)
}
