package vault

import (
	"bytes"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// TestSealLocal: what a node seals for its local files opens only under the
// same object, survives a data key rotation, and needs a running node.
func TestSealLocal(t *testing.T) {
	n, _ := startSingleNode(t)
	plain := []byte(`{"Secrets":[{"Source":"db-password"}]}`)
	sealed, err := n.SealLocal("docker-volume/app", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("db-password")) {
		t.Fatal("sealed blob holds the plaintext")
	}
	if got, err := n.OpenLocal("docker-volume/app", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenLocal: %q, %v", got, err)
	}
	if _, err := n.OpenLocal("docker-volume/other", sealed); !crypto.IsIntegrityError(err) {
		t.Errorf("opened under another object: %v", err)
	}
	if _, err := n.RotateDEK(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	if got, err := n.OpenLocal("docker-volume/app", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("OpenLocal after a data key rotation: %q, %v", got, err)
	}
}
