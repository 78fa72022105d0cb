package vault

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lni/dragonboat/v4"
	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/backup"
	"github.com/vaultd/vault/internal/snapfile"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// Snapshot files (`vault snapshot save`, `vault cluster restore`) and the
// recovery of a manager whose quorum is gone (`vault cluster recover`).
//
// A save takes, for each group in turn, a linearizable read (so this
// manager has applied every write acknowledged before the save began) and
// then Dragonboat's exported snapshot of the group: the state machine's
// sealed snapshot stream, the same bytes a follower would receive. The
// streams, and the keyring re-wrapped under the snapshot KEK, go into one
// internal/backup file. Each group's cut is consistent; together they hold
// every write acknowledged before the save started, and writes made during
// the save may or may not be in it.
//
// A restore takes the streams from the file; a recovery writes them from
// its own store once its Raft groups are stopped (localGroup). Both then
// rewrite each group's stream (the cluster record gets the new membership,
// the keyring its new wrapping), write it as an exported snapshot and
// import it with Dragonboat's tools.ImportSnapshot, which makes this
// replica the group's only member at the snapshot's index; the state
// machine recovers it when the replica starts, and every group then
// applies one entry (touchGroups) so that it streams its state to
// managers that join. Secret ids, versions, labels and sealed values are
// copied as they are: versions never go backwards.

// snapshotTmpPrefix names the working directory of a save, restore or
// recovery inside the state dir (0700, same file system); it is removed
// when the operation ends.
const snapshotTmpPrefix = "snapshot-tmp-"

// removeSnapshotLeftovers removes the working files a save, restore or
// recovery left behind when the daemon died in the middle (they hold only
// sealed data, but can be large). It runs at start, with the state dir's
// lock held, so no operation of another daemon can be using them.
func removeSnapshotLeftovers(dir string, log *slog.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), snapshotTmpPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				log.Warn("removing a snapshot's working files left by a crash", "path", filepath.Join(dir, e.Name()), "err", err)
			} else {
				log.Info("removed a snapshot's working files left by a crash", "path", filepath.Join(dir, e.Name()))
			}
		}
	}
}

// exportedGroup is one group's sealed stream in a working directory.
type exportedGroup struct {
	backup.Group
	stream string // path of the sealed stream
}

// exportGroups exports every group's snapshot into dir. Each group first
// serves a linearizable read on this manager, so the export holds every
// write acknowledged before.
func (n *Node) exportGroups(ctx context.Context, r *replicas, dir string) ([]exportedGroup, error) {
	var out []exportedGroup
	for _, shard := range statedir.AllShards(r.st.Shards) {
		if _, err := n.read(ctx, shard, raftsm.QueryKeyring{}); err != nil {
			return nil, fmt.Errorf("group %d: %w", shard, err)
		}
		sub := filepath.Join(dir, fmt.Sprint(shard))
		if err := os.Mkdir(sub, 0o700); err != nil {
			return nil, err
		}
		var err error
		for attempt := 0; ; attempt++ {
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			_, err = r.host().SyncRequestSnapshot(sctx, shard, dragonboat.SnapshotOption{Exported: true, ExportPath: sub})
			cancel()
			if err == nil || attempt == 20 || ctx.Err() != nil ||
				!(errors.Is(err, dragonboat.ErrRejected) || errors.Is(err, dragonboat.ErrSystemBusy) || retryable(err)) {
				break
			}
			// A periodic snapshot of the group is running: try again.
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return nil, fmt.Errorf("export group %d: %w", shard, err)
		}
		g, err := readExported(sub, shard)
		if err != nil {
			return nil, fmt.Errorf("export group %d: %w", shard, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// readExported copies the sealed stream out of the exported snapshot under
// dir, checking Dragonboat's checksums.
func readExported(dir string, shard uint64) (exportedGroup, error) {
	var snapPath, metaPath string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".gbsnap"):
			snapPath = p
		case d.Name() == snapfile.MetadataFile:
			metaPath = p
		}
		return nil
	})
	if err != nil {
		return exportedGroup{}, err
	}
	if snapPath == "" || metaPath == "" {
		return exportedGroup{}, errors.New("the exported snapshot has no file or no metadata")
	}
	mb, err := os.ReadFile(metaPath)
	if err != nil {
		return exportedGroup{}, err
	}
	ss, err := snapfile.ReadMetadata(mb)
	if err != nil {
		return exportedGroup{}, err
	}
	f, err := os.Open(snapPath)
	if err != nil {
		return exportedGroup{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return exportedGroup{}, err
	}
	sr, err := snapfile.Open(f, fi.Size())
	if err != nil {
		return exportedGroup{}, err
	}
	g := exportedGroup{Group: backup.Group{Shard: shard, Index: ss.Index, Term: ss.Term}, stream: filepath.Join(dir, "stream")}
	out, err := os.OpenFile(g.stream, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return exportedGroup{}, err
	}
	defer out.Close()
	if g.Size, err = io.Copy(out, sr); err != nil {
		return exportedGroup{}, err
	}
	return g, out.Close()
}

// openGroupStream opens a group's sealed snapshot stream and checks it is
// that group's.
func openGroupStream(ks crypto.KeySource, shard uint64, src io.Reader) (*raftsm.SnapshotReader, error) {
	sr, err := crypto.NewStreamReader(src, ks, raftsm.SnapshotBinding(shard))
	if err != nil {
		return nil, err
	}
	dec, err := raftsm.NewSnapshotReader(sr)
	if err != nil {
		return nil, err
	}
	if dec.Shard != shard {
		return nil, fmt.Errorf("%w: stream of group %d in the place of group %d", raftsm.ErrBadSnapshot, dec.Shard, shard)
	}
	return dec, nil
}

// groupContents walks a group's sealed stream, calling each for every
// record. It returns the stream's applied index.
func groupContents(ks crypto.KeySource, shard uint64, src io.Reader, each func(sub, v []byte) error) (uint64, error) {
	dec, err := openGroupStream(ks, shard, src)
	if err != nil {
		return 0, err
	}
	for {
		k, v, err := dec.Next()
		if err == io.EOF {
			return dec.Applied, nil
		}
		if err != nil {
			return 0, err
		}
		if err := each(k, v); err != nil {
			return 0, err
		}
	}
}

// countGroup opens g's stream with ks and fills in its counts and key
// version: a save checks that the keyring it stores opens every stream.
func countGroup(ks crypto.KeySource, g *exportedGroup) error {
	f, err := os.Open(g.stream)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return fmt.Errorf("group %d: %w", g.Shard, err)
	}
	g.KeyVersion, _ = crypto.StreamKeyVersion(hdr)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err = groupContents(ks, g.Shard, bufio.NewReaderSize(f, 1<<16), func(sub, _ []byte) error {
		g.Records++
		k, err := raftsm.ParseSubKey(sub)
		if err != nil {
			return err
		}
		switch k.Kind {
		case raftsm.SubObject:
			g.Secrets++
		case raftsm.SubData:
			g.Versions++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("group %d: %w", g.Shard, err)
	}
	return nil
}

// rewriteGroup copies the group stream src to dst, sealed under dek, with
// the keyring replaced by keyring (if not nil) and the cluster record by
// cluster (if not nil: the record's plaintext; sealed here). It returns
// the applied index the stream carries.
func rewriteGroup(ks crypto.KeySource, dek *crypto.Key, shard uint64, src io.Reader, dst io.Writer, keyring, cluster []byte) (uint64, error) {
	sw, err := crypto.NewStreamWriter(dst, dek, raftsm.SnapshotBinding(shard))
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(sw, 1<<16)
	dec, err := openGroupStream(ks, shard, src)
	if err != nil {
		return 0, err
	}
	applied := dec.Applied
	sawCluster := false
	err = raftsm.WriteSnapshot(bw, shard, applied, func(emit func(k, v []byte) error) error {
		for {
			sub, v, err := dec.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			k, err := raftsm.ParseSubKey(sub)
			if err != nil {
				return err
			}
			switch {
			case k.Kind == raftsm.SubKeyring && keyring != nil:
				v = keyring
			case k.Kind == raftsm.SubCluster && cluster != nil:
				gen, _, err := raftsm.DecodeGenValue(v)
				if err != nil {
					return err
				}
				sealed, err := crypto.Seal(dek, raftsm.ValueBinding(shard, raftsm.ClusterObject), cluster)
				if err != nil {
					return err
				}
				v = append(binary.BigEndian.AppendUint64(nil, gen), sealed...)
				sawCluster = true
			}
			if err := emit(sub, v); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if cluster != nil && !sawCluster {
		return 0, fmt.Errorf("%w: group %d holds no cluster record", raftsm.ErrBadSnapshot, shard)
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return applied, sw.Close()
}

// clusterFromStream finds and opens the cluster record in the control
// group's stream.
func clusterFromStream(ks crypto.KeySource, src io.Reader) (*raftsm.ClusterRecord, error) {
	var rec *raftsm.ClusterRecord
	_, err := groupContents(ks, raftsm.ControlShard, src, func(sub, v []byte) error {
		k, err := raftsm.ParseSubKey(sub)
		if err != nil || k.Kind != raftsm.SubCluster {
			return err
		}
		_, sealed, err := raftsm.DecodeGenValue(v)
		if err != nil {
			return err
		}
		b, err := crypto.Open(ks, raftsm.ValueBinding(raftsm.ControlShard, raftsm.ClusterObject), sealed)
		if err != nil {
			return err
		}
		defer statedir.Wipe(b)
		rec = new(raftsm.ClusterRecord)
		return json.Unmarshal(b, rec)
	})
	if err == nil && rec == nil {
		err = fmt.Errorf("%w: the control group holds no cluster record", raftsm.ErrBadSnapshot)
	}
	return rec, err
}

// importGroups rewrites each group's stream (keyring, and the cluster
// record in the control group) into dir and imports it for replica
// replicaID at addr, with old as the membership it replaces. The NodeHost
// must not be running.
func (n *Node) importGroups(st *statedir.Node, tm *tlsMaterial, ring *keys.Keyring, dir string, groups []exportedGroup, open func(i int) (io.Reader, error), keyring, cluster []byte, old map[uint64]string) error {
	dek, err := ring.Active()
	if err != nil {
		return err
	}
	cfg := n.nodeHostConfig(st, tm)
	members := map[uint64]string{st.ReplicaID: st.RaftAddr}
	for i, g := range groups {
		src, err := open(i)
		if err != nil {
			return err
		}
		streamPath := filepath.Join(dir, fmt.Sprintf("rewritten-%d", g.Shard))
		f, err := os.OpenFile(streamPath, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		var cl []byte
		if g.Shard == raftsm.ControlShard {
			cl = cluster
		}
		applied, err := rewriteGroup(ring, dek, g.Shard, src, f, keyring, cl)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("group %d: %w", g.Shard, err)
		}
		exp := filepath.Join(dir, fmt.Sprintf("import-%d", g.Shard))
		if err := os.Mkdir(exp, 0o700); err != nil {
			f.Close()
			return err
		}
		m := pb.Membership{Addresses: map[uint64]string{}, Removed: map[uint64]bool{}, NonVotings: map[uint64]string{}, Witnesses: map[uint64]string{}}
		for id, a := range old {
			if id != st.ReplicaID {
				m.Addresses[id] = a
			}
		}
		err = snapfile.WriteExported(exp, g.Shard, applied, max(g.Term, 1), m, bufio.NewReaderSize(f, 1<<20))
		f.Close()
		if err != nil {
			return fmt.Errorf("group %d: %w", g.Shard, err)
		}
		if err := importSnapshot(cfg, exp, members, st.ReplicaID); err != nil {
			return fmt.Errorf("import group %d: %w", g.Shard, err)
		}
	}
	return nil
}

// SnapshotSave is a snapshot file ready to be written: every group
// exported and checked. Close removes its working files.
type SnapshotSave struct {
	Header  backup.Header
	Key     string // the snapshot key made for this save ("" if given, or autolock on)
	keyring []byte
	kek     *crypto.Key
	groups  []exportedGroup
	dir     string
}

// Size is the length of the file WriteTo writes.
func (s *SnapshotSave) Size() int64 {
	n, _ := backup.FileSize(&s.Header, len(s.keyring))
	return n
}

// WriteTo writes the snapshot file to w.
func (s *SnapshotSave) WriteTo(w io.Writer) (int64, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	rs := make([]io.Reader, len(s.groups))
	for i, g := range s.groups {
		f, err := os.Open(g.stream)
		if err != nil {
			return 0, err
		}
		files = append(files, f)
		rs[i] = f
	}
	return backup.Write(w, &s.Header, s.keyring, s.kek, rs)
}

// Close removes the working files and wipes the key.
func (s *SnapshotSave) Close() {
	if s.kek != nil {
		s.kek.Wipe()
	}
	os.RemoveAll(s.dir)
}

// SaveSnapshot prepares a snapshot file of every group. With autolock on
// it is sealed for the cluster's unlock key; with autolock off for
// keyText, a snapshot key ("VLTKEY-1-..." of this cluster), or for a new
// one returned in SnapshotSave.Key.
func (n *Node) SaveSnapshot(ctx context.Context, keyText string) (_ *SnapshotSave, err error) {
	// No key operation on this node meanwhile: a DEK retired between the
	// exports and the keyring read would leave a stream nothing opens.
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if rec.KEKChange != nil {
		return nil, api.Errorf(api.CodeConflict, "a change of the unlock key (%s) is in progress", rec.KEKChange.Phase).
			WithHint("finish it with `%s` (it resumes the change), then save", kekChangeCommand(rec.KEKChange))
	}
	if rec.Autolock && keyText != "" {
		return nil, api.Errorf(api.CodeInvalid, "autolock is on: the snapshot is sealed for the cluster's unlock key").
			WithHint("leave out --key-file")
	}
	dir, err := os.MkdirTemp(n.cfg.StateDir, snapshotTmpPrefix)
	if err != nil {
		return nil, err
	}
	s := &SnapshotSave{dir: dir}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.groups, err = n.exportGroups(ctx, r, dir); err != nil {
		return nil, err
	}
	// The keyring after the exports: it holds every key their streams use
	// (a DEK is in every group before it seals anything); counting checks.
	stored, err := readAs[[]byte](ctx, n, raftsm.ControlShard, raftsm.QueryKeyring{})
	if err != nil {
		return nil, err
	}
	w, err := keys.UnmarshalWrappedKeyring(stored)
	if err != nil {
		return nil, err
	}
	ring, err := w.Unwrap(r.currentKEK())
	if err != nil {
		return nil, fmt.Errorf("open the control group's keyring: %w", err)
	}
	defer ring.Wipe()
	for i := range s.groups {
		if err := countGroup(ring, &s.groups[i]); err != nil {
			return nil, err
		}
	}
	source := backup.KeyUnlock
	if rec.Autolock {
		s.kek, err = copyKey(r.currentKEK())
	} else {
		source = backup.KeySnapshot
		var u *keys.UnlockKey
		if keyText != "" {
			if u, err = keys.ParseUnlockKey(keyText); err == nil {
				err = u.CheckCluster(rec.ID)
			}
		} else if u, err = keys.GenerateUnlockKey(rec.ID); err == nil {
			s.Key = u.Text()
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot key: %w", err)
		}
		s.kek, err = u.KEK(rec.ID, w.KEKVersion)
		u.Wipe()
	}
	if err != nil {
		return nil, err
	}
	sw, err := w.Rewrap(r.currentKEK(), s.kek)
	if err != nil {
		return nil, err
	}
	s.keyring = sw.Marshal()
	s.Header = backup.Header{
		ClusterID: rec.ID, Created: time.Now().UTC(), NodeID: r.st.NodeID, Autolock: rec.Autolock,
		KeySource: source, KEKVersion: sw.KEKVersion, KeyCheck: sw.KEKCheck,
		DEKs: ring.Versions(), ActiveDEK: sw.Active(), Shards: rec.Shards,
	}
	for _, g := range s.groups {
		s.Header.Groups = append(s.Header.Groups, g.Group)
	}
	n.log.Info("snapshot prepared", "groups", len(s.groups), "cluster_id", rec.ID)
	return s, nil
}

// copyKey returns a copy of k that can be wiped on its own.
func copyKey(k *crypto.Key) (*crypto.Key, error) {
	b, err := crypto.ExportKey(k)
	if err != nil {
		return nil, err
	}
	defer statedir.Wipe(b)
	return crypto.NewKey(k.Version(), b)
}

// Restore makes this node, which is in no cluster, the one manager of a
// cluster restored from the snapshot file at path, opened with keyText
// (the unlock key or shares, one per line, or the snapshot key). The
// snapshot's managers are recorded as removed, the cluster gets a new CA
// (so no node that still runs the old cluster can talk to it) and new join
// tokens; every secret keeps its id, versions, labels and data.
func (n *Node) Restore(ctx context.Context, path, keyText string) (*api.RestoreResponse, error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	if err := n.checkUninitialized(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	snap, err := backup.Open(f, fi.Size())
	if err != nil {
		return nil, err
	}
	u, err := backup.ParseKey([]byte(keyText))
	if err != nil {
		return nil, err
	}
	defer u.Wipe()
	skek, err := snap.KEK(u)
	if err != nil {
		return nil, err
	}
	defer skek.Wipe()
	w, err := snap.Unlock(skek)
	if err != nil {
		return nil, err
	}
	ring, err := w.Unwrap(skek)
	if err != nil {
		return nil, fmt.Errorf("%w: the keyring does not open: %v", backup.ErrCorrupt, err)
	}
	ok := false
	defer func() {
		if !ok {
			ring.Wipe()
		}
	}()
	h := snap.Header
	if len(h.Groups) != h.Shards+1 {
		return nil, fmt.Errorf("%w: %d groups for %d secret groups", backup.ErrCorrupt, len(h.Groups), h.Shards)
	}
	rec, err := clusterFromStream(ring, snap.Stream(0))
	if err != nil {
		return nil, err
	}
	resp, err := n.restore(ctx, snap, rec, w, skek, ring)
	if err != nil {
		n.shutdownRaft()
		if rerr := n.removeClusterFiles(); rerr != nil {
			n.log.Error("cleaning up after a failed restore", "err", rerr)
		}
		return nil, err
	}
	ok = true
	return resp, nil
}

func (n *Node) restore(ctx context.Context, snap *backup.Snapshot, rec *raftsm.ClusterRecord, w *keys.WrappedKeyring, skek *crypto.Key, ring *keys.Keyring) (*api.RestoreResponse, error) {
	if err := n.removeClusterFiles(); err != nil {
		return nil, err
	}
	now := time.Now()
	st, err := n.newNodeState(rec.ID, statedir.NewID(), rec.NextReplicaID, rec.Shards)
	if err != nil {
		return nil, err
	}
	// The node's KEK: the unlock key's with autolock on (its text opens the
	// restored cluster), a new one on disk with autolock off.
	var kek *crypto.Key
	if rec.Autolock {
		kek, err = copyKey(skek)
	} else {
		kek, err = newKEK(n.cfg.StateDir, w.KEKVersion+1)
	}
	if err != nil {
		return nil, err
	}
	// b owns ring from here: release wipes it on failure.
	// No members: the import recorded this replica as the groups' one
	// member, and Dragonboat starts an imported replica as a restart.
	b := &boot{st: st, kek: kek, ring: ring}
	nw, err := w.Rewrap(skek, kek)
	if err != nil {
		kek.Wipe()
		return nil, err
	}
	resp := &api.RestoreResponse{ClusterID: rec.ID, NodeID: st.NodeID, Shards: rec.Shards}
	old := map[uint64]string{}
	for _, m := range rec.Members {
		old[m.ReplicaID] = m.Addr
		resp.Removed = append(resp.Removed, m.NodeID)
		rec.Removed = append(rec.Removed, raftsm.RemovedMember{NodeID: m.NodeID, CertSerial: m.CertSerial, Removed: now.UnixNano()})
	}
	root, rootKey, err := newRoot(rec.ID, now)
	if err != nil {
		kek.Wipe()
		return nil, err
	}
	defer statedir.Wipe(rootKey)
	cert, keyPEM, err := issueNodeCert(root, st, now)
	if err != nil {
		kek.Wipe()
		return nil, err
	}
	defer statedir.Wipe(keyPEM)
	if err := writeTLS(n.cfg.StateDir, kek, root.CertPEM, cert, keyPEM); err != nil {
		kek.Wipe()
		return nil, err
	}
	if b.tls, err = newTLSMaterial(root.CertPEM, cert, keyPEM); err != nil {
		kek.Wipe()
		return nil, err
	}
	rec.Members = []raftsm.Member{{NodeID: st.NodeID, ReplicaID: st.ReplicaID, Addr: st.RaftAddr, APIAddr: st.APIAddr, Role: ca.RoleManager, Joined: now.UnixNano(), CertSerial: pemSerial(cert)}}
	rec.NextReplicaID = st.ReplicaID + 1
	rec.CACert, rec.CAKey = root.CertPEM, append([]byte(nil), rootKey...)
	rec.KEKChange = nil
	if err := newTokens(rec); err != nil {
		b.tls.close()
		kek.Wipe()
		return nil, err
	}
	cluster, err := json.Marshal(rec)
	if err != nil {
		b.tls.close()
		kek.Wipe()
		return nil, err
	}
	defer statedir.Wipe(cluster)
	dir, err := os.MkdirTemp(n.cfg.StateDir, snapshotTmpPrefix)
	if err != nil {
		b.tls.close()
		kek.Wipe()
		return nil, err
	}
	defer os.RemoveAll(dir)
	groups := make([]exportedGroup, len(snap.Header.Groups))
	for i, g := range snap.Header.Groups {
		groups[i] = exportedGroup{Group: g}
		resp.Secrets += g.Secrets
		resp.Versions += g.Versions
	}
	err = n.importGroups(st, b.tls, ring, dir, groups, func(i int) (io.Reader, error) {
		return bufio.NewReaderSize(snap.Stream(i), 1<<20), nil
	}, nw.Marshal(), cluster, old)
	if err == nil {
		b.store, err = raftsm.OpenStore(filepath.Join(n.cfg.StateDir, statedir.StoreDir), false)
	}
	if err == nil {
		err = n.startRaft(ctx, b)
	}
	if err != nil {
		b.release()
		return nil, err
	}
	// Every group recovers its snapshot before it elects this replica:
	// then a linearizable read of the cluster record shows the new one.
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.waitReadyOrStopped(wctx, r.host(), statedir.AllShards(st.Shards)); err != nil {
		return nil, err
	}
	if err := n.touchGroups(wctx, statedir.AllShards(st.Shards)); err != nil {
		return nil, err
	}
	got, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if got.Member(st.NodeID) == nil {
		return nil, errors.New("the restored control group does not list this node")
	}
	if err := statedir.WriteNode(n.cfg.StateDir, st); err != nil {
		return nil, err
	}
	n.log.Info("cluster restored from a snapshot", "cluster_id", rec.ID, "node_id", st.NodeID,
		"snapshot_created", snap.Header.Created, "secrets", resp.Secrets, "removed_managers", len(resp.Removed))
	return resp, nil
}

// newRoot makes the restored cluster's CA.
func newRoot(clusterID string, now time.Time) (*ca.Root, []byte, error) {
	return ca.NewRoot(clusterID, now)
}

// issueNodeCert makes st's key and manager certificate under root.
func issueNodeCert(root *ca.Root, st *statedir.Node, now time.Time) (cert, keyPEM []byte, err error) {
	keyPEM, csr, err := ca.NewNodeKey(st.NodeID)
	if err != nil {
		return nil, nil, err
	}
	cert, err = root.Sign(csr, st.NodeID, ca.RoleManager, certHosts(st.RaftAddr, st.APIAddr), now)
	if err != nil {
		statedir.Wipe(keyPEM)
		return nil, nil, err
	}
	return cert, keyPEM, nil
}

// newTokens gives rec new join token secrets: tokens of the old cluster
// admit no one into the restored one.
func newTokens(rec *raftsm.ClusterRecord) error {
	rec.Tokens = map[string][]byte{}
	for _, role := range []string{ca.RoleManager, ca.RoleWorker} {
		sec, err := ca.NewTokenSecret()
		if err != nil {
			return err
		}
		rec.Tokens[role] = sec[:]
	}
	return nil
}

// A node in no cluster serves restore: it is how it comes to be in one.
func init() { servedWhileUninitialized["POST /v1/cluster/restore"] = true }

// handleSnapshot serves POST /v1/snapshot: the snapshot file as the body,
// the snapshot key made for it (if any) in a header before it.
func (n *Node) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Minute)
	defer cancel()
	var req api.SnapshotRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	s, err := n.SaveSnapshot(ctx, req.Key)
	if err != nil {
		n.log.Error("snapshot save failed", "err", err)
		writeError(w, err)
		return
	}
	defer s.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(s.Size(), 10))
	if s.Key != "" {
		w.Header().Set(api.SnapshotKeyHeader, s.Key)
	}
	if _, err := s.WriteTo(w); err != nil {
		n.log.Error("snapshot save: sending the file failed", "err", err)
	}
}

// handleRestore serves POST /v1/cluster/restore: the snapshot file is the
// body, the key that opens it a header.
func (n *Node) handleRestore(w http.ResponseWriter, r *http.Request) {
	n.handle(func(r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Minute)
		defer cancel()
		f, err := os.CreateTemp(n.cfg.StateDir, snapshotTmpPrefix+"upload-")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		_, err = io.Copy(f, r.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("receive the snapshot file: %w", err)
		}
		return n.Restore(ctx, f.Name(), r.Header.Get(api.SnapshotKeyHeader))
	})(w, r)
}

// handleRecover serves POST /v1/cluster/recover[?dry_run=true].
func (n *Node) handleRecover(w http.ResponseWriter, r *http.Request) {
	n.handle(func(r *http.Request) (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Minute)
		defer cancel()
		return n.Recover(ctx, r.URL.Query().Get("dry_run") == "true")
	})(w, r)
}
