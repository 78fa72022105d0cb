package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

func dumpObjectCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump-object",
		Usage:     "print an object as it stands now: the state plus the committed log after it",
		UsageText: progName + " dump-object secret|node|cluster|key|task [--name NAME | --id ID] [--redact] [--format text|json]",
		Description: "Types: secret (--name NAME, or --id ID or a unique prefix), node (--id NODE_ID, or --name " +
			"with its address or hostname), cluster, key (--id DEK version). Without --name or --id, every " +
			"object of the type is printed. Committed entries the state machine had not applied yet are " +
			"applied in memory, with the state machine's own code.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the object's name"},
			&cli.StringFlag{Name: "id", Usage: "the object's id (a unique prefix will do)"},
			redactFlag(),
			formatFlag(),
		},
		Action: dumpObject,
	}
}

func dumpObject(c *cli.Context) error {
	if !c.Args().Present() {
		return usagef("types: secret, node, cluster, key, task", "dump-object needs an object type")
	}
	typ := c.Args().First()
	name, id, format, redact := c.String("name"), c.String("id"), c.String("format"), c.Bool("redact")
	if rest := c.Args().Tail(); len(rest) > 0 {
		// Flags after the type, as in `dump-object secret --name db`.
		fs := flag.NewFlagSet("dump-object", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&name, "name", name, "")
		fs.StringVar(&id, "id", id, "")
		fs.StringVar(&format, "format", format, "")
		fs.BoolVar(&redact, "redact", redact, "")
		if err := fs.Parse(rest); err != nil {
			return usagef("`"+progName+" dump-object --help` shows the usage", "%v", err)
		}
		if fs.NArg() > 0 {
			return usagef("types: secret, node, cluster, key, task", "dump-object takes one object type, got %q too", fs.Arg(0))
		}
	}
	asJSON, err := parseFormat(format)
	if err != nil {
		return err
	}
	if name != "" && id != "" {
		return usagef("give one of them", "--name and --id both given")
	}
	switch typ {
	case "secret", "node", "cluster", "key":
	case "task":
		return withHint(errors.New("there are no task objects: this version of vault does not schedule tasks"), "types: secret, node, cluster, key")
	default:
		return usagef("types: secret, node, cluster, key, task", "unknown object type %q", typ)
	}
	s, err := open(c)
	if err != nil {
		return err
	}
	defer s.close()
	v := s.newViewer(redact)
	out := &textOut{w: s.stdout}
	var result any
	var render func()
	switch typ {
	case "secret":
		objs, err := s.findSecrets(v, name, id)
		if err != nil {
			return err
		}
		result, render = objs, func() {
			for _, o := range objs {
				out.object(0, o)
			}
		}
	case "cluster":
		cl, err := s.currentCluster(v)
		if err != nil {
			return err
		}
		result, render = cl, func() { out.cluster(0, cl) }
	case "node":
		nodes, err := s.findNodes(v, name, id)
		if err != nil {
			return err
		}
		result, render = nodes, func() {
			for _, n := range nodes {
				out.node(n)
			}
		}
	case "key":
		kv, err := s.currentKeys(v, name, id)
		if err != nil {
			return err
		}
		result, render = kv, func() { out.keys(kv) }
	}
	if !asJSON {
		render()
	}
	return s.finish(asJSON, result, out)
}

// currentState is a shard's state with the committed log replayed on top.
func (s *session) currentState(v *viewer, shard uint64) (*stateView, error) {
	st, err := s.storeState(v, shard, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shardName(shard), err)
	}
	return st, nil
}

// findSecrets returns the secrets matching name or id (every one when both
// are empty), searching every secret shard.
func (s *session) findSecrets(v *viewer, name, id string) ([]*objectView, error) {
	var all []*objectView
	for _, shard := range s.allShards() {
		if shard == raftsm.ControlShard {
			continue
		}
		st, err := s.currentState(v, shard)
		if err != nil {
			s.problem(s.storePlace(shard, "state"), err)
			continue
		}
		all = append(all, st.Secrets...)
	}
	out := []*objectView{}
	for _, o := range all {
		switch {
		case name != "":
			if o.Secret != nil && o.Secret.Name == name {
				out = append(out, o)
			}
		case id != "":
			if o.ID == id {
				return []*objectView{o}, nil
			}
			if strings.HasPrefix(o.ID, id) {
				out = append(out, o)
			}
		default:
			out = append(out, o)
		}
	}
	switch {
	case len(out) == 0 && name != "":
		return nil, withHint(fmt.Errorf("no secret named %q", name), "dump-wal shows secrets that were removed")
	case len(out) == 0 && id != "":
		return nil, withHint(fmt.Errorf("no secret with id %q", id), "dump-wal shows secrets that were removed")
	case len(out) > 1 && id != "":
		return nil, withHint(fmt.Errorf("%q matches %d secret ids", id, len(out)), "give more of the id, or --name")
	}
	return out, nil
}

func (s *session) currentCluster(v *viewer) (*clusterView, error) {
	st, err := s.currentState(v, raftsm.ControlShard)
	if err != nil {
		return nil, err
	}
	if st.Cluster == nil {
		return nil, errors.New("the control shard holds no cluster record")
	}
	return st.Cluster, nil
}

// nodeView is a manager of the cluster.
type nodeView struct {
	memberView
	This     bool   `json:"this_node"`
	Hostname string `json:"hostname,omitempty"`
	// Replicas lists the shards whose Raft membership (latest snapshot or
	// bootstrap, as this node's log records it) has the node's replica.
	Replicas []uint64 `json:"raft_shards"`
}

func (s *session) findNodes(v *viewer, name, id string) ([]*nodeView, error) {
	cl, err := s.currentCluster(v)
	if err != nil {
		return nil, err
	}
	me := s.dir.Node
	var out []*nodeView
	for _, m := range cl.Members {
		n := &nodeView{memberView: m, This: m.NodeID == me.NodeID, Replicas: []uint64{}}
		if n.This {
			n.Hostname = me.Hostname
		}
		for _, shard := range s.allShards() {
			if rm := raftMembers(s.logs[shard]); rm != nil {
				for _, a := range append(append([]memberLine{}, rm.Active...), rm.NonVoting...) {
					if a.ReplicaID == m.ReplicaID {
						n.Replicas = append(n.Replicas, shard)
					}
				}
			}
		}
		switch {
		case id != "" && !strings.HasPrefix(m.NodeID, id):
		case name != "" && name != m.Addr && name != m.APIAddr && name != n.Hostname:
		default:
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, withHint(fmt.Errorf("no member of cluster %s matches", cl.ID), "`dump-object node` lists them all")
	}
	if id != "" && len(out) > 1 {
		return nil, withHint(fmt.Errorf("%q matches %d node ids", id, len(out)), "give more of the id")
	}
	return out, nil
}

// keysView is the cluster's key hierarchy as this node stores it.
type keysView struct {
	Keyring *keyringView `json:"keyring"`
	// Shards says which keyring each shard holds and how many of its log
	// entries its state machine counted per DEK version.
	Shards []shardKeysView `json:"shards"`
}

type shardKeysView struct {
	Shard      uint64            `json:"shard"`
	KEKVersion uint32            `json:"kek_version"`
	Active     uint32            `json:"active_dek"`
	Seals      map[uint32]uint64 `json:"seals"`
}

func (s *session) currentKeys(v *viewer, name, id string) (*keysView, error) {
	if name != "" {
		return nil, usagef("use --id with a DEK version", "keys have no names")
	}
	var want uint32
	if id != "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(id, "v"), 10, 32)
		if err != nil {
			return nil, usagef("--id is a DEK version such as 2", "bad DEK version %q", id)
		}
		want = uint32(n)
	}
	kv := &keysView{}
	for _, shard := range s.allShards() {
		st, err := s.currentState(v, shard)
		if err != nil {
			s.problem(s.storePlace(shard, "state"), err)
			continue
		}
		if st.Keyring == nil {
			continue
		}
		if kv.Keyring == nil || shard == raftsm.ControlShard {
			kv.Keyring = st.Keyring
		}
		seals := st.Seals
		if seals == nil {
			seals = map[uint32]uint64{}
		}
		kv.Shards = append(kv.Shards, shardKeysView{Shard: shard, KEKVersion: statedir.OperatorKEKVersion(st.Keyring.KEKVersion), Active: st.Keyring.Active, Seals: seals})
	}
	if kv.Keyring == nil {
		return nil, errors.New("no shard holds a keyring")
	}
	if want != 0 {
		var deks []dekView
		for _, d := range kv.Keyring.DEKs {
			if d.Version == want {
				deks = append(deks, d)
			}
		}
		if deks == nil {
			return nil, withHint(fmt.Errorf("the keyring has no DEK v%d", want), "`dump-object key` lists every version")
		}
		k := *kv.Keyring
		k.DEKs = deks
		kv.Keyring = &k
	}
	return kv, nil
}

func (t *textOut) node(n *nodeView) {
	t.member(0, n.memberView)
	if n.This {
		t.line(1, "this node (hostname %s)", n.Hostname)
	}
	var shards []string
	for _, s := range n.Replicas {
		shards = append(shards, strconv.FormatUint(s, 10))
	}
	if len(shards) > 0 {
		t.line(1, "Raft member of shards %s (as this node's log records it)", strings.Join(shards, ", "))
	}
}

func (t *textOut) keys(k *keysView) {
	t.keyring(0, k.Keyring)
	for _, sh := range k.Shards {
		var seals []string
		for _, v := range slices.Sorted(maps.Keys(sh.Seals)) {
			seals = append(seals, fmt.Sprintf("DEK v%d: %d", v, sh.Seals[v]))
		}
		t.line(1, "%s: keyring under KEK v%d, active DEK v%d; entries applied per DEK: %s",
			shardName(sh.Shard), sh.KEKVersion, sh.Active, strings.Join(seals, ", "))
	}
}
