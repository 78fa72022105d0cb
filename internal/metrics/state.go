package metrics

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is what the daemon implements for the values read on each
// scrape and by /readyz. CollectState must be quick (a scrape waits for it)
// and must not fail: what it cannot read it leaves zero.
type Collector interface {
	CollectState() State
}

// State is a manager's state at one moment, as metrics and readiness see
// it. It holds ids and counts only.
type State struct {
	Initialized bool
	Locked      bool // no key of any kind in memory
	Running     bool // unlocked, replicas started
	Removed     bool // removed from the cluster; its replicas are stopped for good

	// Groups are the Raft groups this manager has a replica of. Known
	// reports whether the daemon filled them: a daemon that cannot tell
	// leaves Known false and readiness says so.
	Groups      []GroupState
	GroupsKnown bool

	// Peers are the other managers, by node id.
	Peers []PeerState

	// ActiveDEK is the DEK new values are sealed under (Version 0: none).
	ActiveDEK DEKState

	Mounts        int // secret mounts on this node
	MountedFiles  int // files in them
	WorkerStreams int // open streams from workers to this manager
}

// GroupState is one Raft group as this manager's replica sees it.
type GroupState struct {
	Group     uint64
	HasLeader bool
	IsLeader  bool
	// Voters is the number of voting members; VotersReachable how many of
	// them (this manager included) answer.
	Voters, VotersReachable int
	// CaughtUp: the replica applied what it knows is committed (within the
	// daemon's tolerance).
	CaughtUp bool
	// Stopped: the replica stopped at an entry it cannot open.
	Stopped bool
}

// PeerState is another manager.
type PeerState struct {
	ID        string // node id; ignored unless IsID
	Reachable bool
}

// DEKState is the active DEK and its rotation limits.
type DEKState struct {
	Version  uint32
	Created  time.Time
	Seals    uint64        // entries sealed under it
	MaxAge   time.Duration // rotation age (0: none)
	MaxSeals uint64        // rotation seal count (0: none)
}

// Readiness is what /readyz asks.
type Readiness interface {
	// Readiness reports whether the manager should receive traffic and,
	// if not, why (one short sentence each, no secret names).
	Readiness() (ready bool, reasons []string)
}

// Readiness is the readiness State implies: unlocked and running, every
// local replica has a leader and is caught up.
func (s State) Readiness() (bool, []string) {
	var why []string
	switch {
	case !s.Initialized:
		why = append(why, "not initialized: run `vault cluster init` or `vault cluster join`")
	case s.Removed:
		why = append(why, "removed from the cluster")
	case s.Locked:
		why = append(why, "locked: run `vault unlock`")
	case !s.Running:
		why = append(why, "not running yet")
	case !s.GroupsKnown:
		why = append(why, "group state unknown")
	}
	if len(why) > 0 {
		return false, why
	}
	for _, g := range s.Groups {
		switch {
		case g.Stopped:
			why = append(why, fmt.Sprintf("group %d: replica stopped (see `vault status`)", g.Group))
		case !g.HasLeader:
			why = append(why, fmt.Sprintf("group %d: no leader", g.Group))
		case !g.CaughtUp:
			why = append(why, fmt.Sprintf("group %d: not caught up", g.Group))
		}
	}
	return len(why) == 0, why
}

// stateCollector turns a State into gauges on every scrape.
type stateCollector struct {
	src atomic.Pointer[Collector] // nil: no scrape-time gauges

	initialized, locked, running         *prometheus.Desc
	hasLeader, isLeader, voters, reachOK *prometheus.Desc
	caughtUp, stopped                    *prometheus.Desc
	peerReachable                        *prometheus.Desc
	dekVersion, dekAge, dekMaxAge        *prometheus.Desc
	dekSeals, dekMaxSeals                *prometheus.Desc
	mounts, mountedFiles, workerStreams  *prometheus.Desc
}

func newStateCollector() *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &stateCollector{
		initialized:   d("initialized", "1 if this node belongs to a cluster."),
		locked:        d("locked", "1 if this manager is locked (no key in memory; it serves nothing secret)."),
		running:       d("running", "1 if this manager is unlocked and its replicas are running."),
		hasLeader:     d("raft_has_leader", "1 if the group's replica on this manager knows a leader.", "group"),
		isLeader:      d("raft_is_leader", "1 if this manager leads the group.", "group"),
		voters:        d("raft_voters", "Voting members of the group.", "group"),
		reachOK:       d("raft_voters_reachable", "Voting members of the group that answer, this manager included.", "group"),
		caughtUp:      d("raft_caught_up", "1 if the group's replica applied what it knows is committed.", "group"),
		stopped:       d("raft_replica_stopped", "1 if the group's replica stopped at an entry it cannot open.", "group"),
		peerReachable: d("peer_reachable", "1 if the manager with this node id answers.", "peer"),
		dekVersion:    d("dek_active_version", "Version of the active DEK (0: none)."),
		dekAge:        d("dek_active_age_seconds", "Age of the active DEK."),
		dekMaxAge:     d("dek_rotation_max_age_seconds", "Age at which the active DEK is rotated (0: no limit)."),
		dekSeals:      d("dek_active_seals", "Entries sealed under the active DEK."),
		dekMaxSeals:   d("dek_rotation_max_seals", "Seal count at which the active DEK is rotated (0: no limit)."),
		mounts:        d("mounts", "Secret mounts on this node."),
		mountedFiles:  d("mounted_files", "Files in this node's secret mounts."),
		workerStreams: d("worker_streams", "Open streams from workers to this manager."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.initialized, c.locked, c.running, c.hasLeader, c.isLeader, c.voters, c.reachOK,
		c.caughtUp, c.stopped, c.peerReachable, c.dekVersion, c.dekAge, c.dekMaxAge,
		c.dekSeals, c.dekMaxSeals, c.mounts, c.mountedFiles, c.workerStreams,
	} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src.Load()
	if src == nil {
		return
	}
	s := (*src).CollectState()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(c.initialized, b2f(s.Initialized))
	g(c.locked, b2f(s.Locked))
	g(c.running, b2f(s.Running))
	seen := map[uint64]bool{}
	for _, gs := range s.Groups {
		if seen[gs.Group] {
			continue // a duplicate would fail the whole scrape
		}
		seen[gs.Group] = true
		l := GroupLabel(gs.Group)
		g(c.hasLeader, b2f(gs.HasLeader), l)
		g(c.isLeader, b2f(gs.IsLeader), l)
		g(c.voters, float64(gs.Voters), l)
		g(c.reachOK, float64(gs.VotersReachable), l)
		g(c.caughtUp, b2f(gs.CaughtUp), l)
		g(c.stopped, b2f(gs.Stopped), l)
	}
	peers := map[string]bool{}
	for _, p := range s.Peers {
		if !IsID(p.ID) || peers[p.ID] {
			continue
		}
		peers[p.ID] = true
		g(c.peerReachable, b2f(p.Reachable), p.ID)
	}
	g(c.dekVersion, float64(s.ActiveDEK.Version))
	age := 0.0
	if s.ActiveDEK.Version != 0 && !s.ActiveDEK.Created.IsZero() {
		age = time.Since(s.ActiveDEK.Created).Seconds()
	}
	g(c.dekAge, age)
	g(c.dekMaxAge, s.ActiveDEK.MaxAge.Seconds())
	g(c.dekSeals, float64(s.ActiveDEK.Seals))
	g(c.dekMaxSeals, float64(s.ActiveDEK.MaxSeals))
	g(c.mounts, float64(s.Mounts))
	g(c.mountedFiles, float64(s.MountedFiles))
	g(c.workerStreams, float64(s.WorkerStreams))
}
