package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestSmokeSwarmOneManager is --vs swarm --managers 1: a one-manager vault
// cluster beside a single-manager Swarm, every workload measured, the sole
// manager restarted, and the header saying how many managers each side has.
func TestSmokeSwarmOneManager(t *testing.T) {
	requireNoSwarm(t)
	cfg := Config{Vault: vaultBin, Peer: PeerSwarm, Managers: 1, Duration: time.Second, Clients: 4, Preload: 50, Dir: t.TempDir()}
	var log bytes.Buffer
	r, err := Run(context.Background(), cfg, &log)
	if st, id := swarmState(t); st != "inactive" {
		t.Errorf("the run left dockerd in a swarm (%s, node %s)", st, id)
	}
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &log)
	}
	if r.Config.Managers != 1 {
		t.Errorf("the report says %d managers", r.Config.Managers)
	}
	if len(r.Workloads) != 4 {
		t.Fatalf("%d workloads, want 4", len(r.Workloads))
	}
	for _, w := range r.Workloads {
		if len(w.Placement) > 0 {
			t.Errorf("%s ran on a chosen member of a one-member system: %+v", w.Name, w.Placement)
		}
	}
	for _, w := range r.Workloads {
		for who, m := range map[string]*Measure{"vault": w.Vault, PeerSwarm: w.Peer} {
			if m == nil || m.Ops == 0 || m.Errors > 0 || m.ServerCPU <= 0 {
				t.Errorf("%s on %s: %+v", w.Name, who, m)
			}
		}
	}
	if len(r.Scale) != 2 {
		t.Fatalf("scale: %+v", r.Scale)
	}
	if v := r.Scale[0]; len(v.RSS) != 1 || len(v.Disk) != 1 || v.Keys < cfg.Preload || v.ServeS <= 0 || v.NotRestarted != "" {
		t.Errorf("vault's scale with one manager (restarted: the whole cluster): %+v", v)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vault-bench: vault (1 manager) vs swarm: Docker", "single manager"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the header lacks %q:\n%s", want, &text)
		}
	}
	t.Logf("\n%s", &text)
}
