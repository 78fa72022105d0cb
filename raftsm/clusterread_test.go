package raftsm

import (
	"bytes"
	"testing"

	"github.com/vaultd/vault/crypto"
)

func lookupCluster(t *testing.T, n *testNode) *StoredCluster {
	t.Helper()
	out, err := n.sm.Lookup(QueryCluster{})
	if err != nil {
		t.Fatal(err)
	}
	return out.(*StoredCluster)
}

// The cluster record kept between reads follows every change: a new
// record applied, and a snapshot recovered.
func TestClusterReadFollowsChanges(t *testing.T) {
	key, _ := crypto.GenerateKey(3)
	n := newTestNode(t, key, ControlShard)
	if c := lookupCluster(t, n); c != nil {
		t.Fatalf("cluster record before any was set: %+v", c)
	}
	n.apply(t, 1, &Command{Op: OpClusterSet, RequestID: reqID(), Time: 1, Cluster: []byte("first")})
	c := lookupCluster(t, n)
	if c == nil || c.Gen != 1 || string(c.Sealed) != "first" {
		t.Fatalf("after the first set: %+v", c)
	}
	if again := lookupCluster(t, n); again != c {
		t.Fatal("a second read with nothing applied read the store again")
	}
	n.apply(t, 2, &Command{Op: OpClusterSet, RequestID: reqID(), Time: 2, Cluster: []byte("second"), ClusterGen: 1})
	if c := lookupCluster(t, n); c == nil || c.Gen != 2 || string(c.Sealed) != "second" {
		t.Fatalf("after the second set: %+v", c)
	}

	src := newTestNode(t, key, ControlShard)
	src.apply(t, 1, &Command{Op: OpClusterSet, RequestID: reqID(), Time: 1, Cluster: []byte("from-snapshot")},
		create("id1", "name1", 2), create("id2", "name2", 3), create("id3", "name3", 4))
	var buf bytes.Buffer
	ctx, err := src.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if err := n.sm.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	if c := lookupCluster(t, n); c == nil || c.Gen != 1 || string(c.Sealed) != "from-snapshot" {
		t.Fatalf("after recovering a snapshot: %+v", c)
	}
}
