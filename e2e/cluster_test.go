package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

type nodeInfo struct {
	ID, Addr, Status string
	Leader           int
	SecretLeader     int
	Self             bool
}

func nodes(t *testing.T, d *daemon) []nodeInfo {
	t.Helper()
	var out []nodeInfo
	if err := json.Unmarshal([]byte(must(t, d.vault("node", "ls", "--format", "json")).stdout), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// startCluster starts n daemons, inits the first and joins the others.
func startCluster(t *testing.T, n int, extra ...string) []*daemon {
	t.Helper()
	var ds []*daemon
	for range n {
		d := newDaemon(t, extra...)
		d.start()
		ds = append(ds, d)
	}
	must(t, ds[0].vault("cluster", "init", "--shards", "4"))
	tok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	for _, d := range ds[1:] {
		must(t, d.vault("cluster", "join", "--token", tok, ds[0].apiAddr))
	}
	return ds
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestThreeManagers: join, linearizable reads on every manager, kill -9 and
// catch-up by snapshot, quorum loss, and the canary scan of all state dirs.
func TestThreeManagers(t *testing.T) {
	ds := startCluster(t, 3, "--snapshot-entries", "20")
	c := canaries{}

	ns := nodes(t, ds[1])
	if len(ns) != 3 {
		t.Fatalf("node ls shows %d nodes: %+v", len(ns), ns)
	}
	for _, n := range ns {
		if n.Status != "ready" {
			t.Fatalf("node %s is %s", n.ID, n.Status)
		}
	}
	// Leadership is spread: soon no manager leads all five groups.
	waitFor(t, "leadership spread over the managers", 20*time.Second, func() bool {
		for _, n := range nodes(t, ds[0]) {
			if n.Leader == 0 || n.Leader == 5 {
				return false
			}
		}
		return true
	})
	// SecretLeader counts the four secret groups, Leader the control
	// group too.
	waitFor(t, "node ls to count the secret groups each manager leads", 20*time.Second, func() bool {
		secret, control := 0, 0
		for _, n := range nodes(t, ds[0]) {
			secret += n.SecretLeader
			control += n.Leader - n.SecretLeader
		}
		return secret == 4 && control == 1
	})

	// A write acknowledged on one manager is visible to a read started
	// afterwards on any other.
	for i := range 15 {
		name := fmt.Sprintf("lin%d%s", i, randHex(4))
		val := []byte("CANARY-VALUE-" + randHex(16))
		c.add("name "+name, []byte(name))
		c.add("value "+name, val)
		w, r := ds[i%3], ds[(i+1)%3]
		id := strings.TrimSpace(must(t, w.vaultIn(val, "secret", "create", name, "-")).stdout)
		if got := inspect(t, r, name); got.ID != id {
			t.Fatalf("created %s on %s, read %+v on %s", id, w.addr, got, r.addr)
		}
		must(t, r.vaultIn([]byte("v2-"+string(val)), "secret", "update", name, "-"))
		if got := inspect(t, w, name); got.Version != 2 {
			t.Fatalf("update on one manager not seen on another: %+v", got)
		}
	}

	// kill -9 one manager: writes still succeed; the others compact their
	// logs, so it catches up from a snapshot when it returns.
	ds[2].kill()
	var written []string
	for i := range 160 {
		name := fmt.Sprintf("down%d%s", i, randHex(3))
		val := []byte("CANARY-VALUE-" + randHex(16))
		c.add("name "+name, []byte(name))
		c.add("value "+name, val)
		must(t, ds[i%2].vaultIn(val, "secret", "create", name, "-"))
		written = append(written, name)
	}
	ds[2].start()
	for _, name := range written[len(written)-10:] {
		inspect(t, ds[2], name) // linearizable: waits for the catch-up
	}
	waitFor(t, "a snapshot-based catch-up logged by the restarted manager", 30*time.Second, func() bool {
		return strings.Contains(ds[2].logs.String(), "caught up from a snapshot")
	})
	if n := len(strings.Fields(must(t, ds[2].vault("secret", "ls", "-q")).stdout)); n != 15+160 {
		t.Fatalf("restarted manager lists %d secrets, want %d", n, 15+160)
	}

	// Two managers down: requests fail fast with the quorum error.
	ds[1].kill()
	ds[2].kill()
	start := time.Now()
	r := ds[0].vaultIn([]byte("x"), "secret", "create", "noquorum", "-")
	mustFail(t, r, "no quorum: 1 of 3 managers reachable")
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the quorum error took %s", d)
	}
	mustFail(t, ds[0].vault("secret", "ls"), "no quorum")
	// Stale reads come from the manager's own applied state: without a
	// quorum they still answer, and they hold every write it applied.
	if n := len(strings.Fields(must(t, ds[0].vault("secret", "ls", "-q", "--stale")).stdout)); n != 15+160 {
		t.Fatalf("stale ls without quorum lists %d secrets, want %d", n, 15+160)
	}
	if out := must(t, ds[0].vault("secret", "inspect", "--stale", written[0])).stdout; !strings.Contains(out, written[0]) {
		t.Fatalf("stale inspect without quorum: %s", out)
	}
	mustFail(t, ds[0].vault("secret", "inspect", written[0]), "no quorum")
	if ns := nodes(t, ds[0]); len(ns) != 3 {
		t.Fatalf("node ls without quorum: %+v", ns)
	}
	// They return; everything recovers by itself.
	ds[1].start()
	ds[2].start()
	waitFor(t, "writes to succeed again", 30*time.Second, func() bool {
		return ds[0].vaultIn([]byte("x"), "secret", "create", "quorumback", "-").code == 0
	})
	inspect(t, ds[2], "quorumback")

	for _, d := range ds {
		d.stop()
	}
	for _, d := range ds {
		scanControl(t, d.stateDir, d.addr)
	}
	roots := []string{ds[0].stateDir, ds[1].stateDir, ds[2].stateDir}
	files, size := c.scan(t, roots...)
	t.Logf("canary scan of 3 state dirs: %d canaries, %d files, %d bytes: none found", len(c), files, size)
}

// TestJoinRefusals: bad tokens, foreign clusters and certificates get
// nothing, and leave no partial membership behind.
func TestJoinRefusals(t *testing.T) {
	ds := startCluster(t, 2)
	tok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	other := newDaemon(t)
	other.start()
	must(t, other.vault("cluster", "init", "--shards", "1"))
	otherTok := strings.TrimSpace(must(t, other.vault("cluster", "join-token", "-q", "manager")).stdout)

	fresh := newDaemon(t)
	fresh.start()
	mustFail(t, fresh.vault("cluster", "join", "--token", "VLTTKN-1-nonsense", ds[0].apiAddr), "malformed join token")
	before := ds[0].logs.Len()
	mustFail(t, fresh.vault("cluster", "join", "--token", otherTok, ds[0].apiAddr),
		"does not belong to the cluster this token is for", "nothing was sent")
	if after := ds[0].logs.String()[before:]; strings.Contains(after, "join") {
		t.Fatalf("the manager saw a join request made with another cluster's token:\n%s", after)
	}
	mustFail(t, fresh.vault("cluster", "join", "--token", tok, freeAddr(t)), "cannot reach a manager")
	workerTok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "worker")).stdout)
	must(t, ds[0].vault("cluster", "join-token", "--rotate", "worker"))
	mustFail(t, fresh.vault("cluster", "join", "--token", workerTok, ds[0].apiAddr), "not valid", "rotated")
	must(t, ds[1].vault("cluster", "join-token", "--rotate", "manager"))
	mustFail(t, fresh.vault("cluster", "join", "--token", tok, ds[0].apiAddr), "not valid", "rotated")
	mustFail(t, ds[1].vault("cluster", "join", "--token", tok, ds[0].apiAddr), "already part of cluster")
	mustFail(t, ds[0].vault("node", "rm", "nosuchnode"), "no such node")
	if ns := nodes(t, ds[0]); len(ns) != 2 {
		t.Fatalf("refused joins left members behind: %+v", ns)
	}
	// With the current token the fresh node joins.
	tok = strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	must(t, fresh.vault("cluster", "join", "--token", tok, ds[1].apiAddr))
	if ns := nodes(t, fresh); len(ns) != 3 {
		t.Fatalf("after join: %+v", ns)
	}

	// A certificate from another CA gets nothing from the manager API or
	// the Raft transport.
	foreign := foreignCert(t)
	for _, addr := range []string{ds[0].apiAddr, ds[0].addr} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{Certificates: []tls.Certificate{foreign}, InsecureSkipVerify: true})
		if err == nil {
			// TLS 1.3 reports a rejected client certificate on first use.
			conn.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprintf(conn, "GET /v1/peer/status HTTP/1.0\r\nHost: x\r\n\r\n")
			buf := make([]byte, 512)
			n, rerr := conn.Read(buf)
			conn.Close()
			if rerr == nil && strings.Contains(string(buf[:n]), "200 OK") {
				t.Fatalf("%s answered a foreign certificate: %q", addr, buf[:n])
			}
		}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{foreign}, InsecureSkipVerify: true}}}
	if resp, err := hc.Get("https://" + ds[0].apiAddr + "/v1/peer/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("peer status answered a foreign certificate")
		}
	}

	// Membership changes: a dead node is removed; a live one leaves.
	mustFail(t, ds[0].vault("node", "rm", nodeID(t, ds[0])), "this node", "cluster leave")
	mustFail(t, ds[0].vault("node", "rm", nodeID(t, fresh)), "up and reachable")
	freshID := nodeID(t, fresh)
	fresh.kill()
	must(t, ds[0].vault("node", "rm", freshID))
	if ns := nodes(t, ds[1]); len(ns) != 2 {
		t.Fatalf("after node rm: %+v", ns)
	}
	echo := must(t, ds[1].vaultIn([]byte("still"), "secret", "create", "afterrm", "-"))
	_ = echo
	must(t, ds[1].vault("cluster", "leave"))
	mustFail(t, ds[1].vault("secret", "ls"), "not part of a cluster")
	if ns := nodes(t, ds[0]); len(ns) != 1 {
		t.Fatalf("after leave: %+v", ns)
	}
	inspect(t, ds[0], "afterrm")
	mustFail(t, ds[0].vault("cluster", "leave"), "last manager")
}

func nodeID(t *testing.T, d *daemon) string {
	t.Helper()
	var s struct {
		NodeID string `json:"NodeID"`
	}
	if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &s); err != nil {
		t.Fatal(err)
	}
	return s.NodeID
}

// foreignCert makes a client certificate signed by a CA no cluster knows.
func foreignCert(t *testing.T) tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "foreign"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "intruder"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
