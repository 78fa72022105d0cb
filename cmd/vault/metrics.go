package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/vault"
)

// nodeState reads a node's state for /metrics and /readyz through its
// exported methods. Per-group leadership, DEK age and the event counters
// need calls inside package vault (docs/monitoring.md, "Wiring"); until
// they are made, this reports what Status, NodeList and Mounts tell.
type nodeState struct {
	n *vault.Node
}

var (
	_ metrics.Collector = nodeState{}
	_ metrics.Readiness = nodeState{}
)

// nodeListTimeout bounds the cluster read a scrape makes; a scrape without
// a quorum reports what this manager last applied.
const nodeListTimeout = 2 * time.Second

func (a nodeState) CollectState() metrics.State {
	st, _ := a.collect()
	return st
}

// collect returns the state and, when known, how many groups have no leader
// (-1: unknown).
func (a nodeState) collect() (metrics.State, int) {
	s := a.n.Status()
	st := metrics.State{
		Initialized: s.Initialized,
		Locked:      s.Locked,
		Removed:     s.Removed,
		Running:     s.Initialized && !s.Locked && !s.Removed && s.ActiveDEK != 0,
	}
	st.ActiveDEK.Version = s.ActiveDEK
	for _, m := range a.n.Mounts() {
		st.Mounts++
		st.MountedFiles += len(m.Secrets)
	}
	leaderless := -1
	if !st.Running {
		return st, leaderless
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodeListTimeout)
	defer cancel()
	nodes, err := a.n.NodeList(ctx)
	if err != nil {
		return st, leaderless
	}
	led, groups := 0, 0
	for _, nd := range nodes {
		led += nd.Leader
		groups = max(groups, nd.Groups)
		if !nd.Self {
			st.Peers = append(st.Peers, metrics.PeerState{ID: nd.ID, Reachable: nd.Status != "unreachable"})
		}
	}
	return st, max(groups-led, 0)
}

// Readiness is State.Readiness with the groups judged from NodeList's
// leader counts: every group must have a leader this manager knows.
func (a nodeState) Readiness() (bool, []string) {
	st, leaderless := a.collect()
	for _, g := range a.n.Status().StoppedGroups {
		st.Groups = append(st.Groups, metrics.GroupState{Group: g.Group, Stopped: true})
	}
	st.GroupsKnown = true
	ok, why := st.Readiness()
	if a := a.n.Status().Audit; a != nil && !a.Healthy && a.Policy == "closed" {
		ok, why = false, append(why, "the audit log cannot be written: secret access is refused (--audit-fail closed): "+a.LastError)
	}
	if !ok || !st.Running {
		return ok, why
	}
	switch {
	case leaderless < 0:
		why = append(why, "cannot read the member list (no quorum?)")
	case leaderless > 0:
		why = append(why, fmt.Sprintf("%d groups have no leader", leaderless))
	}
	return len(why) == 0, why
}

// metricsServer serves /metrics, /healthz and /readyz on the listener
// --metrics-addr opened before the node started.
type metricsServer struct {
	ln  net.Listener
	srv *http.Server
}

func listenMetrics(addr string) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usagef("", "--metrics-addr %q: want HOST:PORT", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	return &metricsServer{ln: ln}, nil
}

// serve starts serving n's metrics; a nil server does nothing.
func (s *metricsServer) serve(n *vault.Node, log *slog.Logger) {
	if s == nil {
		return
	}
	a := nodeState{n}
	m := metrics.New(metrics.Options{Collector: a})
	s.srv = &http.Server{
		Handler:           metrics.Handler(m, a),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Info("serving metrics", "addr", s.ln.Addr().String())
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", "err", err)
		}
	}()
}

func (s *metricsServer) close() {
	if s == nil {
		return
	}
	if s.srv != nil {
		s.srv.Close()
		return
	}
	s.ln.Close()
}
