package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
)

// nodeTLS reads a stopped or running node's certificate and key from its
// state dir, opening the sealed key with the KEK file (autolock is off):
// what an attacker holding a removed manager's disk has.
func nodeTLS(t *testing.T, d *daemon) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	sd, err := statedir.Open(d.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := sd.ReadKEK()
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(d.stateDir, "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keyPEM, err := crypto.Open(kek, crypto.Binding{Purpose: crypto.PurposeFile, Object: []byte("node.key")}, read("node.key.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(read("node.crt"), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(read("ca.crt")) {
		t.Fatal("ca.crt")
	}
	return cert, pool
}

// peerRoutes lists every certificate-authenticated manager API route, read
// from the source so that a route added later is covered too. The join
// route is authenticated by its token instead.
func peerRoutes(t *testing.T) [][2]string {
	t.Helper()
	files, err := filepath.Glob("../vault/*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`"(GET|POST|PUT|DELETE) (/v1/peer/[^" ]*)"`)
	seen := map[[2]string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if m[2] == "/v1/peer/join" {
				continue
			}
			// Path parameters get a value that names nothing.
			seen[[2]string{m[1], regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(m[2], "x")}] = true
		}
	}
	var out [][2]string
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1] < out[j][1] })
	if len(out) < 4 {
		t.Fatalf("found only %d peer routes in ../vault: %v", len(out), out)
	}
	return out
}

// peerCall makes one manager API request with a certificate and returns
// the status and the error code of the answer.
func peerCall(t *testing.T, cert tls.Certificate, pool *x509.CertPool, addr, method, path string) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	var body io.Reader
	if method != "GET" {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, "https://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, addr, err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code
}

// raftAdmitted dials a Raft port with a certificate and says whether the
// connection stays open (admitted: the server waits for frames) or is
// closed by the server (refused).
func raftAdmitted(t *testing.T, cert tls.Certificate, pool *x509.CertPool, addr string) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		return false
	}
	defer c.Close()
	// TLS 1.3 tells the client its certificate was refused on first use.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// TestRemovedManagerRefused: after `vault node rm`, the removed manager's
// certificate gets nothing from any manager API route or the Raft port of
// either remaining manager; restarted, the removed node learns it was
// removed and stops; no daemon panics.
func TestRemovedManagerRefused(t *testing.T) {
	ds := startCluster(t, 3)
	victim := ds[2]
	victimID := nodeID(t, victim)
	cert, pool := nodeTLS(t, victim)
	must(t, ds[0].vaultIn([]byte("kept"), "secret", "create", "kept", "-"))

	// A member's certificate works: what the refusals below are measured against.
	if code, _ := peerCall(t, cert, pool, ds[0].apiAddr, "GET", "/v1/peer/status"); code != 200 {
		t.Fatalf("a member's certificate: peer status answered %d", code)
	}
	if !raftAdmitted(t, cert, pool, ds[0].addr) {
		t.Fatal("a member's certificate was refused on the Raft port")
	}

	victim.kill()
	must(t, ds[0].vault("node", "rm", victimID))

	routes := peerRoutes(t)
	for _, d := range ds[:2] {
		// node rm returns once the removal is applied where it ran; the
		// other manager applies it moments later.
		waitFor(t, d.addr+" to apply the removal", 20*time.Second, func() bool {
			code, _ := peerCall(t, cert, pool, d.apiAddr, "GET", "/v1/peer/status")
			return code != 200
		})
		for _, r := range routes {
			t.Run(d.addr+" "+r[0]+" "+r[1], func(t *testing.T) {
				code, ecode := peerCall(t, cert, pool, d.apiAddr, r[0], r[1])
				if code != http.StatusForbidden || ecode != "removed" {
					t.Fatalf("answered %d %q, want 403 \"removed\"", code, ecode)
				}
			})
		}
		// The record is applied on every remaining manager within moments.
		waitFor(t, "the Raft port of "+d.addr+" to refuse the removed node", 20*time.Second, func() bool {
			return !raftAdmitted(t, cert, pool, d.addr)
		})
	}
	if !strings.Contains(ds[0].logs.String(), "refused a peer certificate") {
		t.Error("the refusals were not logged")
	}
	// The remaining managers work on.
	inspect(t, ds[1], "kept")
	must(t, ds[1].vaultIn([]byte("after"), "secret", "create", "after", "-"))

	// The removed node, started again from its old state dir, is refused
	// by its former peers and says it was removed.
	victim.start()
	removed := func() bool {
		var s struct {
			Removed bool `json:"Removed"`
		}
		r := victim.vault("status", "--format", "json")
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &s) == nil && s.Removed
	}
	waitFor(t, "the removed node to learn it was removed", 60*time.Second, removed)
	if out := must(t, victim.vault("status")).stdout; !strings.Contains(out, "this node was removed from the cluster") {
		t.Fatalf("status of a removed node:\n%s", out)
	}
	if !strings.Contains(victim.logs.String(), "this node was removed from the cluster") {
		t.Error("the removed node did not log its removal")
	}
	mustFail(t, victim.vault("secret", "ls"), "removed from the cluster")
	// And stays so across a restart.
	victim.stop()
	victim.start()
	if !removed() {
		t.Fatal("a restarted removed node did not remember its removal")
	}
	if ns := nodes(t, ds[0]); len(ns) != 2 {
		t.Fatalf("after rm and the removed node's return: %+v", ns)
	}
	for _, d := range ds {
		for _, log := range append(d.earlier, d.logs.String()) {
			if strings.Contains(log, "panic") {
				t.Fatalf("daemon %s panicked:\n%s", d.addr, log)
			}
		}
	}
}

// TestRemovedWhileRunning: a manager removed with --force while it runs
// learns it from the record it applies, stops its replicas and says so;
// the others serve on.
func TestRemovedWhileRunning(t *testing.T) {
	ds := startCluster(t, 3)
	victim := ds[2]
	must(t, ds[0].vault("node", "rm", "--force", nodeID(t, victim)))
	waitFor(t, "the removed node to learn it was removed", 60*time.Second, func() bool {
		r := victim.vault("status")
		return r.code == 0 && strings.Contains(r.stdout, "this node was removed from the cluster")
	})
	mustFail(t, victim.vault("secret", "ls"), "removed from the cluster")
	must(t, ds[1].vaultIn([]byte("on"), "secret", "create", "on", "-"))
	inspect(t, ds[0], "on")
	if ns := nodes(t, ds[0]); len(ns) != 2 {
		t.Fatalf("after rm --force: %+v", ns)
	}
	for _, d := range ds {
		if strings.Contains(d.logs.String(), "panic") {
			t.Fatalf("daemon %s panicked:\n%s", d.addr, d.logs)
		}
	}
}
