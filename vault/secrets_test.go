package vault

import (
	"bytes"
	"context"
	"testing"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
)

func zeroed(b []byte) bool {
	return len(b) > 0 && bytes.Count(b, []byte{0}) == len(b)
}

// The write path wipes the plaintext it was handed once it is sealed: the
// request body, the decoded data, on success and on failure.
func TestWritePathWipesPlaintext(t *testing.T) {
	body := []byte(`{"name":"s","data":"Y2FuYXJ5LXZhbHVl"}`)
	var req api.CreateSecretRequest
	if err := decodeBody(body, &req); err != nil {
		t.Fatal(err)
	}
	if string(req.Data) != "canary-value" || !zeroed(body) {
		t.Fatalf("decodeBody: data %q, body after %q", req.Data, body)
	}

	n, _ := startSingleNode(t)
	ctx := context.Background()
	data := []byte("canary-value")
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: "s", Data: data}); err != nil {
		t.Fatal(err)
	}
	if !zeroed(data) {
		t.Errorf("CreateSecret left the data as %q", data)
	}
	update := []byte("canary-value-2")
	if _, err := n.UpdateSecret(ctx, "s", update); err != nil {
		t.Fatal(err)
	}
	if !zeroed(update) {
		t.Errorf("UpdateSecret left the data as %q", update)
	}
	got, v, err := n.SecretData(ctx, "s", 0)
	if err != nil || v != 2 || string(got) != "canary-value-2" {
		t.Fatalf("read back: version %d %q, %v", v, got, err)
	}
	statedir.Wipe(got)

	refused := []byte("canary-value-3")
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: "bad name", Data: refused}); err == nil {
		t.Fatal("a bad name was accepted")
	}
	if !zeroed(refused) {
		t.Errorf("a refused CreateSecret left the data as %q", refused)
	}
	refused = []byte("canary-value-4")
	if _, err := n.UpdateSecret(ctx, "nosuch", refused); err == nil {
		t.Fatal("an update of a missing secret was accepted")
	}
	if !zeroed(refused) {
		t.Errorf("a refused UpdateSecret left the data as %q", refused)
	}
}
