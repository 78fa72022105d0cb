package vault

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vaultd/vault/internal/statedir"
)

// A node.json written before the worker count was recorded opens its
// LogDB with Dragonboat's old default (16 step workers and databases):
// Dragonboat refuses a LogDB opened with other counts than it was made
// with. New nodes record the count they use.
func TestRaftWorkersFollowNodeFile(t *testing.T) {
	dir := t.TempDir()
	old := `{"format":1,"node_id":"n","replica_id":1,"cluster_id":"c","raft_addr":"127.0.0.1:1","shards":4,"deployment_id":7}`
	if err := os.WriteFile(filepath.Join(dir, statedir.NodeFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := statedir.ReadNode(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		st   *statedir.Node
		want uint64
	}{
		{"node.json without raft_workers", st, statedir.LegacyRaftWorkers},
		{"new node", &statedir.Node{RaftWorkers: 3}, 3},
	} {
		e := expertConfig(c.st.Workers())
		if e.Engine.ExecShards != c.want || e.LogDB.Shards != c.want {
			t.Errorf("%s: %d step workers, %d LogDB databases; want %d of each", c.name, e.Engine.ExecShards, e.LogDB.Shards, c.want)
		}
		if err := e.Engine.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	n := &Node{}
	if got := n.mustNewState(t).RaftWorkers; got != defaultRaftWorkers() || got < 1 {
		t.Errorf("a new node records %d step workers, want %d", got, defaultRaftWorkers())
	}
}

func (n *Node) mustNewState(t *testing.T) *statedir.Node {
	t.Helper()
	st, err := n.newNodeState("c", "n", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
