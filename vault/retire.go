package vault

import (
	"context"
	"fmt"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// Retiring a DEK drops its wrapped material from the keyring, but every
// keyring entry written before (the rotation that introduced it, the
// retirements of older versions) still carries it, wrapped under the KEK,
// in the Raft log of every group on every manager, and the replaced
// keyring values linger in the state database's files. Anyone holding the
// unlock key could unwrap it from there. So a retirement ends by
// compacting every group on every manager behind the keyring change: after
// it no file holds the retired DEK in any form.

// compactRetired compacts every manager's groups after the keyring retired
// version. Each manager first catches up with the keyring change (a
// linearizable read on every group), so its snapshot covers it.
func (r *replicas) compactRetired(ctx context.Context, version uint32) error {
	n := r.node
	for _, shard := range statedir.AllShards(r.st.Shards) {
		if _, err := r.read(ctx, shard, raftsm.QueryKeyringEpoch{}); err != nil {
			return r.retireCompactError(version, fmt.Errorf("group %d: %w", shard, err))
		}
	}
	resp, err := r.compactAll(ctx)
	if err != nil {
		return r.retireCompactError(version, err)
	}
	n.log.Info("compacted every manager after retiring a data key", "dek_version", version, "managers", resp.Managers)
	return nil
}

func (r *replicas) retireCompactError(version uint32, err error) error {
	return api.Errorf(api.CodeUnavailable, "data key v%d is retired in the keyring, but its wrapped copies stay in the Raft logs until every group on every manager is compacted: %v", version, err).
		WithHint("bring every manager back and run `vault key retire %d` again: it finishes the compaction", version)
}
