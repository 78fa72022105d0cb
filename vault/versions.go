package vault

import (
	"context"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// MaxVersionsLimit bounds --max-versions.
const MaxVersionsLimit = 1_000_000

// validateMaxVersions checks a version limit given by an operator.
func validateMaxVersions(flag string, n int) error {
	if n < 0 || n > MaxVersionsLimit {
		return api.Errorf(api.CodeInvalid, "%s %d: give 1 to %d versions to keep, or 0 to keep them all", flag, n, MaxVersionsLimit)
	}
	return nil
}

// SetVersionPolicy sets how many data versions a secret keeps unless it
// has its own limit. Secrets over it lose their oldest versions at their
// next update.
func (n *Node) SetVersionPolicy(ctx context.Context, req *api.VersionPolicy) error {
	if err := validateMaxVersions("--max-versions", req.MaxVersions); err != nil {
		return err
	}
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		rec.MaxVersions = req.MaxVersions
		return nil
	})
	return err
}

// limitVersions drops from rec, which an update just gave its new latest
// version, the oldest versions beyond its limit (its own, or the
// cluster's default), and returns the PruneBelow that removes their data
// in the same command (0: nothing to remove). The default is read from
// this manager's applied state: a limit is a policy, and one that is a
// moment old prunes one update later at most.
func (r *replicas) limitVersions(ctx context.Context, rec *raftsm.SecretRecord) uint32 {
	limit := rec.MaxVersions
	if limit == 0 {
		limit = r.defaultMaxVersions(ctx)
	}
	if limit <= 0 || len(rec.Versions) <= limit {
		return 0
	}
	keep := rec.Versions[len(rec.Versions)-limit:]
	rec.Versions = append([]raftsm.VersionInfo(nil), keep...)
	return keep[0].Version
}

// defaultMaxVersions is the cluster's default version limit as this
// manager applied it (0 when it cannot tell: keep everything).
func (r *replicas) defaultMaxVersions(ctx context.Context) int {
	rec, _, err := r.readCluster(WithStaleReads(ctx))
	if err != nil {
		return 0
	}
	statedir.Wipe(rec.CAKey)
	return rec.MaxVersions
}
