package vault

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/audit"
)

// The audit log follows the phases: no keys before init and while locked,
// the same keys after each unlock; every socket request is recorded with
// the caller's SO_PEERCRED; the file verifies after Close.
func TestAuditFollowsPhases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "audit.log")
	n := startUninitialized(t, func(c *Config) { c.Audit = &audit.Config{Path: path} })
	if n.aud.log.Keys() != nil {
		t.Fatal("keys before init")
	}
	if _, err := n.Init(ctx, 1); err != nil {
		t.Fatal(err)
	}
	k1 := n.aud.log.Keys()
	nodeID := n.Status().NodeID
	if k1 == nil {
		t.Fatal("no keys once running")
	}
	vk := k1.VerifyKey()

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.cfg.SocketPath)
	}}}
	resp, err := hc.Post("http://vault/v1/secrets?name=audited", api.ContentTypeData, bytes.NewReader([]byte("v")))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("create: %v %v", resp, err)
	}
	resp.Body.Close()

	key := lockNode(t, n)
	if n.aud.log.Keys() != nil {
		t.Fatal("keys while locked")
	}
	if _, err := k1.HashName("x"); err == nil {
		t.Fatal("the keys of the running phase were not wiped at lock")
	}
	if _, err := n.Unlock(ctx, key); err != nil {
		t.Fatal(err)
	}
	k2 := n.aud.log.Keys()
	if k2 == nil || k2.VerifyKey() != vk {
		t.Fatal("after unlock: no keys, or other keys")
	}
	wantHMAC, err := k2.HashName("audited")
	if err != nil {
		t.Fatal(err)
	}
	n.Close()

	res, err := audit.VerifyFiles(vk, path)
	if err != nil || res.Unsealed != 0 || res.Seals == 0 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	b, _ := os.ReadFile(path)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		r, err := audit.ParseRecord([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		if r.Op == "secret.create" && r.Result == audit.ResultOK {
			found = true
			if r.Node != nodeID {
				t.Fatalf("record of node %q, want %q (the id init gave)", r.Node, nodeID)
			}
			p := r.Identity.Peer
			if r.Identity.Kind != audit.IdentitySocket || p == nil || int(p.UID) != os.Getuid() || int(p.PID) != os.Getpid() {
				t.Fatalf("identity %+v, want this process", r.Identity)
			}
			if r.NameHMAC != wantHMAC || r.SecretID == "" {
				t.Fatalf("record %+v", r)
			}
		}
	}
	if !found || bytes.Contains(b, []byte("audited")) {
		t.Fatalf("create record found %v; name in the file %v", found, bytes.Contains(b, []byte("audited")))
	}
}
