package vault

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// adjacentPorts returns a free loopback port p whose next port p+1 is free
// too: a node's manager API listens on its Raft port + 1 by default.
func adjacentPorts(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two adjacent free ports")
	return 0
}

// startSingleNode starts an in-process node as the only manager of a new
// cluster with one secret group, and returns it with a client of its
// socket. The node is closed when the test ends; options edit its config.
func startSingleNode(t *testing.T, options ...func(*Config)) (*Node, *api.Client) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.Init(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return n, api.NewClient(cfg.SocketPath)
}

func requireMounts(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (FUSE mounts)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("needs /dev/fuse")
	}
}

// lockNode turns autolock on and locks n; it returns the unlock key.
func lockNode(t *testing.T, n *Node) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := n.SetAutolock(ctx, &api.AutolockRequest{Enable: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Lock(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !n.Status().Locked {
		t.Fatal("the node is not locked after Lock")
	}
	return resp.Key
}

// pollUntil polls cond until it holds, or fails the test after within.
func pollUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
