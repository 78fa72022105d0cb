// Package metrics owns what a vault daemon exposes to Prometheus: one
// registry holding every vault metric, the typed calls the daemon makes
// when something happens (a request served, a leader change, a seal), a
// Collector hook for values read at scrape time (locked, leaders, the
// active DEK's age), Dragonboat's own metrics, and the HTTP handlers
// /metrics, /healthz and /readyz (see Handler).
//
// # Names
//
// Every metric is named vaultd_*. HashiCorp Vault exports vault_*, and many
// sites scrape both; a vault_ prefix here would mix two products' series
// under one name (vault_core_unsealed and a vault_locked would read as one
// family in a dashboard's autocompletion, and a rule written for one
// product could match the other). "vaultd" is the daemon's name and no
// HashiCorp metric starts with it. Dragonboat's metrics keep their own
// dragonboat_* names. docs/monitoring.md lists every name; a test checks
// that list against the registry.
//
// # Invariants
//
//   - Labels never carry a secret's name or any value an API caller chose.
//     Every label value comes from a fixed set or an id: group is a Raft
//     group number, route is one of the patterns given in Options.Routes
//     (anything else is counted as "other"), code is an HTTP status number,
//     dek_version a key version, peer a manager's node id (random, made by
//     the cluster, checked by IsID).
//   - Typed calls never block and never fail; a nil *Metrics accepts every
//     call and does nothing, so code paths need no "metrics enabled" checks.
//   - Values read at scrape time come from the Collector in one call, so a
//     scrape sees one consistent State.
package metrics

import (
	"io"
	"strconv"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every vault metric (see the package doc for why it is
// not "vault").
const Namespace = "vaultd"

// OtherRoute is the route label of a request whose route is not one of
// Options.Routes.
const OtherRoute = "other"

// Options configures New. The zero value is valid.
type Options struct {
	// Routes are the request routes (HTTP mux patterns such as
	// "POST /v1/secrets") RequestDone may label with; any other route is
	// counted as OtherRoute. They are fixed strings from the daemon's code,
	// never a request path (which may hold a secret's name).
	Routes []string

	// Collector is read on every scrape; nil leaves the scrape-time gauges
	// out until SetCollector gives one.
	Collector Collector

	// Dragonboat writes Dragonboat's metrics in Prometheus text format.
	// nil means dragonboat.WriteHealthMetrics (the process-wide
	// VictoriaMetrics set Dragonboat registers into). Set NoDragonboat to
	// leave them out.
	Dragonboat   func(io.Writer)
	NoDragonboat bool

	// NoProcess leaves out the Go runtime and process collectors
	// (go_*, process_*).
	NoProcess bool
}

// Metrics is a daemon's registry and its metrics. Make one with New; a nil
// *Metrics is valid and records nothing.
type Metrics struct {
	reg      *prometheus.Registry
	gatherer prometheus.Gatherer
	routes   map[string]bool
	state    *stateCollector

	leaderChanges      *prometheus.CounterVec
	proposalsCommitted *prometheus.CounterVec
	proposalsApplied   *prometheus.CounterVec
	proposalsPending   *prometheus.GaugeVec
	proposalsFailed    *prometheus.CounterVec

	fsyncDuration   prometheus.Histogram
	applyDuration   prometheus.Histogram
	snapSaveDur     prometheus.Histogram
	snapSaveBytes   prometheus.Histogram
	snapRecvDur     prometheus.Histogram
	snapRecvBytes   prometheus.Histogram
	peerRTT         *prometheus.HistogramVec
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	seals           *prometheus.CounterVec
	opens           *prometheus.CounterVec
	unlockFailed    prometheus.Counter
	auditFailures   prometheus.Counter
}

// Buckets for the latency histograms. The disk ones resolve the 10 ms
// fsync alert (docs/monitoring.md) like etcd's: from 1 ms, doubling.
var (
	diskBuckets    = prometheus.ExponentialBuckets(0.001, 2, 14) // 1 ms .. 8 s
	requestBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)
	rttBuckets     = prometheus.ExponentialBuckets(0.0001, 2, 16) // 0.1 ms .. 3.3 s
	sizeBuckets    = prometheus.ExponentialBuckets(1024, 4, 10)   // 1 KiB .. 256 MiB
)

// New makes the registry and registers every metric.
func New(o Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, routes: map[string]bool{}}
	for _, r := range o.Routes {
		m.routes[r] = true
	}
	f := factory{reg}
	groupL := []string{"group"}

	m.leaderChanges = f.counterVec("raft_leader_changes_seen_total", "Leader changes this manager saw in the group.", groupL)
	m.proposalsCommitted = f.counterVec("raft_proposals_committed_total", "Proposals this manager made that the group committed.", groupL)
	m.proposalsApplied = f.counterVec("raft_proposals_applied_total", "Entries this manager's replica applied.", groupL)
	m.proposalsPending = f.gaugeVec("raft_proposals_pending", "Proposals this manager made that are not yet committed or failed.", groupL)
	m.proposalsFailed = f.counterVec("raft_proposals_failed_total", "Proposals this manager made that failed (timeout, dropped, rejected).", groupL)

	m.fsyncDuration = f.histogram("logdb_fsync_duration_seconds", "Time the Raft log database took to make a write durable (fsync).", diskBuckets)
	m.applyDuration = f.histogram("raft_apply_duration_seconds", "Time the state machine took to apply one batch of committed entries.", diskBuckets)
	m.snapSaveDur = f.histogram("snapshot_save_duration_seconds", "Time to save a Raft snapshot.", diskBuckets)
	m.snapSaveBytes = f.histogram("snapshot_save_size_bytes", "Size of a saved Raft snapshot.", sizeBuckets)
	m.snapRecvDur = f.histogram("snapshot_receive_duration_seconds", "Time to receive and recover from a snapshot sent by the leader.", diskBuckets)
	m.snapRecvBytes = f.histogram("snapshot_receive_size_bytes", "Size of a snapshot received from the leader.", sizeBuckets)

	m.peerRTT = f.histogramVec("peer_round_trip_time_seconds", "Round trip time of a request to another manager.", rttBuckets, []string{"peer"})

	m.requests = f.counterVec("requests_total", "API requests served, by route pattern and HTTP status.", []string{"route", "code"})
	m.requestDuration = f.histogramVec("request_duration_seconds", "API request latency by route pattern.", requestBuckets, []string{"route"})

	m.seals = f.counterVec("seals_total", "Log entries sealed for proposals made here, by DEK version.", []string{"dek_version"})
	m.opens = f.counterVec("opens_total", "Log entries opened to apply them, by DEK version.", []string{"dek_version"})

	m.unlockFailed = f.counter("unlock_attempts_failed_total", "Unlock attempts that failed (wrong key or share).")
	m.auditFailures = f.counter("audit_write_failures_total", "Audit records that could not be written.")

	m.state = newStateCollector()
	reg.MustRegister(m.state)
	if o.Collector != nil {
		m.SetCollector(o.Collector)
	}
	if !o.NoProcess {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.gatherer = reg
	if !o.NoDragonboat {
		w := o.Dragonboat
		if w == nil {
			w = dragonboat.WriteHealthMetrics
		}
		m.gatherer = prometheus.Gatherers{reg, textGatherer(w)}
	}
	return m
}

// Registry is the registry holding vault's metrics (not Dragonboat's: see
// Gatherer).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Gatherer gathers everything /metrics serves: vault's registry and
// Dragonboat's metrics.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.gatherer }

// SetCollector sets (or replaces) the Collector read on each scrape: a
// daemon makes its Metrics before the node that implements Collector.
func (m *Metrics) SetCollector(c Collector) {
	if m == nil {
		return
	}
	m.state.src.Store(&c)
}

// GroupLabel is the label value of a Raft group.
func GroupLabel(group uint64) string { return strconv.FormatUint(group, 10) }

// LeaderChanged records that the group's replica on this manager learned of
// a new leader (Dragonboat's RaftEventListener.LeaderUpdated). leader 0
// means no leader: it is not counted as a change.
func (m *Metrics) LeaderChanged(group, leader uint64) {
	if m == nil || leader == 0 {
		return
	}
	m.leaderChanges.WithLabelValues(GroupLabel(group)).Inc()
}

// ProposalStarted records a proposal this manager made to the group; call
// ProposalDone with its outcome.
func (m *Metrics) ProposalStarted(group uint64) {
	if m == nil {
		return
	}
	m.proposalsPending.WithLabelValues(GroupLabel(group)).Inc()
}

// ProposalDone records the outcome of a proposal ProposalStarted counted:
// err nil means committed, anything else failed.
func (m *Metrics) ProposalDone(group uint64, err error) {
	if m == nil {
		return
	}
	g := GroupLabel(group)
	m.proposalsPending.WithLabelValues(g).Dec()
	if err != nil {
		m.proposalsFailed.WithLabelValues(g).Inc()
		return
	}
	m.proposalsCommitted.WithLabelValues(g).Inc()
}

// Applied records that the group's state machine applied n entries in d.
func (m *Metrics) Applied(group uint64, n int, d time.Duration) {
	if m == nil {
		return
	}
	m.proposalsApplied.WithLabelValues(GroupLabel(group)).Add(float64(n))
	m.applyDuration.Observe(d.Seconds())
}

// Fsynced records one durable write of the Raft log database.
func (m *Metrics) Fsynced(d time.Duration) {
	if m == nil {
		return
	}
	m.fsyncDuration.Observe(d.Seconds())
}

// SnapshotSaved records a snapshot this manager saved.
func (m *Metrics) SnapshotSaved(d time.Duration, size int64) {
	if m == nil {
		return
	}
	m.snapSaveDur.Observe(d.Seconds())
	m.snapSaveBytes.Observe(float64(size))
}

// SnapshotReceived records a snapshot this manager received and recovered
// from.
func (m *Metrics) SnapshotReceived(d time.Duration, size int64) {
	if m == nil {
		return
	}
	m.snapRecvDur.Observe(d.Seconds())
	m.snapRecvBytes.Observe(float64(size))
}

// PeerRoundTrip records the round trip of a request to the manager with
// node id peer. A peer that is not an id (IsID) is not recorded.
func (m *Metrics) PeerRoundTrip(peer string, d time.Duration) {
	if m == nil || !IsID(peer) {
		return
	}
	m.peerRTT.WithLabelValues(peer).Observe(d.Seconds())
}

// RequestDone records an API request served under the mux pattern route
// with HTTP status code in d. A route not in Options.Routes is counted as
// OtherRoute.
func (m *Metrics) RequestDone(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if !m.routes[route] {
		route = OtherRoute
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.requestDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Sealed records one value or log entry sealed under DEK version v.
func (m *Metrics) Sealed(v uint32) {
	if m == nil {
		return
	}
	m.seals.WithLabelValues(strconv.FormatUint(uint64(v), 10)).Inc()
}

// Opened records one value or log entry opened under DEK version v.
func (m *Metrics) Opened(v uint32) {
	if m == nil {
		return
	}
	m.opens.WithLabelValues(strconv.FormatUint(uint64(v), 10)).Inc()
}

// UnlockFailed records a failed unlock attempt.
func (m *Metrics) UnlockFailed() {
	if m == nil {
		return
	}
	m.unlockFailed.Inc()
}

// AuditWriteFailed records an audit record that could not be written.
func (m *Metrics) AuditWriteFailed() {
	if m == nil {
		return
	}
	m.auditFailures.Inc()
}

// IsID reports whether s can be a node id label: 1 to 64 characters of
// lower-case letters, digits and '-'. Node ids are random strings the
// cluster makes; the check keeps an arbitrary string out of a label.
func IsID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// factory registers metrics in the vaultd namespace.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels []string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels []string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
