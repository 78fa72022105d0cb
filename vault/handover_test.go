package vault

import (
	"strings"
	"testing"
	"time"

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
