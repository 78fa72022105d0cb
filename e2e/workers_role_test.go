package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWorkersPromoteDemote: three managers and a worker, each a host in its
// own network namespace. `vault node promote` makes the worker a manager
// (it serves the manager routes and every secret, and `vault node ls`
// lists four managers); `vault node demote` makes it a worker again, which
// receives only what its label is granted; a demotion that would leave the
// managers without a quorum is refused and says why.
func TestWorkersPromoteDemote(t *testing.T) {
	needFUSE(t)
	if why := netnsUnavailable(); why != "" {
		t.Skipf("workers on their own addresses need hosts in network namespaces: %s", why)
	}
	f := newFleet(t, 3, true)
	m := f.nodes[0]
	wtoken := strings.TrimSpace(must(t, m.vault("cluster", "join-token", "-q", "worker")).stdout)
	f.net.addHost(3)
	w := newNode(t, f.net, 3)
	w.start()
	must(t, w.vault("cluster", "join", "--token", wtoken, m.apiAddr))
	status := func(nd *node) (id, role string) {
		var st struct{ NodeID, Role string }
		if err := json.Unmarshal([]byte(must(t, nd.vault("status", "--format", "json")).stdout), &st); err != nil {
			t.Fatal(err)
		}
		return st.NodeID, st.Role
	}
	wid, role := status(w)
	if role != "worker" {
		t.Fatalf("joined with the worker token, status says role %q", role)
	}
	granted, other := "granted-"+randHex(4), "other-"+randHex(4)
	gval := []byte("granted-value-" + randHex(8))
	must(t, m.vaultIn(gval, "secret", "create", granted, "-"))
	otherVal := []byte("other-value-" + randHex(8))
	must(t, m.vaultIn(otherVal, "secret", "create", other, "-"))
	must(t, m.vault("node", "update", "--label-add", "tier=web", wid))
	must(t, m.vault("secret", "grant", granted, "--node-label", "tier=web"))
	waitFor(t, "the worker streaming", 10*time.Second, func() bool {
		return strings.Contains(m.vault("node", "ls").stdout, "ready")
	})

	newID := regexp.MustCompile(`as node ([0-9a-z]+)`)
	// Promote: the worker joins again as a manager.
	start := time.Now()
	out := must(t, m.vault("node", "promote", wid)).stdout
	mm := newID.FindStringSubmatch(out)
	if mm == nil || !strings.Contains(out, "manager") {
		t.Fatalf("promote: %s", out)
	}
	mid := mm[1]
	t.Logf("promote took %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	waitFor(t, "the promoted node running as a manager", 30*time.Second, func() bool {
		id, role := status(w)
		return id == mid && role != "worker"
	})
	// It serves as a manager: every secret, manager routes, a Raft voter.
	waitFor(t, "secret ls on the promoted node", 30*time.Second, func() bool {
		r := w.vault("secret", "ls")
		return r.code == 0 && strings.Contains(r.stdout, granted) && strings.Contains(r.stdout, other)
	})
	if got := must(t, w.vault("exec", "--secret", "source="+other+",target=o", "--", "cat", "/run/secrets/o")).stdout; got != string(otherVal) {
		t.Fatalf("the promoted manager reads %q", got)
	}
	ls := must(t, m.vault("node", "ls")).stdout
	if strings.Contains(ls, wid[:12]) || !strings.Contains(ls, mid[:12]) {
		t.Fatalf("node ls after the promotion:\n%s", ls)
	}
	if n := strings.Count(ls, "manager"); n != 4 {
		t.Fatalf("node ls lists %d managers after the promotion:\n%s", n, ls)
	}
	if out := must(t, m.vault("node", "inspect", "--pretty", mid)).stdout; !strings.Contains(out, "tier=web") {
		t.Fatalf("the label did not move to the promoted node:\n%s", out)
	}
	// A write through the new manager commits (it is a voter of a quorum).
	must(t, w.vaultIn([]byte("via-promoted"), "secret", "create", "via-"+randHex(4), "-"))

	// Demote it back: it leaves and joins again as a worker, receiving
	// only what its label is granted.
	out = must(t, m.vault("node", "demote", mid)).stdout
	mm = newID.FindStringSubmatch(out)
	if mm == nil || !strings.Contains(out, "worker") {
		t.Fatalf("demote: %s", out)
	}
	wid2 := mm[1]
	waitFor(t, "the demoted node running as a worker", 30*time.Second, func() bool {
		id, role := status(w)
		return id == wid2 && role == "worker"
	})
	// It is a worker across a restart too: its state dir is a worker's.
	w.kill()
	w.start()
	if id, role := status(w); id != wid2 || role != "worker" {
		t.Fatalf("after a restart the demoted node is %s, role %q", id, role)
	}
	if _, err := os.Stat(filepath.Join(w.stateDir, "node.json")); err == nil {
		t.Fatal("the demoted node's state dir still holds a manager's node.json")
	}
	// As a manager it held every secret on disk (sealed); as a worker its
	// state dir holds none of them, by value or by name.
	c := canaries{}
	c.add("granted value", gval)
	c.add("other value", otherVal)
	c.add("granted name", []byte(granted))
	c.add("other name", []byte(other))
	files, _ := c.scan(t, w.stateDir)
	t.Logf("canary scan of the demoted worker's state dir: %d files", files)
	mp := filepath.Join(filepath.Dir(w.stateDir), "secrets")
	os.MkdirAll(mp, 0o755)
	must(t, w.vault("mount", "--secret", granted, mp))
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root%s/%s", w.cmd.Process.Pid, mp, granted))
	if string(b) != string(gval) {
		t.Fatalf("the demoted worker's mount reads %q", b)
	}
	mustFail(t, w.vault("exec", "--secret", other, "--", "true"), "not granted to this worker")
	mustFail(t, w.vault("secret", "ls"), "this node is a worker")
	ls = must(t, m.vault("node", "ls")).stdout
	if strings.Contains(ls, mid[:12]) || strings.Count(ls, "manager") != 3 {
		t.Fatalf("node ls after the demotion:\n%s", ls)
	}
	must(t, w.vault("unmount", mp))

	// Below quorum: with one of three managers down, demoting another
	// would leave one of two reachable. Refused, and says what to do.
	n1, n2 := f.nodes[1], f.nodes[2]
	n1id := status1(t, n1)
	n2.kill()
	mustFail(t, m.vault("node", "demote", n1id), "without a quorum", "1 of the 2 remaining managers", "bring the other managers back")
	n2.start()
	if err := f.waitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}

	// A manager demotes itself: three managers become two.
	out = must(t, n1.vault("node", "demote", n1id)).stdout
	if mm = newID.FindStringSubmatch(out); mm == nil {
		t.Fatalf("demote itself: %s", out)
	}
	waitFor(t, "the self-demoted manager running as a worker", 30*time.Second, func() bool {
		id, role := status(n1)
		return id == mm[1] && role == "worker"
	})
	if ls = must(t, m.vault("node", "ls")).stdout; strings.Count(ls, "manager") != 2 {
		t.Fatalf("node ls after the self-demotion:\n%s", ls)
	}
	// The last manager cannot be demoted either (unit-tested in vault:
	// TestDemoteQuorum).
}

func status1(t *testing.T, nd *node) string {
	var st struct{ NodeID string }
	if err := json.Unmarshal([]byte(must(t, nd.vault("status", "--format", "json")).stdout), &st); err != nil {
		t.Fatal(err)
	}
	return st.NodeID
}

// TestWorkersManagerWithoutQuorum: a worker streams from a manager that is
// then cut off from the other managers (but not from the worker). That
// manager ends the stream and refuses new ones instead of sending the set
// it last applied forever; the worker fails over to a manager of the
// majority and a revocation made there reaches it.
func TestWorkersManagerWithoutQuorum(t *testing.T) {
	needFUSE(t)
	if why := netnsUnavailable(); why != "" {
		t.Skipf("workers on their own addresses need hosts in network namespaces: %s", why)
	}
	f := newFleet(t, 3, true)
	m := f.nodes[0]
	wtoken := strings.TrimSpace(must(t, m.vault("cluster", "join-token", "-q", "worker")).stdout)
	f.net.addHost(3)
	w := newNode(t, f.net, 3)
	w.start()
	must(t, w.vault("cluster", "join", "--token", wtoken, m.apiAddr))
	wid := status1(t, w)
	name := "cutoff-" + randHex(4)
	must(t, m.vaultIn([]byte("cutoff-value"), "secret", "create", name, "-"))
	must(t, m.vault("secret", "grant", name, "--node", wid))
	type wstatus struct {
		Worker struct {
			Manager   string
			Connected bool
			Secrets   int
			Error     string
		}
	}
	ws := func() wstatus {
		var s wstatus
		json.Unmarshal([]byte(w.vault("status", "--format", "json").stdout), &s)
		return s
	}
	waitFor(t, "the worker holding its secret", 10*time.Second, func() bool { return ws().Worker.Secrets == 1 })
	var cut *node
	cutIdx := -1
	for i, nd := range f.nodes {
		if nd.apiAddr == ws().Worker.Manager {
			cut, cutIdx = nd, i
		}
	}
	if cut == nil {
		t.Fatalf("the worker streams from no manager of the fleet: %+v", ws())
	}
	// Cut that manager off from the other two, both ways; the worker still
	// reaches every manager.
	for i := range f.nodes {
		if i != cutIdx {
			f.net.cut(cutIdx, i)
			f.net.cut(i, cutIdx)
		}
	}
	start := time.Now()
	waitFor(t, "the worker moving to a manager of the majority", 30*time.Second, func() bool {
		s := ws().Worker
		return s.Connected && s.Manager != cut.apiAddr
	})
	t.Logf("the worker left the cut-off manager %v after the cut", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(cut.log(), "no quorum of the control group") {
		t.Fatalf("the cut-off manager's log does not say why it ended the stream:\n%s", tail(cut.logPath, 20))
	}
	var other *node
	for i, nd := range f.nodes {
		if i != cutIdx {
			other = nd
			break
		}
	}
	must(t, other.vault("secret", "revoke", name, "--node", wid))
	waitFor(t, "the revocation reaching the worker", 10*time.Second, func() bool { return ws().Worker.Secrets == 0 })
	f.net.heal()
}
