package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/vault"
)

// metricsServer serves /metrics, /healthz and /readyz on the listener
// --metrics-addr opened before the node started.
type metricsServer struct {
	ln  net.Listener
	m   *metrics.Metrics // given to the node as vault.Config.Metrics
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
	return &metricsServer{ln: ln, m: metrics.New(metrics.Options{Routes: vault.RoutePatterns()})}, nil
}

// metrics is what the node feeds (nil without --metrics-addr: the node
// then counts nothing).
func (s *metricsServer) metrics() *metrics.Metrics {
	if s == nil {
		return nil
	}
	return s.m
}

// serve starts serving n's metrics; a nil server does nothing.
func (s *metricsServer) serve(n *vault.Node, log *slog.Logger) {
	if s == nil {
		return
	}
	s.m.SetCollector(n)
	s.srv = &http.Server{
		Handler:           metrics.Handler(s.m, n),
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
