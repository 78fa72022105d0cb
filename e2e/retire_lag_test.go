package e2e

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRetireWhileAManagerLags: a manager whose Raft traffic is cut while a
// data key is retired has not applied the keyring change when it is asked
// to compact; compacting then would leave the keyring that wraps the
// retired key live, and once the manager caught up, an overwritten copy of
// it in its state database that no later purge removes. So each manager
// catches up with every group before it compacts it: the retirement waits
// for the link to come back, and afterwards no file on any manager holds
// the retired key in any form.
func TestRetireWhileAManagerLags(t *testing.T) {
	ds := []*daemon{newDaemon(t), newDaemon(t), newDaemon(t)}
	lagger := ds[2]
	link := newLinkProxy(t, lagger.addr)
	lagger.extra = append(lagger.extra, "--advertise-addr", link.addr())
	for _, d := range ds {
		d.start()
	}
	must(t, ds[0].vault("cluster", "init", "--shards", "4"))
	tok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	for _, d := range ds[1:] {
		must(t, d.vault("cluster", "join", "--token", tok, ds[0].apiAddr))
	}
	for i := range 40 {
		must(t, ds[i%3].vaultIn([]byte(randHex(8)), "secret", "create", fmt.Sprintf("s%d", i), "-"))
	}
	must(t, ds[0].vault("key", "rotate", "--full"))
	keks := map[string][]byte{}
	for _, d := range ds {
		for name, h := range rawKeys(t, d) {
			if name == "kek" {
				b, err := hex.DecodeString(h)
				if err != nil {
					t.Fatal(err)
				}
				keks[h] = b
			}
		}
	}
	var kekList [][]byte
	for _, k := range keks {
		kekList = append(kekList, k)
	}
	// Control: the keyrings on disk wrap v1 before the retirement.
	if hits := findWrappedDEKs(t, lagger.stateDir, kekList, []uint32{1}); len(hits) == 0 {
		t.Fatalf("control: no wrapped DEK v1 found in %s before retiring it", lagger.stateDir)
	}

	link.cut()
	retire := exec.Command(vaultBin, "--socket", ds[0].socket, "key", "retire", "1")
	out := &lockedBuffer{}
	retire.Stdout, retire.Stderr = out, out
	if err := retire.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- retire.Wait() }()
	var err error
	finished := false
	select {
	case err = <-done:
		finished = true
	case <-time.After(12 * time.Second):
	}
	link.heal()
	if !finished {
		err = <-done
	}
	if err != nil {
		t.Fatalf("retire with a lagging manager: %v\n%s", err, out)
	}
	if finished {
		t.Errorf("the retirement finished while manager %s could not have applied the keyring change:\n%s", lagger.addr, out)
	}
	// The lagging manager has caught up (a linearizable read of every
	// group on it), and stays up a moment so anything it does after
	// catching up is on disk.
	must(t, lagger.vault("secret", "ls"))
	must(t, lagger.vault("key", "status"))
	time.Sleep(time.Second)
	for _, d := range ds {
		d.stop()
	}
	for _, d := range ds {
		if hits := findWrappedDEKs(t, d.stateDir, kekList, []uint32{1}); len(hits) > 0 {
			t.Errorf("the retired DEK opens from %s", strings.Join(hits, "; "))
		}
	}
}

// linkProxy stands between a manager's Raft port and the managers that
// send to it: cut, it drops every connection and refuses new ones (the
// manager hears nothing), until healed.
type linkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newLinkProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *linkProxy) addr() string { return p.ln.Addr().String() }

func (p *linkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close(); c.Close() }()
		go func() { io.Copy(c, u); u.Close(); c.Close() }()
	}
}

func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *linkProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
