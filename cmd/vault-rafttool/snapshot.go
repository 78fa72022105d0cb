package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

func dumpSnapshotCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump-snapshot",
		Usage:     "print each shard's members, then the objects of its latest snapshot",
		UsageText: progName + " dump-snapshot [--shard N] [--redact] [--format text|json]",
		Description: "For each shard: the Raft members recorded with its latest snapshot, then its state at the " +
			"applied index (vault's state machines keep their snapshot data in the state database), and " +
			"the contents of any snapshot stream received from a peer that is still on disk.",
		Flags:  []cli.Flag{shardFlag(), redactFlag(), formatFlag()},
		Action: dumpSnapshot,
	}
}

// shardSnapshotView is one shard's snapshot for JSON output.
type shardSnapshotView struct {
	Shard   uint64           `json:"shard"`
	Members *raftMembersView `json:"members,omitempty"`
	State   *stateView       `json:"state,omitempty"`
	Files   []*snapshotFile  `json:"snapshot_files"`
}

func dumpSnapshot(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return usagef("", "dump-snapshot takes no arguments, got %q", c.Args().First())
	}
	s, shards, v, err := openShards(c)
	if err != nil {
		return err
	}
	defer s.close()
	out := &textOut{w: s.stdout}
	var views []*shardSnapshotView
	for i, shard := range shards {
		sv := &shardSnapshotView{Shard: shard, Members: raftMembers(s.logs[shard]), Files: []*snapshotFile{}}
		st, err := s.storeState(v, shard, false)
		if err != nil {
			s.problem(s.storePlace(shard, "state"), err)
		}
		sv.State = st
		for _, f := range s.snapshotFiles(shard) {
			sv.Files = append(sv.Files, s.readSnapshotFile(v, shard, f))
		}
		views = append(views, sv)
		if asJSON {
			continue
		}
		if i > 0 {
			out.line(0, "")
		}
		out.snapshot(sv)
	}
	return s.finish(asJSON, views, out)
}

func (t *textOut) snapshot(sv *shardSnapshotView) {
	t.line(0, "%s", capitalize(shardName(sv.Shard)))
	if m := sv.Members; m != nil {
		if m.Source == "snapshot" {
			t.line(0, "Raft snapshot: index %d, term %d", m.Index, m.Term)
		} else {
			t.line(0, "Raft snapshot: none yet; members as bootstrapped")
		}
		t.memberList("Active members:", m.Active)
		if len(m.NonVoting) > 0 {
			t.memberList("Non-voting members:", m.NonVoting)
		}
		if len(m.Witnesses) > 0 {
			t.memberList("Witnesses:", m.Witnesses)
		}
		t.memberList("Removed members:", m.Removed)
	} else {
		t.line(0, "Raft snapshot: no Raft log found for this shard")
	}
	if st := sv.State; st != nil {
		t.line(0, "Objects (state at applied index %d, generation %d):", st.Applied, st.Generation)
		t.state(1, st)
	}
	for _, f := range sv.Files {
		switch {
		case f.Error != "" && f.State == nil:
			t.line(0, "Snapshot file %s: %s", f.Path, f.Error)
		case !f.Stream:
			t.line(0, "Snapshot file %s: index %d, metadata only (the state lives in the state database)", f.Path, f.Index)
		default:
			t.line(0, "Snapshot file %s: index %d, a stream received from a peer, sealed under DEK v%d:", f.Path, f.Index, f.KeyVersion)
			if f.Error != "" {
				t.line(1, "error: %s", f.Error)
			}
			if f.State != nil {
				t.line(1, "applied index %d", f.State.Applied)
				t.state(1, f.State)
			}
		}
	}
}

func (t *textOut) memberList(title string, ms []memberLine) {
	if len(ms) == 0 {
		t.line(0, "%s none", title)
		return
	}
	t.line(0, "%s", title)
	for _, m := range ms {
		if m.Addr != "" {
			t.line(1, "replica %d  %s", m.ReplicaID, m.Addr)
		} else {
			t.line(1, "replica %d", m.ReplicaID)
		}
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
