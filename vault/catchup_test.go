package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// TestCatchUpLag: the leader balancing and the hand-off hand a group only
// to a replica within transferLag entries of this one's, and transferLag
// never exceeds the log the leader keeps behind a snapshot.
func TestCatchUpLag(t *testing.T) {
	limit := transferLag(10000) // the default --snapshot-entries
	cases := []struct {
		ours, theirs, lag uint64
		ok                bool
	}{
		{100, 100, 0, true},
		{100, 120, 0, true}, // ahead: this replica has not applied as far yet
		{5000, 4990, 10, true},
		{5000, 5000 - limit, limit, true},
		{5000, 5000 - limit - 1, limit + 1, false},
		{200_000, 3, 199_997, false}, // restarted far behind: needs a snapshot
	}
	for _, c := range cases {
		lag, ok := catchUpLag(c.ours, c.theirs, limit)
		if lag != c.lag || ok != c.ok {
			t.Errorf("catchUpLag(%d, %d, %d) = %d, %v; want %d, %v", c.ours, c.theirs, limit, lag, ok, c.lag, c.ok)
		}
	}
	for _, c := range []struct{ snapshotEntries, want uint64 }{
		{10000, 1000}, {100_000, 1000}, {2000, 200}, {50, 5}, {5, 0},
	} {
		if got := transferLag(c.snapshotEntries); got != c.want {
			t.Errorf("transferLag(%d) = %d, want %d", c.snapshotEntries, got, c.want)
		}
		if cfg := (&Node{cfg: Config{SnapshotEntries: c.snapshotEntries}}).shardConfig(2, 1); transferLag(c.snapshotEntries) > cfg.CompactionOverhead {
			t.Errorf("--snapshot-entries %d: a target %d entries behind is handed a group whose leader keeps %d entries behind a snapshot", c.snapshotEntries, transferLag(c.snapshotEntries), cfg.CompactionOverhead)
		}
	}
	r := &replicas{}
	if _, ok := r.behind(&peerStatus{NodeID: "old"}, 2); !ok {
		t.Error("a manager that does not say how far it is (an earlier version) was refused")
	}
	if _, ok := r.behind(&peerStatus{NodeID: "b", Applied: map[uint64]uint64{1: 10}}, 2); ok {
		t.Error("a manager without a replica of the group was accepted")
	}
	// A manager whose replicas are not open yet says so with {}, which
	// must arrive as {}, not as the nil of a manager that does not say.
	b, err := json.Marshal(&peerStatus{NodeID: "c", Ready: true, Applied: map[uint64]uint64{}})
	if err != nil {
		t.Fatal(err)
	}
	var got peerStatus
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.behind(&got, 2); ok {
		t.Errorf("a manager with no replica open yet (%s) was accepted", b)
	}
}

// TestHandOffOrder: the caught-up managers first, turned by the group's
// place so that the groups spread over them; the ones behind last.
func TestHandOffOrder(t *testing.T) {
	others := []raftsm.Member{{NodeID: "a", ReplicaID: 1}, {NodeID: "b", ReplicaID: 2}, {NodeID: "c", ReplicaID: 3}, {NodeID: "d", ReplicaID: 4}}
	late := func(ids ...string) func(raftsm.Member) bool {
		return func(m raftsm.Member) bool { return !slices.Contains(ids, m.NodeID) }
	}
	cases := []struct {
		i        int
		caughtUp func(raftsm.Member) bool
		want     []uint64
	}{
		{0, late(), []uint64{1, 2, 3, 4}},
		{1, late(), []uint64{2, 3, 4, 1}},
		{0, late("a"), []uint64{2, 3, 4, 1}},
		{1, late("b", "c"), []uint64{4, 1, 2, 3}},
		{2, late("a", "b", "c", "d"), []uint64{1, 2, 3, 4}},
	}
	for _, c := range cases {
		if got := handOffOrder(others, c.i, c.caughtUp); !slices.Equal(got, c.want) {
			t.Errorf("handOffOrder(i=%d) = %v, want %v", c.i, got, c.want)
		}
	}
}

// TestPeerStatusSaysHowFarEachGroupApplied: a manager's status carries
// each group's applied index, and it moves as the group applies.
func TestPeerStatusSaysHowFarEachGroupApplied(t *testing.T) {
	n, c := startSingleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before := n.selfPeerStatus().Applied
	shards := statedir.AllShards(1)
	for _, shard := range shards {
		if before[shard] == 0 {
			t.Fatalf("status applied %v: nothing for group %d", before, shard)
		}
	}
	for i := range 5 {
		if _, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: fmt.Sprintf("s%d", i), Data: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	after := n.selfPeerStatus().Applied
	secret := raftsm.SecretShards(1)[0]
	if after[secret] < before[secret]+5 {
		t.Fatalf("group %d applied %d before 5 creates, %d after", secret, before[secret], after[secret])
	}
	r := n.current()
	if lag, ok := r.behind(&peerStatus{Applied: before}, secret); !ok || lag < 5 {
		t.Errorf("the status from before the creates: %d behind, ok %v; want 5 or more, ok", lag, ok)
	}
	if lag, ok := r.behind(&peerStatus{Applied: after}, secret); !ok || lag != 0 {
		t.Errorf("the status from now: %d behind, ok %v", lag, ok)
	}
}

// TestAppliedTotalMovesOnlyWithWrites: the re-sealing's pace takes a
// manager whose groups apply nothing between two batches for one where
// nothing else writes; an idle node must apply nothing on its own, and a
// write must show.
func TestAppliedTotalMovesOnlyWithWrites(t *testing.T) {
	n, c := startSingleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := n.current()
	if _, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: "first", Data: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	idle := r.appliedTotal()
	time.Sleep(2 * time.Second) // longer than a re-seal step
	if now := r.appliedTotal(); now != idle {
		t.Fatalf("an idle node applied %d entries in 2 s: the re-sealing would never see it quiet", now-idle)
	}
	if _, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: "second", Data: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if now := r.appliedTotal(); now <= idle {
		t.Fatalf("applied total %d after a create, %d before", now, idle)
	}
	if resealPause(time.Millisecond, true, 64) <= resealPause(time.Millisecond, false, 64) {
		t.Error("the re-sealing does not pause longer beside writes than alone")
	}
	if resealPause(time.Millisecond, true, 0) != resealPause(time.Millisecond, false, 64) {
		t.Error("a batch that re-sealed nothing beside writes does not pause as one alone")
	}
}
