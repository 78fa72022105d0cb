package vault

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/raftsm"
)

func TestDemoteQuorum(t *testing.T) {
	members := []raftsm.Member{{NodeID: "a"}, {NodeID: "b"}, {NodeID: "c"}}
	up := func(ids ...string) map[string]*peerStatus {
		out := map[string]*peerStatus{}
		for _, id := range ids {
			out[id] = &peerStatus{NodeID: id}
		}
		return out
	}
	locked := up("a", "b", "c")
	locked["b"].Locked = true
	cases := []struct {
		members []raftsm.Member
		live    map[string]*peerStatus
		leaving string
		want    string // "" when allowed
	}{
		{members, up("a", "b", "c"), "c", ""},
		{members, up("a", "b"), "c", ""},                                            // c is down anyway
		{members, up("a", "c"), "c", "1 of the 2 remaining managers are reachable"}, // b down
		{members, locked, "c", "1 of the 2 remaining managers are reachable"},       // b locked
		{members[:1], up("a"), "a", "last manager"},
		{members[:2], up("a", "b"), "b", ""},
	}
	for i, c := range cases {
		err := demoteQuorum(c.members, c.live, c.leaving)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("case %d: refused: %v", i, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("case %d: got %v, want an error with %q", i, err, c.want)
		}
	}
}

// TestWorkerStreamsMetric: vaultd_worker_streams counts the streams the
// manager's hub serves.
func TestWorkerStreamsMetric(t *testing.T) {
	m, _ := startSingleNode(t)
	if got := m.CollectState().WorkerStreams; got != 0 {
		t.Fatalf("WorkerStreams = %d before any worker", got)
	}
	w, _, _ := startWorker(t, m)
	pollUntil(t, 10*time.Second, "the worker's stream counted", func() bool { return m.CollectState().WorkerStreams == 1 })
	w.Close()
	pollUntil(t, 15*time.Second, "the stream no longer counted", func() bool { return m.CollectState().WorkerStreams == 0 })
}

// TestPromoteDemoteInProcess: a worker promoted by a single manager becomes
// a manager (two voters), then demoted becomes a worker again that receives
// its node grant; demoting the last manager is refused.
func TestPromoteDemoteInProcess(t *testing.T) {
	m, mc := startSingleNode(t)
	w, wc, _ := startWorker(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wid := w.Status().NodeID
	if _, err := mc.CreateSecret(ctx, api.CreateSecretRequest{Name: "mine", Data: []byte("mine-value")}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.GrantSecret(ctx, "mine", api.GrantRequest{NodeID: wid}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, "the worker streaming", func() bool { return m.workerStreams() == 1 })

	rc, err := mc.PromoteNode(ctx, wid)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Role != ca.RoleManager || rc.NewID == "" || rc.NewID == wid {
		t.Fatalf("promote answered %+v", rc)
	}
	pollUntil(t, 30*time.Second, "the promoted node running as a manager", func() bool {
		return w.worker() == nil && w.current() != nil && w.Status().NodeID == rc.NewID
	})
	if _, err := wc.Secrets(ctx); err != nil {
		t.Fatalf("the promoted node cannot list secrets: %v", err)
	}
	// Two managers: demoting the promoted one leaves one, a quorum of
	// itself.
	rc2, err := mc.DemoteNode(ctx, rc.NewID)
	if err != nil {
		t.Fatal(err)
	}
	if rc2.Role != ca.RoleWorker || rc2.NewID == "" {
		t.Fatalf("demote answered %+v", rc2)
	}
	pollUntil(t, 30*time.Second, "the demoted node holding its node grant as a worker", func() bool {
		wk := w.worker()
		if wk == nil || w.Status().NodeID != rc2.NewID {
			return false
		}
		e, _, err := wk.find("mine")
		return err == nil && e != nil
	})
	// The last manager is not demoted.
	_, err = mc.DemoteNode(ctx, m.Status().NodeID)
	if err == nil || !strings.Contains(err.Error(), "last manager") {
		t.Fatalf("demoting the last manager: %v", err)
	}
}
