package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/vault"
)

// TestWorkersNetns: three managers and two workers, each a host in its own
// network namespace. A secret granted by label reaches only the labelled
// worker's mount; an update appears there live; a revocation empties it
// within a second; a worker's certificate used directly against the
// manager API reads nothing ungranted and reaches no manager route; a
// worker cut off from every manager for 30 s keeps serving and catches up;
// a worker killed with -9 comes back empty and fetches again; a removed
// worker wipes what it holds; and no worker file holds a secret's value or
// name.
func TestWorkersNetns(t *testing.T) {
	needFUSE(t)
	if why := netnsUnavailable(); why != "" {
		t.Skipf("workers on their own addresses need hosts in network namespaces: %s", why)
	}
	f := newFleet(t, 3, true)
	m := f.nodes[0]
	wtoken := strings.TrimSpace(must(t, m.vault("cluster", "join-token", "-q", "worker")).stdout)
	var workers []*node
	for i := 3; i < 5; i++ {
		f.net.addHost(i)
		w := newNode(t, f.net, i)
		w.start()
		out := must(t, w.vault("cluster", "join", "--token", wtoken, m.apiAddr)).stdout
		if !strings.Contains(out, "as worker") {
			t.Fatalf("join: %s", out)
		}
		workers = append(workers, w)
	}
	id := func(nd *node) string {
		var st struct{ NodeID, Role string }
		if err := json.Unmarshal([]byte(must(t, nd.vault("status", "--format", "json")).stdout), &st); err != nil {
			t.Fatal(err)
		}
		return st.NodeID
	}
	w1, w2 := workers[0], workers[1]
	w1id, w2id := id(w1), id(w2)
	ls := must(t, m.vault("node", "ls")).stdout
	for _, wid := range []string{w1id, w2id} {
		if !strings.Contains(ls, wid[:12]) {
			t.Fatalf("node ls does not list worker %s:\n%s", wid, ls)
		}
	}

	c := canaries{}
	name := "CANARYNAME-" + randHex(8)
	v1 := []byte("CANARY-VALUE-w1-" + randHex(12))
	c.add("name", []byte(name))
	c.add("v1", v1)
	must(t, m.vaultIn(v1, "secret", "create", name, "-"))
	must(t, m.vault("node", "update", "--label-add", "tier=web", w1id))
	must(t, m.vault("secret", "grant", name, "--node-label", "tier=web"))
	if out := must(t, m.vault("node", "inspect", "--pretty", w1id)).stdout; !strings.Contains(out, name) || !strings.Contains(out, "tier=web") {
		t.Fatalf("node inspect of the labelled worker:\n%s", out)
	}
	if out := must(t, m.vault("secret", "inspect", name)).stdout; !strings.Contains(out, `"Label": "tier=web"`) {
		t.Fatalf("secret inspect shows no grant:\n%s", out)
	}

	mount := func(w *node) (string, result) {
		mp := filepath.Join(filepath.Dir(w.stateDir), "secrets")
		os.MkdirAll(mp, 0o755)
		return mp, w.vault("mount", "--follow", "--secret", name, mp)
	}
	// read reads the mounted file as the daemon sees it: a daemon run by
	// `ip netns exec` has a mount namespace of its own.
	read := func(w *node, mp string) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root%s/%s", w.cmd.Process.Pid, mp, name))
		return string(b)
	}
	mp1, r := mount(w1)
	must(t, r)
	if got := read(w1, mp1); got != string(v1) {
		t.Fatalf("labelled worker's mount reads %q", got)
	}
	// `vault exec` on a worker works from what it holds.
	if out := must(t, w1.vault("exec", "--secret", "source="+name+",target=s,mode=0400", "--", "cat", "/run/secrets/s")).stdout; out != string(v1) {
		t.Fatalf("vault exec on the worker reads %q", out)
	}
	// The unlabelled worker never receives it, and says which grant to add.
	_, r = mount(w2)
	mustFail(t, r, "not granted to this worker", "vault secret grant "+name+" --node "+w2id)
	mustFail(t, w2.vault("exec", "--secret", name, "--", "true"), "not granted to this worker")

	// A new version appears live.
	v2 := []byte("CANARY-VALUE-w2-" + randHex(12))
	c.add("v2", v2)
	start := time.Now()
	must(t, m.vaultIn(v2, "secret", "update", name, "-"))
	waitFor(t, "the update in the worker's mount", 5*time.Second, func() bool { return read(w1, mp1) == string(v2) })
	t.Logf("update reached the worker's mount %v after the command", time.Since(start).Round(time.Millisecond))

	// A worker's certificate against the manager API.
	for _, mgr := range f.nodes {
		cl := workerHTTPClient(t, w2)
		// Every route of the API (the role table's) and every peer route:
		// a worker's certificate is refused on each.
		routes := peerRoutes(t)
		for pattern := range vault.RouteRoles() {
			method, path, _ := strings.Cut(pattern, " ")
			routes = append(routes, [2]string{method, regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")})
		}
		for _, rt := range routes {
			req, _ := http.NewRequest(rt[0], "https://"+mgr.apiAddr+rt[1], strings.NewReader("{}"))
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("%s %s on %s: %v", rt[0], rt[1], mgr, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("worker certificate: %s %s on %s answered %d, want 403", rt[0], rt[1], mgr, resp.StatusCode)
			}
		}
		// Its stream carries nothing: nothing is granted to it.
		msg := firstStreamMessage(t, cl, mgr.apiAddr)
		if len(msg.Secrets) != 0 {
			t.Errorf("the ungranted worker's stream carries %d secrets", len(msg.Secrets))
		}
	}

	// Revocation empties the mount within a second.
	start = time.Now()
	must(t, m.vault("secret", "revoke", name, "--node-label", "tier=web"))
	waitFor(t, "the revocation in the worker's mount", time.Second, func() bool { return read(w1, mp1) == "" })
	t.Logf("revocation emptied the worker's mount %v after the command", time.Since(start).Round(time.Millisecond))
	must(t, m.vault("secret", "grant", name, "--node", w1id))
	waitFor(t, "the new grant in the worker's mount", 5*time.Second, func() bool { return read(w1, mp1) == string(v2) })

	// Partitioned from every manager for 30 s: the mount keeps serving, the
	// worker says it is stale, and it catches up once healed.
	f.net.partition([]int{0, 1, 2}, []int{3})
	v3 := []byte("CANARY-VALUE-w3-" + randHex(12))
	c.add("v3", v3)
	must(t, m.vaultIn(v3, "secret", "update", name, "-"))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got := read(w1, mp1); got != string(v2) {
			t.Fatalf("partitioned worker's mount reads %q", got)
		}
		time.Sleep(time.Second)
	}
	if out := must(t, w1.vault("status")).stdout; !strings.Contains(out, "stale") {
		t.Fatalf("a partitioned worker's status does not say it is stale:\n%s", out)
	}
	f.net.heal()
	waitFor(t, "the partitioned worker to catch up", 15*time.Second, func() bool { return read(w1, mp1) == string(v3) })

	// kill -9: it comes back empty (nothing on disk) and fetches again.
	w1.kill()
	w1.start() // its stale mount is detached as it starts
	_, r = mount(w1)
	must(t, r)
	if got := read(w1, mp1); got != string(v3) {
		t.Fatalf("restarted worker's mount reads %q", got)
	}

	// Removing a worker wipes it.
	must(t, m.vault("node", "rm", w1id))
	waitFor(t, "the removed worker to wipe its mount", time.Second, func() bool { return read(w1, mp1) == "" })
	if out := must(t, w1.vault("status")).stdout; !strings.Contains(out, "removed") {
		t.Fatalf("removed worker's status:\n%s", out)
	}

	// No worker file holds a value or the name.
	for _, w := range workers {
		scanControl(t, w.stateDir, id(w))
		files, size := c.scanLive(t, w.stateDir)
		t.Logf("canary scan of %s: %d files, %d bytes", w, files, size)
	}
}

// workerHTTPClient is an HTTPS client with a worker's own certificate and
// key (read from its state dir), dialing from inside its network namespace.
func workerHTTPClient(t *testing.T, w *node) *http.Client {
	t.Helper()
	tlsDir := filepath.Join(w.stateDir, "tls")
	pair, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "node.crt"), filepath.Join(tlsDir, "worker.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ns := w.host.ns
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			// This thread enters the worker's namespace for the dial and
			// goes back before it is unlocked. It must not end with the
			// goroutine: a daemon started from it (Pdeathsig) would die.
			runtime.LockOSThread()
			self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{err: err}
				return
			}
			defer unix.Close(self)
			fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{err: err}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				runtime.UnlockOSThread()
				ch <- res{err: err}
				return
			}
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			if unix.Setns(self, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			} // else: the thread stays locked and ends with the goroutine
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     dial,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool},
	}}
}

// streamMessage is the part of a worker stream's message the test reads.
type streamMessage struct {
	Full    bool `json:"full"`
	Secrets []struct {
		ID string `json:"id"`
	} `json:"secrets"`
}

// firstStreamMessage opens a worker stream with cl and returns its first
// message.
func firstStreamMessage(t *testing.T, cl *http.Client, addr string) streamMessage {
	t.Helper()
	resp, err := cl.Get("https://" + addr + "/v1/worker/stream")
	if err != nil {
		t.Fatalf("worker stream on %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("worker stream on %s: %s", addr, resp.Status)
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var msg streamMessage
	if err := json.Unmarshal(line, &msg); err != nil || !msg.Full {
		t.Fatalf("stream message %q: %v", line, err)
	}
	return msg
}
