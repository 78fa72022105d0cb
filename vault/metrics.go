package vault

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// What a node feeds internal/metrics (docs/monitoring.md) when
// Config.Metrics is set. Counters and histograms are counted where things
// happen (a proposal, an apply, a request, a leader change); the gauges a
// scrape reads (leaders, reachability, the active DEK) come from a cache
// that metricsLoop refreshes, so a scrape never waits on Raft.

// metricsInterval is how often metricsLoop refreshes the scrape cache.
const metricsInterval = 2 * time.Second

// caughtUpTimeout bounds the ReadIndex that tells whether a replica is
// caught up: one that does not complete in time is reported behind.
const caughtUpTimeout = time.Second

// fsyncProbeInterval is how often the fsync probe writes a page next to the
// Raft log (metrics.ProbeFsync).
const fsyncProbeInterval = time.Second

// metricsCache is what metricsLoop last read of a running node. Its mutex
// is a leaf.
type metricsCache struct {
	mu     sync.Mutex
	r      *replicas // the running phase it was read from
	groups []metrics.GroupState
	dek    metrics.DEKState
	peers  map[string]bool // node id -> reachable, from the health checks
}

// metrics returns the node's metrics; nil (off) is valid to call.
func (n *Node) metrics() *metrics.Metrics { return n.cfg.Metrics }

// peerRoutePatterns are the manager API's routes (startPeerServer), named
// by RoutePatterns so that their requests are labelled by route.
var peerRoutePatterns = []string{
	"POST /v1/peer/join",
	"GET /v1/peer/status",
	"POST /v1/peer/kek",
	"GET /v1/peer/keyusage",
	"POST /v1/peer/compact",
	"POST /v1/peer/reseal",
	"POST /v1/peer/leave",
}

// RoutePatterns are the patterns of every API route a node serves, the
// local API's and the manager API's: metrics.Options.Routes, the only
// route labels a request is counted under.
func RoutePatterns() []string {
	n := &Node{cfg: Config{Pprof: true}}
	return append(n.routes().patterns, peerRoutePatterns...)
}

// countRequests counts every request h serves by the pattern mux routes it
// to (metrics.RequestDone), refused ones included. Without metrics it is h.
func (n *Node) countRequests(mux *http.ServeMux, h http.Handler) http.Handler {
	m := n.metrics()
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		m.RequestDone(pattern, sw.status(), time.Since(start))
	})
}

// statusWriter remembers the status code of a response. It passes Hijack
// through (exec streams take the connection).
type statusWriter struct {
	http.ResponseWriter
	code     int
	hijacked bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be taken over")
	}
	s.hijacked = true
	return hj.Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// statusNoter is a ResponseWriter told the status of an answer written
// past it, on a connection taken over (wipeAfter).
type statusNoter interface{ noteStatus(code int) }

func (s *statusWriter) noteStatus(code int) {
	if s.code == 0 {
		s.code = code
	}
}

func (s *statusWriter) status() int {
	switch {
	case s.code != 0:
		return s.code
	case s.hijacked:
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}

// countUnlock counts a failed unlock attempt (Unlock defers it once the
// node is known to be locked).
func (n *Node) countUnlock(err *error) {
	if *err != nil {
		n.metrics().UnlockFailed()
	}
}

// healthSeen records which members the health check found ready (absent
// from found: no answer).
func (n *Node) healthSeen(members []raftsm.Member, found map[string]peerState) {
	if n.metrics() == nil {
		return
	}
	peers := make(map[string]bool, len(members))
	for _, m := range members {
		s, ok := found[m.NodeID]
		peers[m.NodeID] = ok && s == peerReady
	}
	n.mcache.mu.Lock()
	n.mcache.peers = peers
	n.mcache.mu.Unlock()
}

// metricsLoop keeps the scrape cache of r fresh and probes the Raft log's
// disk, until r stops.
func (n *Node) metricsLoop(r *replicas) {
	m := n.metrics()
	if m == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(n.cfg.StateDir, statedir.RaftDir)
	if err := m.ProbeFsync(ctx, dir, fsyncProbeInterval); err != nil {
		n.log.Warn("cannot probe the Raft log's disk: the fsync latency metric stays empty", "dir", dir, "err", err)
	}
	n.refreshMetrics(r)
	every(r.stop, metricsInterval, func() { n.refreshMetrics(r) })
	n.mcache.mu.Lock()
	if n.mcache.r == r {
		n.mcache.r, n.mcache.groups = nil, nil
	}
	n.mcache.mu.Unlock()
}

// refreshMetrics reads r's groups and active DEK into the cache.
func (n *Node) refreshMetrics(r *replicas) {
	nh, st := r.host(), r.st
	rec, err := n.staleCluster()
	if err != nil {
		return
	}
	n.mcache.mu.Lock()
	peers := n.mcache.peers
	n.mcache.mu.Unlock()
	reachable := 0
	for _, mb := range rec.Members {
		if mb.NodeID == st.NodeID || peers[mb.NodeID] {
			reachable++
		}
	}
	stopped := map[uint64]bool{}
	for _, g := range n.stoppedGroups() {
		stopped[g.Group] = true
	}
	shards := statedir.AllShards(st.Shards)
	groups := make([]metrics.GroupState, len(shards))
	var wg sync.WaitGroup
	for i, shard := range shards {
		g := metrics.GroupState{Group: shard, Voters: len(rec.Members), VotersReachable: reachable, Stopped: stopped[shard]}
		if leader, _, ok, err := nh.GetLeaderID(shard); err == nil && ok && leader != 0 {
			g.HasLeader, g.IsLeader = true, leader == st.ReplicaID
		}
		groups[i] = g
		if g.Stopped {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			groups[i].CaughtUp = caughtUp(nh, shard)
		}()
	}
	wg.Wait()
	dek := n.activeDEKState(r, nh, rec)
	n.mcache.mu.Lock()
	n.mcache.r, n.mcache.groups, n.mcache.dek = r, groups, dek
	n.mcache.mu.Unlock()
}

// caughtUp reports whether the replica applied what the group committed:
// a ReadIndex completes only once it has.
func caughtUp(nh *dragonboat.NodeHost, shard uint64) bool {
	rs, err := nh.ReadIndex(shard, caughtUpTimeout)
	if err != nil {
		return false
	}
	defer rs.Release()
	select {
	case res := <-rs.ResultC():
		return res.Completed()
	case <-time.After(caughtUpTimeout + 100*time.Millisecond):
		return false
	}
}

// activeDEKState is the active DEK, its age and seals against the rotation
// limits (as rotationDue reads them).
func (n *Node) activeDEKState(r *replicas, nh *dragonboat.NodeHost, rec *raftsm.ClusterRecord) metrics.DEKState {
	var d metrics.DEKState
	k, err := r.ring.Active()
	if err != nil {
		return d
	}
	d.Version = k.Version()
	d.MaxAge, d.MaxSeals = time.Duration(rec.DEKMaxAge), rec.DEKMaxSeals
	if d.MaxAge == 0 {
		d.MaxAge = DefaultDEKMaxAge
	}
	if d.MaxSeals == 0 {
		d.MaxSeals = DefaultDEKMaxSeals
	}
	if sk, err := staleReadAs[*raftsm.StoredKeyring](nh, raftsm.ControlShard, raftsm.QueryKeyringEpoch{}); err == nil && sk != nil {
		if w, err := keys.UnmarshalWrappedKeyring(sk.Ring); err == nil {
			if wd, ok := w.Lookup(d.Version); ok {
				d.Created = time.Unix(0, wd.Created)
			}
		}
	}
	for _, shard := range statedir.AllShards(r.st.Shards) {
		if s, err := staleReadAs[map[uint32]uint64](nh, shard, raftsm.QuerySeals{}); err == nil {
			d.Seals += s[d.Version]
		}
	}
	return d
}

var (
	_ metrics.Collector = (*Node)(nil)
	_ metrics.Readiness = (*Node)(nil)
)

// CollectState is the node's state for /metrics and /readyz: the phase and
// mounts as they are now, groups, peers and the active DEK as metricsLoop
// last read them.
func (n *Node) CollectState() metrics.State {
	s := n.Status()
	st := metrics.State{Initialized: s.Initialized, Locked: s.Locked, Removed: s.Removed, WorkerStreams: n.workerStreams()}
	for _, m := range n.Mounts() {
		st.Mounts++
		st.MountedFiles += len(m.Secrets)
	}
	r := n.current()
	st.Running = r != nil && !s.Removed
	if !st.Running {
		st.ActiveDEK.Version = s.ActiveDEK
		return st
	}
	n.mcache.mu.Lock()
	defer n.mcache.mu.Unlock()
	if n.mcache.r != r {
		st.ActiveDEK.Version = s.ActiveDEK
		return st // not read yet since this phase began
	}
	st.Groups = append([]metrics.GroupState(nil), n.mcache.groups...)
	st.GroupsKnown = true
	st.ActiveDEK = n.mcache.dek
	for id, ok := range n.mcache.peers {
		if id != s.NodeID {
			st.Peers = append(st.Peers, metrics.PeerState{ID: id, Reachable: ok})
		}
	}
	return st
}

// Readiness is what /readyz answers: unlocked, every local replica has a
// leader and is caught up.
func (n *Node) Readiness() (bool, []string) {
	ok, why := n.CollectState().Readiness()
	if a := n.auditStatus(); a != nil && !a.Healthy && a.Policy == "closed" {
		ok, why = false, append(why, "the audit log cannot be written: secret access is refused (--audit-fail closed): "+a.LastError)
	}
	return ok, why
}

// raftObserver is what the state machines report to (nil without metrics).
func (n *Node) raftObserver() raftsm.Observer {
	if m := n.metrics(); m != nil {
		return m
	}
	return nil
}
