package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/raftsm"
)

// writeCluster seals the cluster record and stores it in the control shard
// if its generation is still gen (0: no record yet).
func (n *Node) writeCluster(ctx context.Context, rec *raftsm.ClusterRecord, gen uint64) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	return r.writeCluster(ctx, rec, gen)
}

func (r *replicas) writeCluster(ctx context.Context, rec *raftsm.ClusterRecord, gen uint64) error {
	k, err := r.ring.Active()
	if err != nil {
		return err
	}
	sealed, err := raftsm.SealCluster(k, rec)
	if err != nil {
		return err
	}
	c := &raftsm.Command{Op: raftsm.OpClusterSet, RequestID: newRequestID(), Time: time.Now().UnixNano(), Cluster: sealed, ClusterGen: gen}
	res, err := r.propose(ctx, raftsm.ControlShard, c)
	if err != nil {
		return err
	}
	if res.Value == raftsm.ResultConflict {
		return errClusterConflict
	}
	if res.Value != raftsm.ResultOK {
		return fmt.Errorf("cluster record: the state machine answered %d", res.Value)
	}
	return nil
}

var errClusterConflict = errors.New("cluster record changed concurrently")

// readCluster reads the cluster record (linearizable) and its generation.
func (n *Node) readCluster(ctx context.Context) (*raftsm.ClusterRecord, uint64, error) {
	r, err := n.running()
	if err != nil {
		return nil, 0, err
	}
	return r.readCluster(ctx)
}

func (r *replicas) readCluster(ctx context.Context) (*raftsm.ClusterRecord, uint64, error) {
	sc, err := readAs[*raftsm.StoredCluster](ctx, r, raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, 0, err
	}
	rec, err := r.openCluster(sc)
	if err != nil {
		return nil, 0, err
	}
	return rec, sc.Gen, nil
}

func (n *Node) openCluster(sc *raftsm.StoredCluster) (*raftsm.ClusterRecord, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.openCluster(sc)
}

func (r *replicas) openCluster(sc *raftsm.StoredCluster) (*raftsm.ClusterRecord, error) {
	if sc == nil {
		return nil, errors.New("the cluster record is missing from the control group")
	}
	rec, err := raftsm.OpenCluster(r.ring, sc.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open cluster record: %w", err)
	}
	return rec, nil
}

// updateCluster applies f to the cluster record and writes it back,
// retrying when another manager changed it in between.
func (n *Node) updateCluster(ctx context.Context, f func(rec *raftsm.ClusterRecord) error) (*raftsm.ClusterRecord, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.updateCluster(ctx, f)
}

func (r *replicas) updateCluster(ctx context.Context, f func(rec *raftsm.ClusterRecord) error) (*raftsm.ClusterRecord, error) {
	for range maxConflictRetries {
		rec, gen, err := r.readCluster(ctx)
		if err != nil {
			return nil, err
		}
		if err := f(rec); err != nil {
			return nil, err
		}
		err = r.writeCluster(ctx, rec, gen)
		if errors.Is(err, errClusterConflict) {
			continue
		}
		return rec, err
	}
	return nil, api.Errorf(api.CodeConflict, "the cluster record keeps changing concurrently").WithHint("retry")
}

// JoinToken returns (rotating first if asked) the join token of a role.
func (n *Node) JoinToken(ctx context.Context, role string, rotate bool) (*api.JoinTokenResponse, error) {
	if role != ca.RoleManager && role != ca.RoleWorker {
		return nil, api.Errorf(api.CodeInvalid, "unknown role %q: want manager or worker", role)
	}
	var rec *raftsm.ClusterRecord
	var err error
	if rotate {
		rec, err = n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
			sec, err := ca.NewTokenSecret()
			rec.Tokens[role] = sec[:]
			return err
		})
		if err == nil {
			n.log.Info("join token rotated", "role", role)
		}
	} else {
		rec, _, err = n.readCluster(ctx)
	}
	if err != nil {
		return nil, err
	}
	root, err := ca.ParseCert(rec.CACert)
	if err != nil {
		return nil, err
	}
	t := ca.Token{Digest: ca.Digest(root)}
	copy(t.Secret[:], rec.Tokens[role])
	return &api.JoinTokenResponse{Role: role, Token: t.String(), Rotated: rotate}, nil
}
