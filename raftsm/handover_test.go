package raftsm

import (
	"bytes"
	"testing"
)

func TestHandoverTake(t *testing.T) {
	f := Fleet{
		Workers:    []Worker{{NodeID: "w1"}, {NodeID: "w2"}},
		NodeLabels: map[string]map[string]string{"w1": {"tier": "web"}},
	}
	f.AddGrant(Grant{SecretID: "s1", NodeID: "w1"})
	f.AddGrant(Grant{SecretID: "s2", Label: "tier=web"})
	f.AddGrant(Grant{SecretID: "s3", NodeID: "w2"})
	secret := bytes.Repeat([]byte{7}, 20)
	f.SetHandover(Handover{From: "w1", Role: "manager", Secret: secret, Created: 100}, 0)
	if f.HandoverBySecret(bytes.Repeat([]byte{8}, 20)) != nil {
		t.Fatal("a wrong secret finds a handover")
	}
	if h := f.HandoverBySecret(secret); h == nil || h.From != "w1" {
		t.Fatalf("HandoverBySecret = %+v", h)
	}
	if !f.TakeHandover("w1", "m9") {
		t.Fatal("TakeHandover refused a pending handover")
	}
	if f.TakeHandover("w1", "m10") {
		t.Fatal("a handover was taken twice")
	}
	if f.HandoverBySecret(secret) != nil {
		t.Fatal("the secret still works after the handover was taken")
	}
	if f.Worker("w1") != nil || f.Worker("w2") == nil {
		t.Fatalf("workers after the handover: %+v", f.Workers)
	}
	if f.NodeLabels["m9"]["tier"] != "web" || f.NodeLabels["w1"] != nil {
		t.Fatalf("labels did not move: %+v", f.NodeLabels)
	}
	if got := f.SecretsFor("m9"); len(got) != 2 || got[0] != "s1" || got[1] != "s2" {
		t.Fatalf("the new id may receive %v, want [s1 s2]", got)
	}
	if got := f.SecretsFor("w2"); len(got) != 1 || got[0] != "s3" {
		t.Fatalf("another worker's grants changed: %v", got)
	}
	// A finished handover is dropped once old; a new one replaces the
	// node's earlier one.
	f.SetHandover(Handover{From: "w2", Role: "manager", Secret: secret, Created: 300}, 200)
	if f.Handover("w1") != nil || f.Handover("w2") == nil {
		t.Fatalf("handovers: %+v", f.Handovers)
	}
	f.DropHandover("w2")
	if len(f.Handovers) != 0 {
		t.Fatalf("handovers after drop: %+v", f.Handovers)
	}
}
