package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

func TestGrantsAndNodeLabels(t *testing.T) {
	n, c := startSingleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: "db", Data: []byte("pw")}); err != nil {
		t.Fatal(err)
	}
	self := n.Status().NodeID
	code := func(err error) string {
		var ae *api.Error
		if errors.As(err, &ae) {
			return ae.Code
		}
		return ""
	}

	// Deny by default: nothing granted, the node may receive nothing.
	ni, err := c.InspectNode(ctx, self[:6])
	if err != nil {
		t.Fatal(err)
	}
	if ni.ID != self || len(ni.Grants) != 0 || ni.Role != "manager" {
		t.Fatalf("fresh node: %+v", ni)
	}

	if _, err := c.GrantSecret(ctx, "db", api.GrantRequest{Label: "zone=a"}); err != nil {
		t.Fatal(err)
	}
	if s, err := c.GrantSecret(ctx, "db", api.GrantRequest{Label: "zone=a"}); err != nil || len(s.Grants) != 1 {
		t.Fatalf("granting twice: %v, %+v", err, s)
	}
	// The label is not on the node yet.
	if ni, _ = c.InspectNode(ctx, self); len(ni.Grants) != 0 {
		t.Fatalf("granted before the label: %+v", ni.Grants)
	}
	if _, err := c.UpdateNode(ctx, self, api.NodeUpdateRequest{LabelAdd: []string{"zone=a", "ssd"}}); err != nil {
		t.Fatal(err)
	}
	ni, err = c.InspectNode(ctx, self)
	if err != nil {
		t.Fatal(err)
	}
	if ni.Labels["zone"] != "a" || len(ni.Grants) != 1 || ni.Grants[0].Name != "db" || ni.Grants[0].Label != "zone=a" {
		t.Fatalf("labelled node: %+v", ni)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Labels["ssd"] != "" || len(nodes[0].Labels) != 2 {
		t.Fatalf("node ls: %v %+v", err, nodes)
	}
	if _, err := c.GrantSecret(ctx, "db", api.GrantRequest{NodeID: self[:8]}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Secret(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Grants) != 2 || s.Grants[1].NodeID != self {
		t.Fatalf("inspect: %+v", s.Grants)
	}

	// Bad input says what to do.
	for _, bad := range []api.GrantRequest{{}, {NodeID: self, Label: "a=b"}, {Label: "nolabel"}, {Label: "=x"}} {
		if _, err := c.GrantSecret(ctx, "db", bad); code(err) != api.CodeInvalid {
			t.Errorf("grant %+v: %v", bad, err)
		}
	}
	if _, err := c.GrantSecret(ctx, "db", api.GrantRequest{NodeID: "nosuchnode"}); code(err) != api.CodeNotFound {
		t.Errorf("grant to a missing node: %v", err)
	}
	if _, err := c.GrantSecret(ctx, "nosuch", api.GrantRequest{Label: "a=b"}); code(err) != api.CodeNotFound {
		t.Errorf("grant of a missing secret: %v", err)
	}
	if _, err := c.RevokeSecret(ctx, "db", api.GrantRequest{Label: "zone=b"}); code(err) != api.CodeNotFound {
		t.Errorf("revoke of a missing grant: %v", err)
	}
	if _, err := c.UpdateNode(ctx, self, api.NodeUpdateRequest{LabelRm: []string{"nosuch"}}); code(err) != api.CodeNotFound {
		t.Errorf("removing a missing label: %v", err)
	}

	// Revoking and unlabelling take the grants away again.
	if _, err := c.RevokeSecret(ctx, "db", api.GrantRequest{NodeID: self}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateNode(ctx, self, api.NodeUpdateRequest{LabelRm: []string{"zone"}}); err != nil {
		t.Fatal(err)
	}
	if ni, _ = c.InspectNode(ctx, self); len(ni.Grants) != 0 || ni.Labels["zone"] != "" {
		t.Fatalf("after revoke and label-rm: %+v", ni)
	}
	if s, _ = c.Secret(ctx, "db"); len(s.Grants) != 1 || s.Grants[0].Label != "zone=a" {
		t.Fatalf("grants left: %+v", s.Grants)
	}
	// Removing the secret drops its grants.
	if _, err := c.RemoveSecret(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	rec, _, err := n.readCluster(ctx)
	if err != nil || len(rec.GrantsOf(s.ID)) != 0 {
		t.Fatalf("grants of a removed secret: %v %+v", err, rec.Grants)
	}
}
