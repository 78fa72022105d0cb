package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/vault"
)

func TestDaemonObservabilityFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"log format", []string{"daemon", "--log-format", "xml"}, `vault: error: --log-format "xml": want text or json`},
		{"metrics address", []string{"daemon", "--metrics-addr", "9470"}, `vault: error: --metrics-addr "9470": want HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "--state-dir", t.TempDir())
			r := runCLI(t, "", args...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestNodeMetrics serves a real in-process node's /readyz and /metrics, the
// node feeding its Config.Metrics: not ready before init; ready once its
// groups have leaders, with the per-group gauges, the proposals it made, the
// requests it served and the active DEK; not ready and locked after a lock.
func TestNodeMetrics(t *testing.T) {
	dir := t.TempDir()
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	raft, apiPort := ports[0], ports[1]
	m := metrics.New(metrics.Options{Routes: vault.RoutePatterns()})
	cfg := vault.Config{
		Metrics:    m,
		StateDir:   filepath.Join(dir, "state"),
		SocketPath: filepath.Join(dir, "vault.sock"),
		ListenAddr: fmt.Sprintf("127.0.0.1:%d", raft),
		APIAddr:    fmt.Sprintf("127.0.0.1:%d", apiPort),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := vault.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	m.SetCollector(n)
	srv := httptest.NewServer(metrics.Handler(m, n))
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ready := func() (int, metrics.ReadyBody) {
		t.Helper()
		code, body := get("/readyz")
		var rb metrics.ReadyBody
		if err := json.Unmarshal([]byte(body), &rb); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return code, rb
	}
	// waitReady polls /readyz until it answers code with a reason
	// containing want ("" for none).
	waitReady := func(code int, want string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			c, rb := ready()
			if c == code && (want == "" || slices.ContainsFunc(rb.Reasons, func(r string) bool { return strings.Contains(r, want) })) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %d %+v, want %d with %q", c, rb, code, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wantMetrics := func(lines ...string) {
		t.Helper()
		code, text := get("/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, l := range lines {
			if !strings.Contains(text, "\n"+l+"\n") {
				t.Errorf("/metrics lacks %q", l)
			}
		}
	}

	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	waitReady(503, "not initialized")
	wantMetrics("vaultd_initialized 0", "vaultd_running 0")

	if _, err := n.Init(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitReady(200, "")
	wantMetrics("vaultd_initialized 1", "vaultd_running 1", "vaultd_locked 0", "vaultd_dek_active_version 1",
		`vaultd_raft_has_leader{group="1"} 1`, `vaultd_raft_is_leader{group="2"} 1`, `vaultd_raft_voters{group="1"} 1`,
		`vaultd_raft_voters_reachable{group="1"} 1`, `vaultd_raft_caught_up{group="1"} 1`,
		`vaultd_dek_rotation_max_age_seconds 2.592e+06`)

	// A secret created over the socket: a proposal committed and applied,
	// a seal under DEK 1, the request counted under its route (never its
	// name).
	c := api.NewClient(cfg.SocketPath)
	if _, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: "metrics-probe-name", Data: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	// A request is counted once its handler returns, which for a secret
	// write is after the answer went out (the connection is taken over to
	// wipe its buffer): the scrape may come first, so wait a moment.
	var text string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, text = get("/metrics"); strings.Contains(text, `route="POST /v1/secrets"`) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`vaultd_requests_total{code="200",route="POST /v1/secrets"} 1`,
		`vaultd_seals_total{dek_version="1"} `,
		`vaultd_opens_total{dek_version="1"} `,
		`vaultd_raft_proposals_committed_total{group="2"} `,
		`vaultd_raft_proposals_applied_total{group="2"} `,
		`vaultd_raft_proposals_pending{group="2"} 0`,
		`vaultd_raft_leader_changes_seen_total{group="2"} 1`,
		`vaultd_raft_apply_duration_seconds_count `,
	} {
		if !strings.Contains(text, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, "metrics-probe-name") {
		t.Error("/metrics holds a secret's name")
	}

	if _, err := n.SetAutolock(ctx, &api.AutolockRequest{Enable: true}); err != nil {
		t.Fatal(err)
	}
	if err := n.Lock(ctx, true); err != nil { // the only manager: force
		t.Fatal(err)
	}
	waitReady(503, "locked")
	wantMetrics("vaultd_locked 1", "vaultd_running 0")

	// A wrong unlock key is counted; a request refused while locked is
	// counted under its route with the refusal's status.
	if _, err := n.Unlock(ctx, "not-a-key"); err == nil {
		t.Fatal("unlock with a wrong key succeeded")
	}
	if _, err := c.Secrets(ctx); err == nil {
		t.Fatal("a locked node listed secrets")
	}
	_, text = get("/metrics")
	if !strings.Contains(text, "\nvaultd_unlock_attempts_failed_total 1\n") {
		t.Error("/metrics does not count the failed unlock")
	}
	refused := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "vaultd_requests_total{") && strings.Contains(l, `route="GET /v1/secrets"`) && !strings.Contains(l, `code="200"`) {
			refused = true
		}
	}
	if !refused {
		t.Error("/metrics does not count the request refused while locked")
	}
}
