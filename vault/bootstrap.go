package vault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// Init creates a new cluster with this node as its only manager.
func (n *Node) Init(ctx context.Context, shards int) (*api.InitResponse, error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	if err := n.checkUninitialized(); err != nil {
		return nil, err
	}
	if shards == 0 {
		shards = DefaultShards()
	}
	if shards < 1 || shards > MaxShards {
		return nil, api.Errorf(api.CodeInvalid, "--shards %d: want 1 to %d secret groups", shards, MaxShards)
	}
	clusterID := statedir.NewID()
	st, err := n.newNodeState(clusterID, statedir.NewID(), 1, shards)
	if err != nil {
		return nil, err
	}
	resp, err := n.bootstrap(ctx, st)
	if err != nil {
		n.shutdownRaft()
		if rerr := n.removeClusterFiles(); rerr != nil {
			n.log.Error("cleaning up after a failed init", "err", rerr)
		}
		return nil, err
	}
	n.log.Info("cluster initialized", "cluster_id", clusterID, "node_id", st.NodeID, "shards", shards)
	return resp, nil
}

func (n *Node) checkUninitialized() error {
	if n.shardCount() != 0 {
		return api.Errorf(api.CodeInitialized, "this node is already part of cluster %s", n.clusterID()).
			WithHint("`vault status` shows it; to start over, stop the daemon and use a new --state-dir")
	}
	return nil
}

func (n *Node) newNodeState(clusterID, nodeID string, replicaID uint64, shards int) (*statedir.Node, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	return &statedir.Node{
		Format: 1, NodeID: nodeID, ReplicaID: replicaID, ClusterID: clusterID,
		RaftAddr: n.cfg.AdvertiseAddr, APIAddr: n.advertisedAPIAddr(), Hostname: host, Shards: shards,
		DeploymentID: statedir.DeploymentID(clusterID), RaftWorkers: defaultRaftWorkers(),
	}, nil
}

// advertisedAPIAddr is the advertised host with the API port.
func (n *Node) advertisedAPIAddr() string {
	host, _, _ := net.SplitHostPort(n.cfg.AdvertiseAddr)
	_, port, _ := net.SplitHostPort(n.cfg.APIAddr)
	return net.JoinHostPort(host, port)
}

func (n *Node) bootstrap(ctx context.Context, st *statedir.Node) (*api.InitResponse, error) {
	if err := n.removeClusterFiles(); err != nil {
		return nil, err
	}
	now := time.Now()
	b := &boot{st: st, members: map[uint64]string{st.ReplicaID: st.RaftAddr}}
	var w *keys.WrappedKeyring
	var rec *raftsm.ClusterRecord
	err := func() error {
		var err error
		if b.kek, err = newKEK(n.cfg.StateDir, statedir.KEKVersionBase+1); err != nil {
			return err
		}
		if w, b.ring, err = keys.NewKeyring(b.kek, now); err != nil {
			return err
		}
		root, rootKey, err := ca.NewRoot(st.ClusterID, now)
		if err != nil {
			return err
		}
		defer statedir.Wipe(rootKey)
		keyPEM, csr, err := ca.NewNodeKey(st.NodeID)
		if err != nil {
			return err
		}
		defer statedir.Wipe(keyPEM)
		cert, err := root.Sign(csr, st.NodeID, ca.RoleManager, certHosts(st.RaftAddr, st.APIAddr), now)
		if err != nil {
			return err
		}
		if err := writeTLS(n.cfg.StateDir, b.kek, root.CertPEM, cert, keyPEM); err != nil {
			return err
		}
		if b.tls, err = newTLSMaterial(root.CertPEM, cert, keyPEM); err != nil {
			return err
		}
		rec = &raftsm.ClusterRecord{
			ID: st.ClusterID, Created: now.UnixNano(), Shards: st.Shards,
			Members:       []raftsm.Member{{NodeID: st.NodeID, ReplicaID: st.ReplicaID, Addr: st.RaftAddr, APIAddr: st.APIAddr, Role: ca.RoleManager, Joined: now.UnixNano(), CertSerial: pemSerial(cert)}},
			NextReplicaID: st.ReplicaID + 1,
			CACert:        root.CertPEM, CAKey: bytes.Clone(rootKey),
			Tokens: map[string][]byte{},
		}
		for _, role := range []string{ca.RoleManager, ca.RoleWorker} {
			sec, err := ca.NewTokenSecret()
			if err != nil {
				return err
			}
			rec.Tokens[role] = sec[:]
		}
		if b.store, err = raftsm.OpenStore(filepath.Join(n.cfg.StateDir, statedir.StoreDir), false); err != nil {
			return err
		}
		return n.startRaft(ctx, b)
	}()
	if err != nil {
		b.release()
		return nil, err
	}
	// Introduce the keyring into every group's log before anything else.
	wrapped := w.Marshal()
	res, err := n.propose(ctx, raftsm.ControlShard, &raftsm.Command{
		Op: raftsm.OpKeyringSet, RequestID: newRequestID(), Time: now.UnixNano(),
		Keyring: wrapped, KeyringEpoch: 1, KeyringCAS: true,
	})
	if err != nil || res.Value != raftsm.ResultOK {
		return nil, fmt.Errorf("introduce the keyring to the control group: %v (result %d)", err, res.Value)
	}
	if err := n.distributeKeyring(ctx, wrapped, 1); err != nil {
		return nil, err
	}
	if err := n.writeCluster(ctx, rec, 0); err != nil {
		return nil, err
	}
	if err := statedir.WriteNode(n.cfg.StateDir, st); err != nil {
		return nil, err
	}
	return &api.InitResponse{ClusterID: st.ClusterID, NodeID: st.NodeID, Shards: st.Shards}, nil
}

func (n *Node) clusterID() string {
	if st := n.identity(); st != nil {
		return st.ClusterID
	}
	return ""
}

// newKEK makes a random KEK and writes it to the state dir.
func newKEK(dir string, version uint32) (*crypto.Key, error) {
	kek, err := keys.GenerateKEK(version)
	if err != nil {
		return nil, err
	}
	if err := statedir.WriteKEK(dir, statedir.KEKFile, kek); err != nil {
		kek.Wipe()
		return nil, fmt.Errorf("write KEK: %w", err)
	}
	return kek, nil
}
