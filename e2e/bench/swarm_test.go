package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// swarmState is dockerd's swarm node state and node id.
func swarmState(t *testing.T) (state, nodeID string) {
	t.Helper()
	d := newDockerAPI(DefaultDockerSocket)
	defer d.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	i, err := d.info(ctx)
	if err != nil {
		// CI runs as root with dockerd running: there its absence is a
		// missing install step.
		if os.Getuid() != 0 {
			t.Skipf("no dockerd on %s (%v): not root, not measuring Swarm", DefaultDockerSocket, err)
		}
		t.Fatalf("dockerd on %s: %v (apt-get install -y docker.io, and start dockerd)", DefaultDockerSocket, err)
	}
	return i.Swarm.LocalNodeState, i.Swarm.NodeID
}

// requireNoSwarm fails the test unless dockerd is outside any swarm, as
// CI's is: the bench refuses to run beside a swarm, and the tests never
// touch one they did not make.
func requireNoSwarm(t *testing.T) {
	t.Helper()
	if st, id := swarmState(t); st != "inactive" {
		t.Fatalf("dockerd is in a swarm (%s, node %q): the swarm tests need a dockerd outside any swarm", st, id)
	}
}

// initSwarm makes a swarm the bench did not make, as someone else on the
// machine would, and leaves it when the test ends.
func initSwarm(t *testing.T) string {
	t.Helper()
	d := newDockerAPI(DefaultDockerSocket)
	defer d.close()
	addr, err := freeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var id string
	if err := d.call(ctx, http.MethodPost, "/swarm/init", map[string]any{"ListenAddr": addr[0], "AdvertiseAddr": addr[0]}, &id); err != nil {
		t.Fatalf("swarm init: %v", err)
	}
	t.Cleanup(func() {
		d := newDockerAPI(DefaultDockerSocket)
		defer d.close()
		if st, now := swarmState(t); now != id {
			t.Errorf("the test's swarm (node %s) is gone: dockerd is %s, node %q; left as it is", id, st, now)
			return
		}
		if err := d.call(context.Background(), http.MethodPost, "/swarm/leave?force=true", nil, nil); err != nil {
			t.Errorf("leaving the test's swarm: %v", err)
		}
	})
	return id
}

// TestSmokeSwarm runs every workload for a second against a swarm the bench
// makes, checks that the table has the Swarm rows, and that no swarm is
// left behind.
func TestSmokeSwarm(t *testing.T) {
	requireNoSwarm(t)
	cfg := Config{Vault: vaultBin, Peer: PeerSwarm, Duration: time.Second, Clients: 4, Preload: 50, Dir: t.TempDir()}
	var log bytes.Buffer
	r, err := Run(context.Background(), cfg, &log)
	if st, id := swarmState(t); st != "inactive" {
		t.Errorf("the run left dockerd in a swarm (%s, node %s)", st, id)
	}
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &log)
	}
	if !strings.Contains(log.String(), "left the swarm the bench made") {
		t.Errorf("the progress does not say the swarm was left:\n%s", &log)
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
			switch {
			case m == nil || m.Ops == 0 || m.P50Ms <= 0:
				t.Errorf("%s on %s: %+v", w.Name, who, m)
			case m.Errors > 0:
				t.Errorf("%s on %s: %d errors, first: %s", w.Name, who, m.Errors, m.FirstError)
			case m.ServerCPU <= 0:
				t.Errorf("%s on %s: no server CPU measured", w.Name, who)
			}
		}
	}
	if len(r.Scale) != 2 || r.Scale[1].System != PeerSwarm || r.Scale[1].Keys < cfg.Preload || len(r.Scale[1].RSS) != 1 || r.Scale[1].RSS[0] <= 0 {
		t.Errorf("scale: %+v", r.Scale)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"vs swarm: Docker " + r.Machine.Docker, "vault/swarm",
		"create, 1 client", "create, 4 clients", "linearizable read, 4 clients", "stale read, 4 clients",
		"swarm: restart not measured",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, &text)
		}
	}
	// Each workload's ops/s row carries vault's figure, Swarm's and the
	// ratio of the two.
	rows := 0
	for _, line := range strings.Split(text.String(), "\n") {
		_, after, ok := strings.Cut(line, " ops/s ")
		if !ok {
			continue
		}
		rows++
		var v, s, ratio float64
		if n, err := fmt.Sscan(after, &v, &s, &ratio); n != 3 || v <= 0 || s <= 0 || math.Abs(ratio-v/s) > 0.01+0.01*ratio {
			t.Errorf("ops/s row without vault, swarm and their ratio (%v): %q", err, line)
		}
	}
	if rows != 4 {
		t.Errorf("%d ops/s rows, want 4:\n%s", rows, &text)
	}
	t.Logf("\n%s", &text)
}

// TestSwarmRefusesExisting: with dockerd already in a swarm, --vs swarm
// refuses before it starts anything and leaves that swarm as it was.
func TestSwarmRefusesExisting(t *testing.T) {
	requireNoSwarm(t)
	id := initSwarm(t)
	start := time.Now()
	_, err := Run(context.Background(), Config{Vault: vaultBin, Peer: PeerSwarm, Duration: time.Second, Dir: t.TempDir()}, &bytes.Buffer{})
	if !errors.Is(err, ErrSwarmActive) {
		t.Fatalf("Run beside an existing swarm: %v, want ErrSwarmActive", err)
	}
	if !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "docker swarm leave") {
		t.Errorf("the refusal does not name the node and what to do: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to refuse", d)
	}
	if st, now := swarmState(t); st != "active" || now != id {
		t.Errorf("the existing swarm was touched: now %s, node %q (was active, %q)", st, now, id)
	}
}

// TestSwarmLeavesOnlyItsOwn: when the swarm the bench made is gone and
// another took its place, the bench's cleanup leaves that other one alone.
func TestSwarmLeavesOnlyItsOwn(t *testing.T) {
	requireNoSwarm(t)
	var log bytes.Buffer
	c, err := startSwarm(context.Background(), DefaultDockerSocket, &log)
	if err != nil {
		t.Fatalf("startSwarm: %v\n%s", err, &log)
	}
	t.Cleanup(c.close)
	if st, id := swarmState(t); st != "active" || id != c.nodeID {
		t.Fatalf("after startSwarm: %s, node %q; the bench made %q", st, id, c.nodeID)
	}
	// Someone leaves the bench's swarm and makes their own.
	if err := c.api.call(context.Background(), http.MethodPost, "/swarm/leave?force=true", nil, nil); err != nil {
		t.Fatal(err)
	}
	other := initSwarm(t)
	c.close()
	if st, id := swarmState(t); st != "active" || id != other {
		t.Errorf("the bench's cleanup touched a swarm it did not make: now %s, node %q (was %q)", st, id, other)
	}
	if !strings.Contains(log.String(), "left as it is") {
		t.Errorf("the cleanup did not say it left the other swarm alone:\n%s", &log)
	}
}

// TestSwarmInterrupted: an interrupt while the workloads run (Ctrl-C)
// still leaves the swarm the bench made.
func TestSwarmInterrupted(t *testing.T) {
	requireNoSwarm(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &cancelOn{needle: "create, 1 client: swarm", cancel: cancel}
	_, err := Run(ctx, Config{Vault: vaultBin, Peer: PeerSwarm, Duration: 2 * time.Second, Clients: 2, Dir: t.TempDir()}, log)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted run: %v, want context.Canceled\n%s", err, &log.buf)
	}
	if st, id := swarmState(t); st != "inactive" {
		t.Errorf("the interrupted run left dockerd in a swarm (%s, node %s)\n%s", st, id, &log.buf)
	}
}

// cancelOn is a progress log that cancels the run when a line containing
// needle is written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	needle string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(p, []byte(c.needle)) {
		c.cancel()
	}
	return c.buf.Write(p)
}
