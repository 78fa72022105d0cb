package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/internal/logdb"
)

func dumpWALCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump-wal",
		Usage:     "print every Raft log entry, decrypted, in index order",
		UsageText: progName + " dump-wal [--shard N] [--start I] [--end J] [--redact] [--format text|json]",
		Description: "Each shard's log is printed in index order: the entry's index, term and type, the DEK " +
			"that sealed it, then the decoded command (secret create/update/rm with the opened record and " +
			"data, keyring and cluster changes) or the Raft configuration change.",
		Flags: []cli.Flag{
			shardFlag(),
			&cli.Uint64Flag{Name: "start", Usage: "first index to print (default: the first in the log)"},
			&cli.Uint64Flag{Name: "end", Usage: "last index to print, inclusive (default: the last)"},
			redactFlag(),
			formatFlag(),
		},
		Action: dumpWAL,
	}
}

// shardLogView is one shard's log for JSON output.
type shardLogView struct {
	Shard     uint64       `json:"shard"`
	Term      uint64       `json:"term"`
	Vote      uint64       `json:"vote"`
	Commit    uint64       `json:"commit"`
	LastIndex uint64       `json:"last_index"`
	Snapshot  uint64       `json:"snapshot_index,omitempty"`
	Entries   []*entryView `json:"entries"`
}

func dumpWAL(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return usagef("", "dump-wal takes no arguments, got %q", c.Args().First())
	}
	start, end := c.Uint64("start"), c.Uint64("end")
	if end != 0 && start > end {
		return usagef("--start is the first index and --end the last", "--start %d is after --end %d", start, end)
	}
	s, shards, v, err := openShards(c)
	if err != nil {
		return err
	}
	defer s.close()
	out := &textOut{w: s.stdout}
	var logs []*shardLogView
	for i, shard := range shards {
		l := s.logs[shard]
		if l == nil {
			s.problem(s.dir.LogDBPath(), fmt.Errorf("%s has no Raft log in any logdb-N", shardName(shard)))
			continue
		}
		sv := &shardLogView{Shard: shard, Term: l.state.Term, Vote: l.state.Vote, Commit: l.state.Commit, LastIndex: l.maxIdx, Entries: []*entryView{}}
		if l.hasSnap {
			sv.Snapshot = l.snap.Index
		}
		if !asJSON {
			if i > 0 {
				out.line(0, "")
			}
			head := fmt.Sprintf("%s: last index %d, commit %d, term %d, vote %d", shardName(shard), l.maxIdx, l.state.Commit, l.state.Term, l.state.Vote)
			if l.hasSnap {
				head += fmt.Sprintf("; snapshot at index %d (entries up to it may be compacted away)", l.snap.Index)
			}
			out.line(0, "%s", head)
		}
		err := s.walkLog(l, start, end, func(ev *entryView) {
			if asJSON {
				sv.Entries = append(sv.Entries, ev)
			} else {
				out.entry(ev)
			}
		}, v)
		if err != nil {
			s.problem(l.place, err)
		}
		logs = append(logs, sv)
	}
	return s.finish(asJSON, logs, out)
}

// walkLog decodes a shard's entries in [start, end] (end 0: to the last) and
// hands them to emit in index order, reporting damaged entries and holes.
//
// Every entry found is decoded and emitted, but holes are looked for only
// in the part of the log Dragonboat reads back (see logdb.Span): entries
// up to the snapshot index that survive compaction, and those above the
// max index that a new leader cut off, are dead records with holes between
// them on a healthy node.
func (s *session) walkLog(l *shardLog, start, end uint64, emit func(*entryView), v *viewer) error {
	holes := l.span().Holes(start, end)
	saw := func(place string, index uint64) {
		if g, ok := holes.Saw(index); ok {
			s.problem(place, fmt.Errorf("entries %d to %d are missing", g.From, g.To))
		}
	}
	err := l.db.Entries(l.shard, s.dir.Node.ReplicaID, start, end, func(r logdb.Record) error {
		place := fmt.Sprintf("%s: %s entry %d", l.place, shardName(l.shard), r.Key.Index)
		if r.Err != nil {
			s.problem(place, r.Err)
			emit(&entryView{Shard: l.shard, Index: r.Key.Index, Type: "unreadable", Error: r.Err.Error()})
			if r.Key.Kind == logdb.KindEntry {
				saw(place, r.Key.Index) // there, if unreadable: not also missing
			}
			return nil
		}
		saw(place, r.Entry.Index)
		ev := v.entry(l.shard, r.Entry, l.state.Commit)
		for _, msg := range ev.errors() {
			s.problem(place, errors.New(msg))
		}
		emit(ev)
		return nil
	})
	if err != nil {
		return err
	}
	if g, ok := holes.End(); ok {
		s.problem(fmt.Sprintf("%s: %s", l.place, shardName(l.shard)),
			fmt.Errorf("entries %d to %d are missing (the max index record is %d)", g.From, g.To, l.maxIdx))
	}
	return nil
}

// errors lists every error inside an entry's view.
func (ev *entryView) errors() []string {
	var out []string
	add := func(prefix, msg string) {
		if msg != "" {
			out = append(out, prefix+msg)
		}
	}
	add("", ev.Error)
	if c := ev.Command; c != nil {
		add("", c.Error)
		if c.Keyring != nil {
			add("keyring: ", c.Keyring.Error)
		}
		if w := c.Secret; w != nil {
			add("secret "+w.ID+": ", w.Error)
			for _, d := range append([]*dataView{w.Data}, w.Resealed...) {
				if d != nil {
					add(fmt.Sprintf("secret %s data v%d: ", w.ID, d.Version), d.Error)
				}
			}
		}
	}
	return out
}
