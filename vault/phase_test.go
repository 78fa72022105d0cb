package vault

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// startUninitialized starts an in-process node that is not part of a
// cluster; it is closed when the test ends.
func startUninitialized(t *testing.T, options ...func(*Config)) *Node {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		StateDir:   filepath.Join(dir, "state"),
		SocketPath: filepath.Join(dir, "vault.sock"),
		ListenAddr: "127.0.0.1:" + strconv.Itoa(adjacentPorts(t)),
	}
	for _, o := range options {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// A node goes uninitialized → running → locked → running. In each phase
// it holds exactly that phase's value: running, one replicas that owns
// every key; locked, none (the replicas it had are closed and their keys
// gone); and the secrets written while running read back after unlock.
func TestPhases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := startUninitialized(t)
	check := func(want phaseName) {
		t.Helper()
		if got := n.phase(); got != want {
			t.Fatalf("phase %d, want %d", got, want)
		}
		n.mu.RLock()
		defer n.mu.RUnlock()
		if (n.identityLocked() != nil) != (want != phaseUninitialized) {
			t.Fatalf("phase %d: %T, identity %v", want, n.ph, n.identityLocked() != nil)
		}
	}
	check(phaseUninitialized)
	if _, err := n.running(); !api.IsCode(err, api.CodeNotInitialized) {
		t.Fatalf("running() while uninitialized: %v", err)
	}

	if _, err := n.Init(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check(phaseRunning)
	first, err := n.running()
	if err != nil {
		t.Fatal(err)
	}
	if first.host() == nil || first.currentKEK() == nil || first.ring == nil || first.tls == nil || first.peer == nil {
		t.Fatal("the running phase lacks a key or handle")
	}
	data := []byte("phase value")
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: "s", Data: bytes.Clone(data)}); err != nil {
		t.Fatal(err)
	}

	key := lockNode(t, n)
	check(phaseLocked)
	if _, err := n.running(); !api.IsCode(err, api.CodeLocked) {
		t.Fatalf("running() while locked: %v", err)
	}
	select {
	case <-first.stop:
	default:
		t.Fatal("the replicas of the running phase were not closed by lock")
	}
	if _, _, _, err := first.host().GetLeaderID(1); err == nil {
		t.Fatal("the closed replicas' NodeHost still answers")
	}
	if _, err := first.ring.Active(); err == nil {
		t.Fatal("the closed replicas' keyring still opens its active key")
	}
	if _, _, err := n.SecretData(ctx, "s", 0); !api.IsCode(err, api.CodeLocked) {
		t.Fatalf("reading a secret while locked: %v", err)
	}
	// Code holding the closed replicas gets "locked", not a key or a
	// Raft error: a read, a proposal, a secret write.
	if _, err := first.read(ctx, raftsm.ControlShard, raftsm.QueryCluster{}); !api.IsCode(err, api.CodeLocked) {
		t.Fatalf("a read on the closed replicas: %v", err)
	}
	if pg := <-first.readPages(ctx); pg.err == nil {
		t.Fatal("the closed replicas list secrets")
	}
	if _, err := first.createSecret(ctx, &api.CreateSecretRequest{Name: "t", Data: []byte("x")}); err == nil {
		t.Fatal("the closed replicas create a secret")
	}

	if _, err := n.Unlock(ctx, key); err != nil {
		t.Fatal(err)
	}
	check(phaseRunning)
	second, err := n.running()
	if err != nil || second == first {
		t.Fatalf("running() after unlock = %p, %v; want new replicas", second, err)
	}
	got, _, err := n.SecretData(ctx, "s", 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("SecretData after unlock = %q, %v", got, err)
	}
}

// TestSnapshotLeftoversRemoved: the working files of a snapshot operation
// that a crash left in the state dir are gone after the next start.
func TestSnapshotLeftoversRemoved(t *testing.T) {
	var dir string
	n := startUninitialized(t, func(c *Config) {
		dir = c.StateDir
		left := filepath.Join(c.StateDir, snapshotTmpPrefix+"crashed")
		if err := os.MkdirAll(left, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(left, "group-1"), []byte("sealed"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	defer n.Close()
	if m, _ := filepath.Glob(filepath.Join(dir, snapshotTmpPrefix+"*")); len(m) != 0 {
		t.Fatalf("left after start: %v", m)
	}
}
