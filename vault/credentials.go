package vault

import (
	"context"

	"github.com/vaultd/vault/api"
)

// CredentialData reads the latest data of a secret, by name or id, for the
// systemd credential socket (internal/credsock), which hands it to the
// service manager starting a unit granted it. The caller wipes the result.
// Nothing else returns secret data outside a mount.
func (n *Node) CredentialData(ctx context.Context, ref string) ([]byte, error) {
	if _, err := n.running(); err != nil {
		return nil, err
	}
	sp, err := api.ParseSecretSpec(ref)
	if err != nil {
		return nil, err
	}
	e, err := n.resolve(ctx, sp.Source)
	if err != nil {
		return nil, err
	}
	data, _, err := n.secretData(ctx, e, sp.Version)
	return data, err
}
