package audit

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPeerCred(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := PeerCred(s)
	if err != nil {
		t.Fatal(err)
	}
	if p.UID != uint32(os.Getuid()) || p.PID != int32(os.Getpid()) {
		t.Errorf("peer %+v, want uid %d pid %d", p, os.Getuid(), os.Getpid())
	}
	ctx := WithPeer(context.Background(), p)
	if got, err := PeerFrom(ctx); err != nil || got != p {
		t.Errorf("PeerFrom: %v %v", got, err)
	}
	if _, err := PeerFrom(context.Background()); err == nil {
		t.Error("PeerFrom an empty context")
	}
}

func TestCertIdentity(t *testing.T) {
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "alice", Organization: []string{"operators"}}, SerialNumber: big.NewInt(0x5a1f)}
	id := CertIdentity(IdentityClient, cert)
	if id.Kind != IdentityClient || id.Cert.Subject != "CN=alice,O=operators" || id.Cert.Serial != "5a1f" {
		t.Errorf("%+v %+v", id, id.Cert)
	}
}
