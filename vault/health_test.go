package vault

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vaultd/vault/raftsm"
)

// TestHealthLogsEachChangeOnce feeds rounds of checks to the health tracker
// and compares the log lines each round produces.
func TestHealthLogsEachChangeOnce(t *testing.T) {
	members := []raftsm.Member{
		{NodeID: "a", ReplicaID: 1, Addr: "a:1"},
		{NodeID: "b", ReplicaID: 2, Addr: "b:1"},
		{NodeID: "c", ReplicaID: 3, Addr: "c:1"},
	}
	ready, locked := peerReady, peerLocked
	type round struct {
		found   map[string]peerState
		leaders map[uint64]uint64
		want    string // the round's lines, "; "-separated
	}
	all := map[string]peerState{"b": ready, "c": ready}
	for _, c := range []struct {
		name   string
		rounds []round
	}{
		{"all well says nothing", []round{
			{all, map[uint64]uint64{1: 1, 2: 2}, ""},
			{all, map[uint64]uint64{1: 1, 2: 2}, ""},
		}},
		{"one slow answer is not news", []round{
			{map[string]peerState{"c": ready}, nil, ""},
			{all, nil, ""},
			{map[string]peerState{"c": ready}, nil, ""},
			{all, nil, ""},
		}},
		{"a dead peer once, then back once", []round{
			{map[string]peerState{"c": ready}, nil, ""},
			{map[string]peerState{"c": ready}, nil, "WARN peer unreachable node_id=b addr=b:1"},
			{map[string]peerState{"c": ready}, nil, ""},
			{map[string]peerState{"c": ready}, nil, ""},
			{all, nil, "INFO peer reachable again node_id=b addr=b:1"},
			{all, nil, ""},
		}},
		{"quorum lost and regained", []round{
			{map[string]peerState{}, nil, ""},
			{map[string]peerState{}, nil, "WARN peer unreachable node_id=b addr=b:1; WARN peer unreachable node_id=c addr=c:1; " +
				"WARN quorum lost: writes and linearizable reads wait until managers come back reachable=1 managers=3 need=2"},
			{map[string]peerState{}, nil, ""},
			{map[string]peerState{"c": ready}, nil, "INFO peer reachable again node_id=c addr=c:1; INFO quorum regained reachable=2 managers=3"},
			{map[string]peerState{"c": ready}, nil, ""},
		}},
		{"a locked peer at once, and it does not count", []round{
			{map[string]peerState{"b": locked}, nil, "WARN peer is locked: it serves again after `vault unlock` on it node_id=b addr=b:1"},
			{map[string]peerState{"b": locked}, nil, "WARN peer unreachable node_id=c addr=c:1; " +
				"WARN quorum lost: writes and linearizable reads wait until managers come back reachable=1 managers=3 need=2"},
			{map[string]peerState{"b": ready, "c": ready}, nil, "INFO peer reachable again node_id=b addr=b:1; INFO peer reachable again node_id=c addr=c:1; " +
				"INFO quorum regained reachable=3 managers=3"},
		}},
		{"leaders: the first seen is no change", []round{
			{all, map[uint64]uint64{1: 1}, ""},
			{all, map[uint64]uint64{1: 2}, "INFO leader changed shard=1 leader=b"},
			{all, map[uint64]uint64{1: 0}, "INFO leader changed shard=1 leader=none"},
			{all, map[uint64]uint64{1: 9}, "INFO leader changed shard=1 leader=replica 9"},
			{all, map[uint64]uint64{1: 9}, ""},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h health
			for i, r := range c.rounds {
				var lines []string
				for _, e := range h.observe("a", members, r.found, r.leaders) {
					l := e.level.String() + " " + e.msg
					for j := 0; j+1 < len(e.attrs); j += 2 {
						l += fmt.Sprintf(" %v=%v", e.attrs[j], e.attrs[j+1])
					}
					lines = append(lines, l)
				}
				if got := strings.Join(lines, "; "); got != r.want {
					t.Fatalf("round %d:\ngot  %q\nwant %q", i+1, got, r.want)
				}
			}
		})
	}
}

// TestHealthForgetsRemovedMembers: a removed member is not reported, and a
// smaller cluster's quorum is counted on its own members.
func TestHealthForgetsRemovedMembers(t *testing.T) {
	three := []raftsm.Member{{NodeID: "a", ReplicaID: 1}, {NodeID: "b", ReplicaID: 2}, {NodeID: "c", ReplicaID: 3}}
	var h health
	h.observe("a", three, map[string]peerState{"b": peerReady}, nil)
	h.observe("a", three, map[string]peerState{"b": peerReady}, nil) // c logged unreachable
	if got := h.observe("a", three[:2], map[string]peerState{"b": peerReady}, nil); len(got) != 0 {
		t.Fatalf("after c's removal: %v", got)
	}
	if _, ok := h.peers["c"]; ok {
		t.Fatal("c is still tracked after its removal")
	}
}
