package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/logdb"
	"github.com/vaultd/vault/internal/snapfile"
	"github.com/vaultd/vault/raftsm"
)

// stateView is a shard's state machine state: what the state database
// holds at its applied index, or what a snapshot stream carries.
type stateView struct {
	Shard      uint64            `json:"shard"`
	Applied    uint64            `json:"applied_index"`
	Generation uint64            `json:"generation,omitempty"`
	Keyring    *keyringView      `json:"keyring,omitempty"`
	Cluster    *clusterView      `json:"cluster,omitempty"`
	Secrets    []*objectView     `json:"secrets"`
	Seals      map[uint32]uint64 `json:"seals,omitempty"` // log entries applied per DEK version
	Requests   int               `json:"request_ids"`     // remembered for deduplication
}

// objectView is a stored secret: its record and every data version.
type objectView struct {
	Shard  uint64      `json:"shard"`
	ID     string      `json:"id"`
	Gen    uint64      `json:"gen"` // the index of the entry that last wrote it
	Secret *secretView `json:"secret,omitempty"`
	Data   []*dataView `json:"data"`
	Error  string      `json:"error,omitempty"`
	named  bool        // the name index points at it
}

// walkFunc visits the records of a shard's state in key order.
type walkFunc func(func(raftsm.StateRecord) error) error

// describe builds the view of a shard's state from its records, reporting
// what does not open as problems at place.
func (s *session) describe(v *viewer, shard uint64, walk walkFunc, place string) (*stateView, error) {
	st := &stateView{Shard: shard, Secrets: []*objectView{}}
	byID := map[string]*objectView{}
	var names []string // ids the name index points at
	type dataAt struct {
		index uint64
		id    string
	}
	pointed := map[dataAt]uint32{} // data versions whose value is kept at an index
	addData := func(id string, version uint32, sealed []byte) {
		dv := v.data(shard, id, version, sealed)
		if dv.Error != "" {
			s.problem(fmt.Sprintf("%s secret %s data v%d", place, id, version), errors.New(dv.Error))
		}
		o := byID[id]
		if o == nil {
			s.problem(fmt.Sprintf("%s secret %s data v%d", place, id, version), errors.New("data of a secret that has no record"))
			return
		}
		o.Data = append(o.Data, dv)
	}
	err := walk(func(r raftsm.StateRecord) error {
		if r.Err != nil {
			s.problem(place, fmt.Errorf("key %q: %w", r.Raw, r.Err))
			return nil
		}
		k := r.Key
		switch k.Kind {
		case raftsm.SubApplied:
			st.Applied, _ = raftsm.DecodeCount(r.Value)
		case raftsm.SubKeyring:
			st.Keyring = v.keyring(r.Value)
			if st.Keyring.Error != "" {
				s.problem(place+" keyring", errors.New(st.Keyring.Error))
			}
		case raftsm.SubSeals:
			if st.Seals == nil {
				st.Seals = map[uint32]uint64{}
			}
			st.Seals[k.Version], _ = raftsm.DecodeCount(r.Value)
		case raftsm.SubCluster:
			cl, err := v.storedCluster(shard, r.Value)
			if err != nil {
				s.problem(place+" cluster record", err)
				return nil
			}
			st.Cluster = cl
		case raftsm.SubName:
			names = append(names, string(r.Value))
		case raftsm.SubObject:
			o := &objectView{Shard: shard, ID: k.ID, Data: []*dataView{}}
			byID[k.ID] = o
			st.Secrets = append(st.Secrets, o)
			gen, sealed, err := raftsm.DecodeGenValue(r.Value)
			if err != nil {
				o.Error = err.Error()
				s.problem(fmt.Sprintf("%s secret %s", place, k.ID), err)
				return nil
			}
			o.Gen = gen
			if o.Secret, err = v.record(shard, k.ID, sealed); err != nil {
				o.Error = "record: " + openError(err)
				s.problem(fmt.Sprintf("%s secret %s record", place, k.ID), err)
			}
		case raftsm.SubData:
			if at, _, ok := raftsm.DataPointer(r.Value); ok {
				// The data follows under its index (SubDataAt keys sort
				// after every SubData key).
				pointed[dataAt{at, k.ID}] = k.Version
				return nil
			}
			addData(k.ID, k.Version, r.Value)
		case raftsm.SubDataAt:
			version, ok := pointed[dataAt{k.Index, k.ID}]
			if !ok {
				s.problem(fmt.Sprintf("%s secret %s data at %d", place, k.ID, k.Index), errors.New("no data version points at it"))
				return nil
			}
			delete(pointed, dataAt{k.Index, k.ID})
			addData(k.ID, version, r.Value)
		case raftsm.SubRequest:
			st.Requests++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for p, version := range pointed {
		s.problem(fmt.Sprintf("%s secret %s data v%d", place, p.id, version), fmt.Errorf("its data (at index %d) is missing", p.index))
	}
	for _, o := range st.Secrets {
		slices.SortFunc(o.Data, func(a, b *dataView) int { return cmp.Compare(a.Version, b.Version) })
	}
	for _, id := range names {
		if o := byID[id]; o != nil {
			o.named = true
		} else {
			s.problem(place, fmt.Errorf("the name index points at secret %s, which has no record", id))
		}
	}
	for _, o := range st.Secrets {
		if !o.named {
			s.problem(fmt.Sprintf("%s secret %s", place, o.ID), errors.New("no name index entry points at it"))
		}
	}
	sort.SliceStable(st.Secrets, func(i, j int) bool { return secretName(st.Secrets[i]) < secretName(st.Secrets[j]) })
	return st, nil
}

func secretName(o *objectView) string {
	if o.Secret != nil {
		return o.Secret.Name
	}
	return "\xff" + o.ID
}

// newViewer returns a viewer that can learn secret names from the state
// database, for log entries that name a secret by id only.
func (s *session) newViewer(redact bool) *viewer {
	v := newViewer(s.keys, redact)
	v.learn = func(v *viewer, shard uint64) {
		if s.store == nil {
			return
		}
		view, err := s.store.NewView(shard)
		if err != nil {
			return
		}
		defer view.Close()
		view.Walk(func(r raftsm.StateRecord) error {
			if r.Err == nil && r.Key.Kind == raftsm.SubObject {
				if _, sealed, err := raftsm.DecodeGenValue(r.Value); err == nil {
					v.record(shard, r.Key.ID, sealed) // records the name
				}
			}
			return nil
		})
	}
	return v
}

// storeState describes a shard's state in the state database; with replay,
// the committed log entries it had not applied yet are applied on top.
func (s *session) storeState(v *viewer, shard uint64, replay bool) (*stateView, error) {
	if s.store == nil {
		return nil, errors.New("the state database could not be read")
	}
	view, err := s.store.NewView(shard)
	if err != nil {
		return nil, err
	}
	defer view.Close()
	if replay {
		s.replay(view)
	}
	st, err := s.describe(v, shard, view.Walk, s.storePlace(shard, ""))
	if err != nil {
		return st, fmt.Errorf("%s: %w", s.dir.StorePath(), err)
	}
	st.Applied, st.Generation = view.Applied(), view.Generation()
	return st, nil
}

// replay applies the committed log entries after the view's applied index,
// as the node would: the state machine's own code, on an in-memory batch.
// Like the state machine, it stops at the first entry it cannot apply:
// going past it would show a state that never was.
func (s *session) replay(view *raftsm.View) {
	l := s.logs[view.Shard()]
	if l == nil || l.state.Commit <= view.Applied() {
		return
	}
	next := view.Applied() + 1
	err := l.db.Entries(l.shard, s.dir.Node.ReplicaID, next, l.state.Commit, func(r logdb.Record) error {
		if r.Err != nil {
			return fmt.Errorf("entry %d: %w", r.Key.Index, r.Err)
		}
		if r.Entry.Index != next {
			return fmt.Errorf("entries %d to %d are not in the log", next, r.Entry.Index-1)
		}
		next++
		if r.Entry.Type == pb.ConfigChangeEntry || r.Entry.Type == pb.MetadataEntry {
			return nil
		}
		cmd, err := logdb.Payload(r.Entry)
		if err != nil {
			return fmt.Errorf("entry %d: %w", r.Entry.Index, err)
		}
		if len(cmd) == 0 {
			return nil
		}
		c, kv, err := raftsm.OpenCommand(s.keys, l.shard, cmd)
		if err != nil {
			return fmt.Errorf("entry %d: %s", r.Entry.Index, openError(err))
		}
		if c.Op == raftsm.OpKeyringSet {
			s.keys.add(c.Keyring) // DEKs that later entries may be sealed under
		}
		if _, err := view.Apply(c, kv, r.Entry.Index); err != nil {
			return fmt.Errorf("entry %d: %w", r.Entry.Index, err)
		}
		return nil
	})
	if err == nil && next <= l.state.Commit {
		err = fmt.Errorf("entries %d to %d are not in the log", next, l.state.Commit)
	}
	if err != nil {
		s.problem(l.place, fmt.Errorf("%s: replay stopped, the state shown is at index %d: %w", shardName(l.shard), view.Applied(), err))
	}
}

// snapshotFile is a snapshot Dragonboat keeps on disk for a shard.
type snapshotFile struct {
	Path   string `json:"path"`
	Index  uint64 `json:"index"`
	Term   uint64 `json:"term,omitempty"`
	Stream bool   `json:"stream"` // holds a state machine stream (received from a peer)
	// State is the stream's content, opened.
	State      *stateView `json:"state,omitempty"`
	KeyVersion uint32     `json:"key_version,omitempty"` // the DEK the stream is sealed under
	Error      string     `json:"error,omitempty"`
}

// snapshotFiles lists the snapshot files of this node's replica of shard.
func (s *session) snapshotFiles(shard uint64) []string {
	dir := filepath.Join(s.dir.LogDBPath(), "snapshot-part-*", fmt.Sprintf("snapshot-%d-%d", shard, s.dir.Node.ReplicaID), "snapshot-*", "*.gbsnap")
	files, _ := filepath.Glob(dir)
	sort.Strings(files)
	return files
}

// readSnapshotFile reads a snapshot file: its framing, and the sealed
// stream inside when there is one.
func (s *session) readSnapshotFile(v *viewer, shard uint64, path string) *snapshotFile {
	sf := &snapshotFile{Path: path}
	if strings.Contains(filepath.Base(filepath.Dir(path)), ".") {
		// snapshot-N.receiving / .generating: being written, not a snapshot yet.
		sf.Error = "incomplete (still being received or written)"
		return sf
	}
	if idx, err := strconv.ParseUint(strings.TrimPrefix(filepath.Base(filepath.Dir(path)), "snapshot-"), 16, 64); err == nil {
		sf.Index = idx
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "snapshot.metadata")); err == nil {
		if md, err := snapfile.ReadMetadata(b); err == nil {
			sf.Index, sf.Term = md.Index, md.Term
		} else {
			s.problem(filepath.Join(filepath.Dir(path), "snapshot.metadata"), err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		sf.Error = err.Error()
		s.problem(path, err)
		return sf
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		sf.Error = err.Error()
		s.problem(path, err)
		return sf
	}
	r, err := snapfile.Open(f, fi.Size())
	if err != nil {
		sf.Error = err.Error()
		s.problem(path, err)
		return sf
	}
	// A stream starts with the crypto stream header; a local or shrunk
	// snapshot has no bytes at all after the session table.
	var first [1]byte
	n, err := io.ReadFull(r, first[:])
	if err == io.EOF && n == 0 {
		return sf
	}
	if err != nil {
		sf.Error = err.Error()
		s.problem(path, err)
		return sf
	}
	sf.Stream = true
	st, kv, err := s.readStream(v, shard, io.MultiReader(bytes.NewReader(first[:]), r), path)
	sf.State, sf.KeyVersion = st, kv
	if err != nil {
		sf.Error = err.Error()
		s.problem(path, err)
	}
	return sf
}

// readStream opens a sealed snapshot stream and describes what it holds.
func (s *session) readStream(v *viewer, shard uint64, r io.Reader, place string) (*stateView, uint32, error) {
	sr, err := crypto.NewStreamReader(r, s.keys, raftsm.SnapshotBinding(shard))
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot stream: %s", openError(err))
	}
	dec, err := raftsm.NewSnapshotReader(sr)
	if err != nil {
		return nil, sr.KeyVersion(), fmt.Errorf("snapshot stream: %s", openError(err))
	}
	if dec.Shard != shard {
		return nil, sr.KeyVersion(), fmt.Errorf("snapshot stream of shard %d in shard %d's directory", dec.Shard, shard)
	}
	var streamErr error
	st, err := s.describe(v, shard, func(f func(raftsm.StateRecord) error) error {
		for {
			k, val, err := dec.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				streamErr = err
				return nil // keep what authenticated so far
			}
			sk, kerr := raftsm.ParseSubKey(k)
			if err := f(raftsm.StateRecord{Key: sk, Raw: k, Value: val, Err: kerr}); err != nil {
				return err
			}
		}
	}, place)
	if st != nil {
		st.Applied = dec.Applied
	}
	if err == nil && streamErr != nil {
		err = fmt.Errorf("snapshot stream: %s", openError(streamErr))
	}
	return st, sr.KeyVersion(), err
}

// membersOf lists a Raft membership as text lines: replica and address.
func membersOf(m map[uint64]string) []memberLine {
	var out []memberLine
	for id, addr := range m {
		out = append(out, memberLine{ReplicaID: id, Addr: addr})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ReplicaID < out[j].ReplicaID })
	return out
}

type memberLine struct {
	ReplicaID uint64 `json:"replica_id"`
	Addr      string `json:"addr,omitempty"`
}

// raftMembersView is a shard's Raft membership as a snapshot records it.
type raftMembersView struct {
	Source     string       `json:"source"` // snapshot or bootstrap
	Index      uint64       `json:"index,omitempty"`
	Term       uint64       `json:"term,omitempty"`
	Active     []memberLine `json:"active"`
	NonVoting  []memberLine `json:"non_voting,omitempty"`
	Witnesses  []memberLine `json:"witnesses,omitempty"`
	Removed    []memberLine `json:"removed,omitempty"`
	OnDiskSeen uint64       `json:"on_disk_index,omitempty"`
}

// raftMembers returns the membership of a shard's latest snapshot record,
// or its bootstrap members when it has no snapshot yet.
func raftMembers(l *shardLog) *raftMembersView {
	if l == nil {
		return nil
	}
	if l.hasSnap {
		m := l.snap.Membership
		rv := &raftMembersView{Source: "snapshot", Index: l.snap.Index, Term: l.snap.Term, OnDiskSeen: l.snap.OnDiskIndex,
			Active: membersOf(m.Addresses), NonVoting: membersOf(m.NonVotings), Witnesses: membersOf(m.Witnesses)}
		for id := range m.Removed {
			rv.Removed = append(rv.Removed, memberLine{ReplicaID: id})
		}
		sort.Slice(rv.Removed, func(i, j int) bool { return rv.Removed[i].ReplicaID < rv.Removed[j].ReplicaID })
		return rv
	}
	return &raftMembersView{Source: "bootstrap", Active: membersOf(l.boot.Addresses)}
}
