package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// writeCluster seals the cluster record and stores it in the control shard
// if its generation is still gen (0: no record yet).
func (n *Node) writeCluster(ctx context.Context, rec *raftsm.ClusterRecord, gen uint64) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	defer statedir.Wipe(b)
	sealed, err := n.seal(raftsm.ControlShard, raftsm.ClusterObject, b)
	if err != nil {
		return err
	}
	c := &raftsm.Command{Op: raftsm.OpClusterSet, RequestID: newRequestID(), Time: time.Now().UnixNano(), Cluster: sealed, ClusterGen: gen}
	res, err := n.propose(ctx, raftsm.ControlShard, c)
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
	sc, err := readAs[*raftsm.StoredCluster](ctx, n, raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, 0, err
	}
	rec, err := n.openCluster(sc)
	if err != nil {
		return nil, 0, err
	}
	return rec, sc.Gen, nil
}

func (n *Node) openCluster(sc *raftsm.StoredCluster) (*raftsm.ClusterRecord, error) {
	if sc == nil {
		return nil, errors.New("the cluster record is missing from the control group")
	}
	b, err := n.open(raftsm.ControlShard, raftsm.ClusterObject, sc.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open cluster record: %w", err)
	}
	defer statedir.Wipe(b)
	var rec raftsm.ClusterRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode cluster record: %w", err)
	}
	return &rec, nil
}

// updateCluster applies f to the cluster record and writes it back,
// retrying when another manager changed it in between.
func (n *Node) updateCluster(ctx context.Context, f func(rec *raftsm.ClusterRecord) error) (*raftsm.ClusterRecord, error) {
	for range maxConflictRetries {
		rec, gen, err := n.readCluster(ctx)
		if err != nil {
			return nil, err
		}
		if err := f(rec); err != nil {
			return nil, err
		}
		err = n.writeCluster(ctx, rec, gen)
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
