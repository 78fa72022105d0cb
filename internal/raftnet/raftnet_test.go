package raftnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/ca"
)

// pki issues node certificates from one root.
type pki struct {
	t    *testing.T
	root *ca.Root
	pool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	root, _, err := ca.NewRoot("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	return &pki{t: t, root: root, pool: pool}
}

func (p *pki) cert(nodeID string) tls.Certificate {
	keyPEM, csr, err := ca.NewNodeKey(nodeID)
	if err != nil {
		p.t.Fatal(err)
	}
	certPEM, err := p.root.Sign(csr, nodeID, ca.RoleManager, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

var errRefused = errors.New("refused by the test")

// node is a started transport that records the batches it receives.
type node struct {
	tr      *transport
	addr    string
	refuse  sync.Map // node id -> true
	batches atomic.Int64
}

func startNode(t *testing.T, p *pki, id string, handshake time.Duration) *node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n := &node{addr: addr}
	f := &Factory{Config: Config{
		Certificate: p.cert(id), Roots: p.pool, HandshakeTimeout: handshake, RecheckInterval: 50 * time.Millisecond,
		Admit: func(c *x509.Certificate) error {
			if _, no := n.refuse.Load(c.Subject.CommonName); no {
				return errRefused
			}
			return nil
		},
	}}
	tr := f.Create(config.NodeHostConfig{RaftAddress: addr},
		func(pb.MessageBatch) { n.batches.Add(1) }, func(pb.Chunk) bool { return true })
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	n.tr = tr.(*transport)
	return n
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func send(c interface {
	SendMessageBatch(pb.MessageBatch) error
}) error {
	return c.SendMessageBatch(pb.MessageBatch{Requests: []pb.Message{{Type: pb.Heartbeat, From: 1, To: 2}}})
}

func TestAdmission(t *testing.T) {
	p := newPKI(t)
	a := startNode(t, p, "a", time.Second)
	b := startNode(t, p, "b", time.Second)
	c := startNode(t, p, "c", time.Second)
	ctx := context.Background()

	// Admitted both ways: batches flow.
	conn, err := a.tr.GetConnection(ctx, b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := send(conn); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to receive a batch", func() bool { return b.batches.Load() == 1 })

	// b refuses c: c's connection gets nothing through.
	b.refuse.Store("c", true)
	if cc, err := c.tr.GetConnection(ctx, b.addr); err == nil {
		// TLS 1.3: the client learns of its refused certificate on use.
		waitFor(t, "c's refused connection to fail", func() bool { return send(cc) != nil })
		cc.Close()
	}
	if got := b.batches.Load(); got != 1 {
		t.Fatalf("b received %d batches, want 1 (none from c)", got)
	}

	// c refuses b as a server: c's dial fails at the handshake.
	c.refuse.Store("b", true)
	if _, err := c.tr.GetConnection(ctx, b.addr); !errors.Is(err, errRefused) {
		t.Fatalf("dial of a refused server: %v, want %v", err, errRefused)
	}

	// An open connection whose peer stops being admitted is closed on
	// both ends by the recheck.
	b.refuse.Store("a", true)
	waitFor(t, "a's open connection to be closed", func() bool { return send(conn) != nil })
}

// TestHandshakeDeadline: a connection that never starts TLS is closed
// after the handshake timeout.
func TestHandshakeDeadline(t *testing.T) {
	p := newPKI(t)
	a := startNode(t, p, "a", 200*time.Millisecond)
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", a.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	start := time.Now()
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		_, err := c.Read(b[:])
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			t.Fatalf("a silent connection was still open after %s", time.Since(start))
		}
	}
	waitFor(t, "no connection left open", func() bool {
		a.tr.mu.Lock()
		defer a.tr.mu.Unlock()
		return len(a.tr.conns) == 0
	})
}
