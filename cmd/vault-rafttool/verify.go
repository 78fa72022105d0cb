package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/sstable"
	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check every table, log entry, snapshot and stored value; report what each DEK seals",
		UsageText: progName + " verify [--format text|json]",
		Description: "verify checks the block checksums of every table of every database, opens every Raft " +
			"log entry, snapshot stream and stored value, and reports for each DEK version how much is " +
			"still sealed under it: a DEK can be retired only when nothing is. Every failure is reported " +
			"with its place; the exit status is 2 when there is any.",
		Flags:  []cli.Flag{formatFlag()},
		Action: verify,
	}
}

// verifyReport is what verify prints.
type verifyReport struct {
	Node     statedir.Node `json:"node"`
	KEK      string        `json:"kek"`
	Keys     []*keyUse     `json:"keys"`
	Checked  verifyCounts  `json:"checked"`
	Problems []problem     `json:"problems"`
}

// keyUse is how much is sealed under one DEK version.
type keyUse struct {
	Version uint32 `json:"version"`
	State   string `json:"state"` // in the control shard's keyring; "unknown" if absent
	Held    bool   `json:"held"`  // the tool could unwrap it
	// Found on disk now:
	LogEntries      uint64 `json:"log_entries"`
	SnapshotStreams uint64 `json:"snapshot_streams"`
	StoredValues    uint64 `json:"stored_values"`
	// Applied is the state machines' count of entries applied under it
	// (including entries compacted away since).
	Applied uint64 `json:"applied"`
}

func (k *keyUse) inUse() uint64 { return k.LogEntries + k.SnapshotStreams + k.StoredValues }

type verifyCounts struct {
	Shards          int `json:"shards"`
	Tables          int `json:"tables"`
	LogEntries      int `json:"log_entries"`
	SnapshotFiles   int `json:"snapshot_files"`
	SnapshotStreams int `json:"snapshot_streams"`
	StoredValues    int `json:"stored_values"`
}

func verify(c *cli.Context) error {
	asJSON, err := checkFormat(c)
	if err != nil {
		return err
	}
	if c.Args().Present() {
		return usagef("", "verify takes no arguments, got %q", c.Args().First())
	}
	s, src, err := openCopies(c)
	if err != nil {
		return err
	}
	defer s.close()
	rep := &verifyReport{Node: s.dir.Node, Keys: []*keyUse{}}
	// Tables first: a damaged table can keep the keyring from opening,
	// and then this is the only place that names the file.
	rep.Checked.Tables = s.checkTables()
	if err := s.unlock(src); err != nil {
		return err
	}
	if src.file != nil {
		rep.KEK = fmt.Sprintf("KEK v%d from %s", statedir.OperatorKEKVersion(src.file.Version()), src.filePath)
	} else {
		rep.KEK = "KEK derived from the unlock key"
	}
	use := map[uint32]*keyUse{}
	get := func(v uint32) *keyUse {
		if use[v] == nil {
			use[v] = &keyUse{Version: v, State: "unknown"}
		}
		return use[v]
	}
	v := newViewer(s.keys, true)
	shards := s.allShards()
	rep.Checked.Shards = len(shards)
	for _, shard := range shards {
		// Log entries.
		if l := s.logs[shard]; l != nil {
			err := s.walkLog(l, 0, 0, func(ev *entryView) {
				rep.Checked.LogEntries++
				if ev.KeyVersion != 0 {
					get(ev.KeyVersion).LogEntries++
				}
			}, v)
			if err != nil {
				s.problem(l.place, err)
			}
		} else {
			s.problem(s.dir.LogDBPath(), fmt.Errorf("%s has no Raft log", shardName(shard)))
		}
		// Stored values.
		st, err := s.storeState(v, shard, false)
		if err != nil {
			s.problem(s.storePlace(shard, "state"), err)
		}
		if st != nil {
			countValues(st, get, &rep.Checked.StoredValues)
			for ver, n := range st.Seals {
				get(ver).Applied += n
			}
			if shard == raftsm.ControlShard && st.Keyring != nil {
				for _, d := range st.Keyring.DEKs {
					get(d.Version).State = d.State
				}
			}
		}
		// Snapshot files.
		for _, f := range s.snapshotFiles(shard) {
			rep.Checked.SnapshotFiles++
			sf := s.readSnapshotFile(v, shard, f)
			if sf.Stream {
				rep.Checked.SnapshotStreams++
				get(sf.KeyVersion).SnapshotStreams++
			}
		}
	}
	for _, ver := range s.keys.versions() {
		get(ver).Held = true
	}
	for _, ver := range slices.Sorted(maps.Keys(use)) {
		k := use[ver]
		rep.Keys = append(rep.Keys, k)
		if k.State == "retired" && k.inUse() > 0 {
			s.problem(fmt.Sprintf("DEK v%d", ver), fmt.Errorf("retired, but %d records are still sealed under it", k.inUse()))
		}
	}
	rep.Problems = s.problems
	if rep.Problems == nil {
		rep.Problems = []problem{}
	}
	if asJSON {
		if err := printJSON(s.stdout, rep); err != nil {
			return err
		}
	} else if err := printVerify(s.stdout, rep); err != nil {
		return err
	}
	if n := len(s.problems); n > 0 {
		return &problemsError{n: n}
	}
	return nil
}

// countValues counts the sealed values of a state by DEK version.
func countValues(st *stateView, get func(uint32) *keyUse, total *int) {
	count := func(v uint32) {
		*total++
		if v != 0 {
			get(v).StoredValues++
		}
	}
	if st.Cluster != nil {
		count(st.Cluster.KeyVersion)
	}
	for _, o := range st.Secrets {
		if o.Secret != nil {
			count(o.Secret.KeyVersion)
		}
		for _, d := range o.Data {
			count(d.KeyVersion) // 0 for a version under its own data key
		}
	}
}

// checkTables verifies the block checksums of every table of every copied
// database, naming the live file of each failure.
func (s *session) checkTables() int {
	n := 0
	for _, dc := range s.copies {
		tables, _ := filepath.Glob(filepath.Join(dc.copy, "*.sst"))
		for _, t := range tables {
			n++
			place := filepath.Join(dc.live, filepath.Base(t))
			if err := checkTable(t); err != nil {
				// Opened on its own, the table does not know its file
				// number: drop the 000000 Pebble puts in its place.
				msg := strings.Replace(err.Error(), "invalid table 000000 ", "invalid table ", 1)
				s.problem(place, errors.New("damaged table: "+msg))
			}
		}
	}
	return n
}

func checkTable(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the table reader failed: %v", r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	r, err := sstable.NewReader(f, sstable.ReaderOptions{})
	if err != nil {
		f.Close()
		return err
	}
	defer r.Close()
	return r.ValidateBlockChecksums()
}

func printVerify(w io.Writer, rep *verifyReport) error {
	t := &textOut{w: w}
	n := rep.Node
	t.line(0, "Node %s (replica %d) of cluster %s, %d secret shards; %s", n.NodeID, n.ReplicaID, n.ClusterID, n.Shards, rep.KEK)
	t.line(0, "")
	t.line(0, "%-6s %-8s %-5s %12s %10s %14s %12s", "DEK", "STATE", "HELD", "LOG ENTRIES", "SNAPSHOTS", "STORED VALUES", "APPLIED")
	for _, k := range rep.Keys {
		held := "no"
		if k.Held {
			held = "yes"
		}
		t.line(0, "%-6s %-8s %-5s %12d %10d %14d %12d", fmt.Sprintf("v%d", k.Version), k.State, held, k.LogEntries, k.SnapshotStreams, k.StoredValues, k.Applied)
	}
	for _, k := range rep.Keys {
		if k.State == "old" && k.inUse() == 0 {
			t.line(0, "DEK v%d: nothing on this node is sealed under it any more", k.Version)
		}
	}
	c := rep.Checked
	t.line(0, "")
	t.line(0, "Checked %d shards: %d tables, %d log entries, %d snapshot files (%d streams), %d stored values.",
		c.Shards, c.Tables, c.LogEntries, c.SnapshotFiles, c.SnapshotStreams, c.StoredValues)
	if len(rep.Problems) == 0 {
		t.line(0, "No integrity failures.")
	} else {
		t.line(0, "%d failures:", len(rep.Problems))
		for _, p := range rep.Problems {
			t.line(1, "%s: %s", p.Place, p.Error)
		}
	}
	return t.err
}
