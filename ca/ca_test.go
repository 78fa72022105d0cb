package ca

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	root, _, err := NewRoot("cluster-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := NewTokenSecret()
	tok := Token{Digest: Digest(root.Cert), Secret: sec}
	s := tok.String()
	if !strings.HasPrefix(s, "VLTTKN-1-") || len(s) != len("VLTTKN-1-")+52+1+32 {
		t.Fatalf("token %q", s)
	}
	got, err := ParseToken("  " + s + "\n")
	if err != nil || got != tok {
		t.Fatalf("parse: %v %v", got, err)
	}
	if !SecretEqual(got.Secret, sec) {
		t.Fatal("secret mismatch")
	}
	other, _ := NewTokenSecret()
	if SecretEqual(other, sec) {
		t.Fatal("two random secrets compare equal")
	}
	for _, bad := range []string{"", "SWMTKN-1-abc", "VLTTKN-1-", s[:len(s)-1], s + "A", strings.Replace(s, "-", "_", 3), strings.ToLower(s)} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted it", bad)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	now := time.Now()
	root, keyPEM, err := NewRoot("cluster-1", now)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := ParseRoot(root.CertPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, csr, err := NewNodeKey("node-a")
	if err != nil || len(nodeKey) == 0 {
		t.Fatal(err)
	}
	certPEM, err := loaded.Sign(csr, "node-a", RoleManager, []string{"127.0.0.1", "vault-1.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node-a" || cert.Subject.OrganizationalUnit[0] != RoleManager || cert.Subject.Organization[0] != "cluster-1" {
		t.Fatalf("subject %v", cert.Subject)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	for _, name := range []string{"127.0.0.1", "vault-1.example"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Fatalf("verify %s %v: %v", name, usage, err)
			}
		}
	}
	// Another cluster's root does not verify it.
	other, _, _ := NewRoot("cluster-2", now)
	op := x509.NewCertPool()
	op.AddCert(other.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: op}); err == nil {
		t.Fatal("a foreign root verified the certificate")
	}
	if Digest(other.Cert) == Digest(root.Cert) {
		t.Fatal("two roots share a digest")
	}
	// A root key that does not match its certificate is refused.
	_, otherKey, _ := NewRoot("cluster-3", now)
	if _, err := ParseRoot(root.CertPEM, otherKey); err == nil {
		t.Fatal("ParseRoot accepted a mismatched key")
	}
	if _, err := loaded.Sign([]byte("not a csr"), "x", RoleManager, nil, now); err == nil {
		t.Fatal("Sign accepted garbage")
	}
}

func FuzzParseToken(f *testing.F) {
	root, _, _ := NewRoot("c", time.Now())
	sec, _ := NewTokenSecret()
	f.Add(Token{Digest: Digest(root.Cert), Secret: sec}.String())
	f.Add("VLTTKN-1-")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("round trip of %q: %v", s, err)
		}
	})
}
