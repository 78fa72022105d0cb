package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// This file runs vault daemons as separate hosts. As root, each daemon gets
// its own network namespace with one address on a bridge that lives in a
// namespace of its own, so a test can cut links between hosts with nftables
// rules inside their namespaces. Elsewhere the daemons share loopback and
// only process faults (kill -9, SIGSTOP) are available.
//
// Every namespace, link and process a test makes is removed by t.Cleanup,
// also after a failure; namespaces left behind by a test binary that was
// killed are removed by the next run (their names carry the binary's pid).

// netnsPrefix starts the name of every namespace these tests create.
const netnsPrefix = "vaulte2e-"

// netnsProbe caches whether network namespaces work here, and why not.
var netnsProbe struct {
	once   sync.Once
	reason string // empty: they work
}

// netnsUnavailable returns why this machine cannot run hosts in network
// namespaces, or "" if it can.
func netnsUnavailable() string {
	netnsProbe.once.Do(func() {
		if os.Getenv("VAULT_E2E_LOOPBACK") != "" {
			netnsProbe.reason = "VAULT_E2E_LOOPBACK is set"
			return
		}
		if os.Geteuid() != 0 {
			netnsProbe.reason = "network namespaces need root (run the tests as root)"
			return
		}
		for _, tool := range []string{"ip", "nft"} {
			if _, err := exec.LookPath(tool); err != nil {
				netnsProbe.reason = fmt.Sprintf("%s is not installed (Debian: apt-get install iproute2 nftables)", tool)
				return
			}
		}
		removeStaleNetns()
		name := fmt.Sprintf("%s%d-probe", netnsPrefix, os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			netnsProbe.reason = fmt.Sprintf("ip netns add failed: %v: %s", err, bytes.TrimSpace(out))
			return
		}
		defer exec.Command("ip", "netns", "del", name).Run()
		script := "add table inet probe\nadd chain inet probe out { type filter hook output priority 0; }\nadd rule inet probe out ip daddr 10.0.0.1 drop\n"
		cmd := exec.Command("ip", "netns", "exec", name, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			netnsProbe.reason = fmt.Sprintf("nftables does not work in a network namespace: %v: %s", err, bytes.TrimSpace(out))
		}
	})
	return netnsProbe.reason
}

// removeStaleNetns deletes namespaces made by test binaries that are gone.
func removeStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}

// testnet is a bridge with hosts on it, each in its own network namespace.
type testnet struct {
	t      *testing.T
	name   string // namespace name prefix of this network
	bridge string // the namespace holding the bridge
	subnet string // "10.77.X"
	hosts  []*nethost
	mu     sync.Mutex
}

// nethost is one namespace on a testnet.
type nethost struct {
	ns string
	ip string
}

var testnetSeq atomic.Int32

// newTestnet creates a bridge namespace and n host namespaces on it, in a
// /24 of 10.77.0.0/16 that only these namespaces route. Cleanup removes
// them all.
func newTestnet(t *testing.T, n int) *testnet {
	t.Helper()
	seq := testnetSeq.Add(1)
	tn := &testnet{
		t:      t,
		name:   fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), seq),
		subnet: fmt.Sprintf("10.77.%d", 1+(os.Getpid()+int(seq))%250),
	}
	tn.bridge = tn.name + "-br"
	t.Cleanup(tn.remove)
	tn.ip("netns", "add", tn.bridge)
	tn.ip("-n", tn.bridge, "link", "add", "br0", "type", "bridge")
	tn.ip("-n", tn.bridge, "link", "set", "br0", "up")
	for i := range n {
		tn.addHost(i)
	}
	return tn
}

func (tn *testnet) addHost(i int) *nethost {
	h := &nethost{ns: fmt.Sprintf("%s-h%d", tn.name, i), ip: fmt.Sprintf("%s.%d", tn.subnet, 10+i)}
	tn.ip("netns", "add", h.ns)
	tn.ip("-n", h.ns, "link", "set", "lo", "up")
	// The veth's two ends are created directly in their namespaces.
	tn.ip("link", "add", "vh", "netns", h.ns, "type", "veth", "peer", "name", fmt.Sprintf("vb%d", i), "netns", tn.bridge)
	tn.ip("-n", tn.bridge, "link", "set", fmt.Sprintf("vb%d", i), "master", "br0")
	tn.ip("-n", tn.bridge, "link", "set", fmt.Sprintf("vb%d", i), "up")
	tn.ip("-n", h.ns, "addr", "add", h.ip+"/24", "dev", "vh")
	tn.ip("-n", h.ns, "link", "set", "vh", "up")
	tn.nft(h.ns, "add table inet vaultfault\n"+
		"add chain inet vaultfault in { type filter hook input priority 0; policy accept; }\n"+
		"add chain inet vaultfault out { type filter hook output priority 0; policy accept; }\n")
	tn.mu.Lock()
	tn.hosts = append(tn.hosts, h)
	tn.mu.Unlock()
	return h
}

func (tn *testnet) ip(args ...string) {
	tn.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tn.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (tn *testnet) nft(ns, script string) {
	tn.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		tn.t.Fatalf("nft in %s: %v: %s\n%s", ns, err, out, script)
	}
}

// remove deletes every namespace of the network; their links go with them.
func (tn *testnet) remove() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(name, tn.name+"-") {
			if b, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				tn.t.Errorf("removing namespace %s: %v: %s", name, err, b)
			}
		}
	}
}

// cut drops every packet from host a to host b (one way): a's output to b
// and b's input from a.
func (tn *testnet) cut(a, b int) {
	tn.t.Helper()
	ha, hb := tn.hosts[a], tn.hosts[b]
	tn.nft(ha.ns, fmt.Sprintf("add rule inet vaultfault out ip daddr %s drop\n", hb.ip))
	tn.nft(hb.ns, fmt.Sprintf("add rule inet vaultfault in ip saddr %s drop\n", ha.ip))
}

// partition cuts every link between hosts of different groups, both ways.
func (tn *testnet) partition(groups ...[]int) {
	tn.t.Helper()
	group := map[int]int{}
	for g, hs := range groups {
		for _, h := range hs {
			group[h] = g
		}
	}
	for a := range tn.hosts {
		for b := range tn.hosts {
			ga, oka := group[a]
			gb, okb := group[b]
			if a != b && oka && okb && ga != gb {
				tn.cut(a, b)
			}
		}
	}
}

// heal removes every rule: all links carry traffic again.
func (tn *testnet) heal() {
	tn.t.Helper()
	for _, h := range tn.hosts {
		tn.nft(h.ns, "flush chain inet vaultfault in\nflush chain inet vaultfault out\n")
	}
}

// node is one vault daemon, on loopback or as a host on a testnet. It reuses
// the harness's daemon (vault, vaultIn) and adds what faults need: logs in a
// file that survives restarts, SIGSTOP/SIGCONT, restart, and a state dir
// that can be wiped for a replacement node.
type node struct {
	*daemon
	idx     int
	host    *nethost // nil on loopback
	logPath string
	client  *api.Client
	paused  bool
	down    bool // killed by the test: not running on purpose

	unlockedWith string // the label of the key shown that unlocked it last
}

// newNode prepares a daemon: a host on tn when tn is not nil, else loopback.
func newNode(t *testing.T, tn *testnet, idx int, extra ...string) *node {
	t.Helper()
	n := &node{idx: idx}
	if tn == nil {
		n.daemon = newDaemon(t, extra...)
	} else {
		dir := t.TempDir()
		n.host = tn.hosts[idx]
		n.daemon = &daemon{t: t, stateDir: filepath.Join(dir, "state"), socket: filepath.Join(dir, "vault.sock"),
			addr: n.host.ip + ":4700", apiAddr: n.host.ip + ":4701", extra: extra}
		t.Cleanup(func() { n.kill() })
	}
	n.logPath = filepath.Join(filepath.Dir(n.stateDir), "daemon.log")
	n.client = api.NewClient(n.socket)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of node %d's log (%s):\n%s", n.idx, n.addr, tail(n.logPath, 40))
		}
	})
	return n
}

func (n *node) String() string { return fmt.Sprintf("n%d(%s)", n.idx, n.addr) }

// start starts the daemon and waits until it serves its socket.
func (n *node) start() {
	n.t.Helper()
	if err := n.launch(); err != nil {
		n.t.Fatal(err)
	}
	if err := n.waitServing(60 * time.Second); err != nil {
		n.t.Fatal(err)
	}
}

// launch starts the daemon process without waiting for it.
func (n *node) launch() error {
	args := append([]string{"--socket", n.socket, "daemon", "--state-dir", n.stateDir, "--listen-addr", n.addr, "--api-addr", n.apiAddr, "--docker-plugin-socket", ""}, n.extra...)
	name := vaultBin
	if n.host != nil {
		args = append([]string{"netns", "exec", n.host.ns, vaultBin}, args...)
		name = "ip"
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	n.cmd = exec.Command(name, args...)
	n.cmd.SysProcAttr = dieWithTest() // ip netns exec execs the daemon: it keeps the signal
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.logs = &lockedBuffer{} // the harness's buffer; this node logs to logPath
	err = n.cmd.Start()
	logf.Close()
	if err != nil {
		n.cmd = nil
		return err
	}
	n.paused, n.down = false, false
	exited := make(chan struct{})
	n.exited = exited
	cmd := n.cmd
	go func() { cmd.Wait(); close(exited) }()
	return nil
}

// waitServing polls the socket until the daemon answers.
func (n *node) waitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := n.client.Status(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited at start:\n%s", n, tail(n.logPath, 30))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not serve within %s:\n%s", n, timeout, tail(n.logPath, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running reports whether the daemon process is alive (paused or not).
func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (also to a paused daemon) and waits for it to go.
func (n *node) kill() {
	if n.cmd == nil {
		return
	}
	n.daemon.kill()
	n.paused, n.down = false, true
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	n.t.Helper()
	if n.cmd == nil {
		return
	}
	if n.paused {
		n.resume()
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.t.Fatalf("%s did not stop on SIGTERM:\n%s", n, tail(n.logPath, 30))
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		n.t.Fatalf("%s exited %d on SIGTERM:\n%s", n, code, tail(n.logPath, 30))
	}
	n.cmd, n.down = nil, true
}

// pause stops the daemon with SIGSTOP: it holds its sockets and answers
// nothing, like a host that hangs.
func (n *node) pause() {
	if n.running() && !n.paused {
		n.cmd.Process.Signal(syscall.SIGSTOP)
		n.paused = true
	}
}

func (n *node) resume() {
	if n.running() && n.paused {
		n.cmd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
}

// log returns everything the daemon logged, over all its runs.
func (n *node) log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// wipe deletes the node's state dir (the node must be down).
func (n *node) wipe() {
	n.t.Helper()
	if n.running() {
		n.t.Fatalf("wipe of running %s", n)
	}
	if err := os.RemoveAll(n.stateDir); err != nil {
		n.t.Fatal(err)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fleet is a cluster of nodes under test, on a testnet or on loopback.
type fleet struct {
	t     *testing.T
	net   *testnet // nil on loopback
	nodes []*node
	extra []string

	// KEK changes: the keys shown so far (a node that restarts locked
	// unlocks with one), the setting now, whether the running schedule
	// changed the KEK, and the tool that verifies the state dirs.
	shown      []cred
	autolock   bool
	kekChanged bool
	rt         *rafttool
}

// newFleet starts n daemons (on a testnet when namespaces work, else on
// loopback), inits the first and joins the others.
func newFleet(t *testing.T, n int, useNetns bool, extra ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, extra: extra}
	if useNetns {
		f.net = newTestnet(t, n)
	}
	for i := range n {
		nd := newNode(t, f.net, i, extra...)
		nd.start()
		f.nodes = append(f.nodes, nd)
	}
	must(t, f.nodes[0].vault("cluster", "init", "--shards", "4"))
	for _, nd := range f.nodes[1:] {
		f.join(nd, f.nodes[0])
	}
	return f
}

func (f *fleet) token(via *node) string {
	f.t.Helper()
	return strings.TrimSpace(must(f.t, via.vault("cluster", "join-token", "-q", "manager")).stdout)
}

func (f *fleet) join(nd, via *node) {
	f.t.Helper()
	must(f.t, nd.vault("cluster", "join", "--token", f.token(via), via.apiAddr))
}

// roots returns every node's state dir.
func (f *fleet) roots() []string {
	var out []string
	for _, nd := range f.nodes {
		out = append(out, nd.stateDir)
	}
	return out
}

// healAll ends every fault: links heal, paused daemons resume, killed ones
// restart. It returns an error naming any daemon that exited by itself.
func (f *fleet) healAll() error {
	f.t.Helper()
	if f.net != nil {
		f.net.heal()
	}
	var crashed []string
	for _, nd := range f.nodes {
		nd.resume()
		if nd.cmd != nil && !nd.running() && !nd.down {
			crashed = append(crashed, fmt.Sprintf("%s exited by itself (%v):\n%s", nd, nd.cmd.ProcessState, tail(nd.logPath, 40)))
		}
	}
	var restarted []*node
	for _, nd := range f.nodes {
		if !nd.running() {
			if err := nd.launch(); err != nil {
				return err
			}
			restarted = append(restarted, nd)
		}
	}
	for _, nd := range restarted {
		if err := nd.waitServing(60 * time.Second); err != nil {
			return err
		}
	}
	for _, nd := range f.nodes {
		if nd.running() {
			if err := f.unlock(nd); err != nil {
				return err
			}
		}
	}
	if len(crashed) > 0 {
		return fmt.Errorf("%s", strings.Join(crashed, "\n"))
	}
	return nil
}

// waitHealthy waits until every node answers a linearizable read of every
// secret group and a write through each node succeeds: the cluster has
// healed.
func (f *fleet) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, nd := range f.nodes {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := nd.client.Secrets(ctx)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not serve reads within %s after the faults ended: %v", nd, timeout, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// leaderCounts returns, by node index, how many Raft groups each node leads
// (as seen by via, without a quorum if need be).
func (f *fleet) leaderCounts(via *node) map[int]int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := via.client.Nodes(ctx)
	out := map[int]int{}
	if err != nil {
		return out
	}
	for _, n := range ns {
		for _, nd := range f.nodes {
			if nd.addr == n.Addr {
				out[nd.idx] = n.Leader
			}
		}
	}
	return out
}
