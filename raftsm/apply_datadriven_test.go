package raftsm

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

// TestApplyDataDriven runs the scripts in testdata/apply: commands applied
// to one replica, each printing its result, and the state they leave.
// Apply is deterministic, so the expected output is exact; regenerate it
// after an intended change with
//
//	go test ./raftsm -run TestApplyDataDriven -rewrite
//
// Directives (values are plain words; records and data are stored as given,
// the state machine never opens them):
//
//	new shard=N [keys=1,2]        a fresh replica in a fresh store
//	create name= id= [reqid=] [time=] [record=] [data=] [sealwith=V]
//	update name= id= [gen=] [version=] [data=] [record=] [reqid=] [time=]
//	rm name= id= [gen=] [reqid=] [time=]
//	reseal name= id= gen= versions=1,2 [record=] [sealwith=V]
//	reseal-batch [sealwith=V]      one secret.reseal-batch entry; each input
//	                               line is name= id= gen= versions= of one re-seal
//	keyring-set ring= epoch= [expect=E] [reqid=] [time=]
//	cluster-set record= gen=
//	foreign [keyversion=V] [shard=S]  an entry this replica cannot open
//	malformed                      an entry that opens but does not validate
//	batch                          the input lines, one per entry, in one Update
//	query name= | prefix= | data id= version= | keyring | cluster | seals | reseal target= [limit=]
//	state                          every key of the live generation
//	snapshot / recover [damaged]   save a snapshot stream / recover from it
//	restart [keys=1,2] [replay]    close the replica, reopen it on its store,
//	                               and apply the entries after its applied index
//
// Entries take consecutive indexes; an entry without time= is proposed one
// second after the previous one (time= is in seconds).
func TestApplyDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/apply", func(t *testing.T, path string) {
		h := &applyHarness{t: t, dir: t.TempDir()}
		defer h.close()
		datadriven.RunTest(t, path, h.run)
	})
}

// logged is an entry as proposed, kept for a restart's replay.
type logged struct {
	op    string
	entry sm.Entry
}

type applyHarness struct {
	t      *testing.T
	dir    string
	stores int
	store  *Store
	sm     *StateMachine
	shard  uint64
	keys   keysOf
	index  uint64 // the last entry's index
	clock  int64  // the last entry's time, seconds
	reqs   int    // request ids handed out
	log    []logged
	snap   []byte
	events []string
}

// harnessKey is key version v, the same bytes in every run.
func harnessKey(v uint32) *crypto.Key {
	k, err := crypto.NewKey(v, bytes.Repeat([]byte{byte(v)}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

func (h *applyHarness) close() {
	if h.sm != nil {
		h.sm.Close()
	}
	if h.store != nil {
		h.store.Close()
	}
}

func (h *applyHarness) hooks() Hooks {
	return Hooks{
		Keys:        h.keys,
		SnapshotKey: func() (*crypto.Key, error) { return h.keys.Key(1) },
		KeyringApplied: func(shard uint64, w []byte, _ uint64) {
			h.events = append(h.events, fmt.Sprintf("keyring hook: shard %d ring %s", shard, w))
		},
		ReplicaFailed: func(f *ReplicaFailure) {
			h.events = append(h.events, fmt.Sprintf("replica failed at entry %d (applied %d, key version %d, missing key %v)",
				f.Index, f.Applied, f.KeyVersion, f.MissingKey()))
		},
	}
}

// open starts the replica on h.store and reports the index it resumes from.
func (h *applyHarness) open() string {
	create, err := NewFactory(h.store, h.hooks())
	if err != nil {
		h.t.Fatal(err)
	}
	h.sm = create(h.shard, 1).(*StateMachine)
	idx, err := h.sm.Open(nil)
	if err != nil {
		return fmt.Sprintf("open: %v\n", err)
	}
	h.index = idx
	return fmt.Sprintf("opened at applied index %d\n", idx)
}

func (h *applyHarness) run(t *testing.T, d *datadriven.TestData) string {
	h.t = t
	if h.sm == nil && d.Cmd != "new" {
		d.Fatalf(t, "start the script with new")
	}
	switch d.Cmd {
	case "new":
		h.close()
		h.shard = 2
		if d.HasArg("shard") {
			d.ScanArgs(t, "shard", &h.shard)
		}
		h.keys = h.keyArg(d)
		h.stores++
		var err error
		if h.store, err = OpenStore(filepath.Join(h.dir, strconv.Itoa(h.stores)), false); err != nil {
			t.Fatal(err)
		}
		h.index, h.clock, h.log = 0, 0, nil
		return h.open()
	case "restart":
		h.sm.Close()
		if d.HasArg("keys") {
			h.keys = h.keyArg(d)
		}
		out := h.open()
		if !d.HasArg("replay") {
			return out
		}
		// As Dragonboat does: the entries after the applied index again.
		var ents []sm.Entry
		var ops []string
		for _, l := range h.log {
			if l.entry.Index > h.index {
				ents = append(ents, l.entry)
				ops = append(ops, l.op)
			}
		}
		if len(ents) > 0 {
			h.index = ents[len(ents)-1].Index
		}
		return out + h.update(ents, ops)
	case "batch":
		var ents []sm.Entry
		var ops []string
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			cmd, args, err := datadriven.ParseLine(line)
			if err != nil {
				d.Fatalf(t, "%s: %v", line, err)
			}
			line := &datadriven.TestData{Pos: d.Pos, Cmd: cmd, CmdArgs: args}
			ents = append(ents, h.entry(line))
			ops = append(ops, cmd)
		}
		return h.update(ents, ops)
	case "query":
		return h.query(d)
	case "state":
		return h.state()
	case "snapshot":
		ctx, err := h.sm.PrepareSnapshot()
		if err != nil {
			return fmt.Sprintf("prepare: %v\n", err)
		}
		var buf bytes.Buffer
		if err := h.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
			return fmt.Sprintf("save: %v\n", err)
		}
		h.snap = buf.Bytes()
		return fmt.Sprintf("snapshot at applied index %d\n", h.index)
	case "recover":
		b := h.snap
		if d.HasArg("damaged") {
			b = append([]byte(nil), b...)
			b[len(b)/2] ^= 0x40
		}
		err := h.sm.RecoverFromSnapshot(bytes.NewReader(b), nil)
		out := h.drainHooks()
		if err != nil {
			return out + fmt.Sprintf("recover: %v\nreplica stopped: %v\n", classify(err), h.sm.Failure() != nil)
		}
		v, err := h.store.NewView(h.shard)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		h.index = v.Applied()
		return out + fmt.Sprintf("recovered at applied index %d\n", h.index)
	default:
		return h.update([]sm.Entry{h.entry(d)}, []string{d.Cmd})
	}
}

// classify names an error by its sentinel, not its text.
func classify(err error) string {
	switch {
	case crypto.IsIntegrityError(err):
		return "integrity error"
	case errors.Is(err, ErrBadSnapshot):
		return "bad snapshot"
	case errors.Is(err, sm.ErrSnapshotStopped):
		return "snapshot stopped"
	}
	return err.Error()
}

func (h *applyHarness) keyArg(d *datadriven.TestData) keysOf {
	ks := keysOf{1: harnessKey(1)}
	if d.HasArg("keys") {
		ks = keysOf{}
		for _, v := range strings.Split(h.str(d, "keys", ""), ",") {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				d.Fatalf(h.t, "keys: %v", err)
			}
			ks[uint32(n)] = harnessKey(uint32(n))
		}
	}
	return ks
}

func (h *applyHarness) str(d *datadriven.TestData, key, def string) string {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(h.t, key, &s)
	return s
}

func (h *applyHarness) num(d *datadriven.TestData, key string, def uint64) uint64 {
	if !d.HasArg(key) {
		return def
	}
	var n uint64
	d.ScanArgs(h.t, key, &n)
	return n
}

// seal stores b as given, or sealed under key version sealwith= (then the
// state shows only the envelope's key version).
func (h *applyHarness) seal(d *datadriven.TestData, b []byte, object []byte) []byte {
	v := h.num(d, "sealwith", 0)
	if v == 0 {
		return b
	}
	out, err := crypto.Seal(harnessKey(uint32(v)), ValueBinding(h.shard, object), b)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// entry builds, seals and numbers one log entry from a directive.
func (h *applyHarness) entry(d *datadriven.TestData) sm.Entry {
	h.index++
	h.clock = int64(h.num(d, "time", uint64(h.clock+1)))
	h.reqs++
	rid := make([]byte, 16)
	copy(rid, h.str(d, "reqid", fmt.Sprintf("auto-%d", h.reqs)))
	c := &Command{Op: Op(d.Cmd), RequestID: rid, Time: h.clock * int64(time.Second)}
	id, name := h.str(d, "id", ""), h.str(d, "name", "")
	w := &SecretWrite{ID: id, NameMAC: mac(name), ExpectGen: h.num(d, "gen", 0)}
	sealKey := harnessKey(1)
	shard := h.shard
	switch d.Cmd {
	case "create":
		c.Op = OpSecretCreate
		w.Version = 1
		w.Record = h.seal(d, []byte(h.str(d, "record", "rec-"+id)), RecordObject(id))
		w.Data = h.seal(d, []byte(h.str(d, "data", "data-"+id)), DataObject(id, 1))
		c.Secret = w
	case "update":
		c.Op = OpSecretUpdate
		w.Record = h.seal(d, []byte(h.str(d, "record", "rec-"+id+"-"+strconv.FormatUint(h.index, 10))), RecordObject(id))
		if v := uint32(h.num(d, "version", 0)); v != 0 {
			w.Version = v
			w.Data = h.seal(d, []byte(h.str(d, "data", fmt.Sprintf("data-%s-v%d", id, v))), DataObject(id, v))
		}
		c.Secret = w
	case "rm":
		c.Op = OpSecretRemove
		c.Secret = w
	case "reseal":
		c.Op = OpSecretReseal
		w.Record = h.seal(d, []byte(h.str(d, "record", "rec-"+id+"-resealed")), RecordObject(id))
		for _, s := range strings.Split(h.str(d, "versions", ""), ",") {
			if s == "" {
				continue
			}
			v, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				d.Fatalf(h.t, "versions: %v", err)
			}
			w.Resealed = append(w.Resealed, DataVersion{Version: uint32(v),
				Data: h.seal(d, []byte(fmt.Sprintf("data-%s-v%d-resealed", id, v)), DataObject(id, uint32(v)))})
		}
		c.Secret = w
	case "reseal-batch":
		c.Op = OpSecretResealBatch
		for _, line := range strings.Split(d.Input, "\n") {
			args := map[string]string{}
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				args[k] = v
			}
			bid := args["id"]
			gen, _ := strconv.ParseUint(args["gen"], 10, 64)
			bw := &SecretWrite{ID: bid, NameMAC: mac(args["name"]), ExpectGen: gen,
				Record: h.seal(d, []byte("rec-"+bid+"-resealed"), RecordObject(bid))}
			for _, vs := range strings.Split(args["versions"], ",") {
				if vs == "" {
					continue
				}
				v, err := strconv.ParseUint(vs, 10, 32)
				if err != nil {
					d.Fatalf(h.t, "versions: %v", err)
				}
				bw.Resealed = append(bw.Resealed, DataVersion{Version: uint32(v),
					Data: h.seal(d, []byte(fmt.Sprintf("data-%s-v%d-resealed", bid, v)), DataObject(bid, uint32(v)))})
			}
			c.Secrets = append(c.Secrets, bw)
		}
	case "keyring-set":
		c.Op = OpKeyringSet
		c.Keyring = []byte(h.str(d, "ring", ""))
		c.KeyringEpoch = h.num(d, "epoch", 0)
		if d.HasArg("expect") {
			c.KeyringCAS, c.ExpectEpoch = true, h.num(d, "expect", 0)
		}
	case "cluster-set":
		c.Op = OpClusterSet
		c.Cluster = []byte(h.str(d, "record", ""))
		c.ClusterGen = h.num(d, "gen", 0)
	case "foreign", "malformed":
		c.Op = OpSecretRemove
		c.Secret = &SecretWrite{ID: "x", NameMAC: mac("x")}
		def := uint64(9) // no replica holds it
		if d.Cmd == "malformed" {
			def = 1
		}
		sealKey = harnessKey(uint32(h.num(d, "keyversion", def)))
		shard = h.num(d, "shard", h.shard)
	default:
		d.Fatalf(h.t, "unknown directive %q", d.Cmd)
	}
	b, err := SealCommand(sealKey, shard, c)
	if d.Cmd == "malformed" {
		// A genuine envelope around a command that fails validation.
		b, err = crypto.Seal(sealKey, EntryBinding(shard), []byte(`{"op":"secret.create","req":"AAAAAAAAAAAAAAAAAAAAAA=="}`))
	}
	if err != nil {
		d.Fatalf(h.t, "%s: %v", d.Cmd, err)
	}
	e := sm.Entry{Index: h.index, Cmd: b}
	h.log = append(h.log, logged{op: d.Cmd, entry: e})
	return e
}

var resultNames = map[uint64]string{
	ResultOK: "ok", ResultExists: "exists", ResultNotFound: "not found", ResultConflict: "conflict",
	ResultInvalid: "invalid", ResultStale: "stale", ResultFailed: "failed",
}

// update applies entries in one batch and prints each result.
func (h *applyHarness) update(ents []sm.Entry, ops []string) string {
	out, err := h.sm.Update(ents)
	if err != nil {
		return fmt.Sprintf("update: %v\n", err)
	}
	var b strings.Builder
	for i, e := range out {
		if ops[i] == "reseal-batch" {
			fmt.Fprintf(&b, "%d %s: %s applied=%d\n", e.Index, ops[i], resultNames[e.Result.Value], getU64(e.Result.Data))
			continue
		}
		fmt.Fprintf(&b, "%d %s: %s", e.Index, ops[i], resultNames[e.Result.Value])
		switch d := e.Result.Data; {
		case len(d) == 0:
		case len(d) == 8 && ops[i] == "keyring-set":
			fmt.Fprintf(&b, " epoch=%d", getU64(d))
		case len(d) == 8:
			fmt.Fprintf(&b, " gen=%d", getU64(d))
		default:
			fmt.Fprintf(&b, " owner=%s", d)
		}
		b.WriteString("\n")
	}
	return b.String() + h.drainHooks()
}

func (h *applyHarness) drainHooks() string {
	var b strings.Builder
	for _, f := range h.events {
		b.WriteString(f + "\n")
	}
	h.events = nil
	return b.String()
}

// printable shows stored bytes: an envelope by its key version, anything
// else as the text the script gave.
func printable(b []byte) string {
	if v, err := crypto.EnvelopeKeyVersion(b); err == nil && len(b) > 40 {
		return fmt.Sprintf("<sealed v%d>", v)
	}
	return string(b)
}

func (h *applyHarness) query(d *datadriven.TestData) string {
	var q interface{}
	switch {
	case d.HasArg("name"):
		q = QueryName{MAC: mac(h.str(d, "name", ""))}
	case d.HasArg("prefix"):
		q = QueryIDPrefix{Prefix: h.str(d, "prefix", "")}
	case d.HasArg("data"):
		q = QueryData{ID: h.str(d, "id", ""), Version: uint32(h.num(d, "version", 0))}
	case d.HasArg("keyring"):
		q = QueryKeyringEpoch{}
	case d.HasArg("cluster"):
		q = QueryCluster{}
	case d.HasArg("seals"):
		q = QuerySeals{}
	case d.HasArg("reseal"):
		q = QueryReseal{Target: uint32(h.num(d, "target", 0)), Limit: int(h.num(d, "limit", 0))}
	default:
		d.Fatalf(h.t, "unknown query")
	}
	got, err := h.sm.Lookup(q)
	if err != nil {
		return fmt.Sprintf("error: %v\n", classifyLookup(err))
	}
	secret := func(s StoredSecret) string {
		return fmt.Sprintf("id=%s gen=%d record=%s\n", s.ID, s.Gen, printable(s.Sealed))
	}
	switch got := got.(type) {
	case *StoredSecret:
		if got == nil {
			return "none\n"
		}
		return secret(*got)
	case []StoredSecret:
		var b strings.Builder
		for _, s := range got {
			b.WriteString(secret(s))
		}
		if len(got) == 0 {
			return "none\n"
		}
		return b.String()
	case []byte:
		if got == nil {
			return "none\n"
		}
		return printable(got) + "\n"
	case *StoredKeyring:
		if got == nil {
			return "none\n"
		}
		return fmt.Sprintf("ring=%s epoch=%d\n", got.Ring, got.Epoch)
	case *StoredCluster:
		if got == nil {
			return "none\n"
		}
		return fmt.Sprintf("gen=%d record=%s\n", got.Gen, got.Sealed)
	case map[uint32]uint64:
		var vs []int
		for v := range got {
			vs = append(vs, int(v))
		}
		sort.Ints(vs)
		var b strings.Builder
		for _, v := range vs {
			fmt.Fprintf(&b, "v%d: %d entries\n", v, got[uint32(v)])
		}
		return b.String()
	case []ResealCandidate:
		var b strings.Builder
		for _, c := range got {
			fmt.Fprintf(&b, "id=%s gen=%d\n", c.ID, c.Gen)
		}
		if len(got) == 0 {
			return "none\n"
		}
		return b.String()
	}
	return fmt.Sprintf("%T\n", got)
}

func classifyLookup(err error) string {
	if f := (*ReplicaFailure)(nil); errors.As(err, &f) {
		return "replica failed"
	}
	return err.Error()
}

// state prints every key of the shard's live generation, decoded. Request
// ids are counted, not listed.
func (h *applyHarness) state() string {
	v, err := h.store.NewView(h.shard)
	if err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	defer v.Close()
	var b strings.Builder
	requests := 0
	err = v.Walk(func(r StateRecord) error {
		k := r.Key
		switch k.Kind {
		case SubApplied, SubEpoch, SubPruneTime:
			n, _ := DecodeCount(r.Value)
			if k.Kind == SubPruneTime {
				n /= uint64(time.Second)
			}
			fmt.Fprintf(&b, "%s: %d\n", k.Kind, n)
		case SubKeyring:
			fmt.Fprintf(&b, "keyring: %s\n", r.Value)
		case SubSeals:
			n, _ := DecodeCount(r.Value)
			fmt.Fprintf(&b, "seals v%d: %d\n", k.Version, n)
		case SubCluster:
			gen, rec, _ := DecodeGenValue(r.Value)
			fmt.Fprintf(&b, "cluster: gen=%d record=%s\n", gen, rec)
		case SubName:
			fmt.Fprintf(&b, "name %s -> %s\n", bytes.TrimRight(k.NameMAC, "\x00"), r.Value)
		case SubObject:
			gen, rec, _ := DecodeGenValue(r.Value)
			fmt.Fprintf(&b, "object %s: gen=%d record=%s\n", k.ID, gen, printable(rec))
		case SubData:
			if at, kv, ok := DataPointer(r.Value); ok {
				fmt.Fprintf(&b, "data %s v%d: at %d (key version %d)\n", k.ID, k.Version, at, kv)
			} else {
				fmt.Fprintf(&b, "data %s v%d: %s\n", k.ID, k.Version, printable(r.Value))
			}
		case SubDataAt:
			fmt.Fprintf(&b, "data at %d %s: %s\n", k.Index, k.ID, printable(r.Value))
		case SubRequest:
			requests++
		default:
			fmt.Fprintf(&b, "unknown key %x\n", r.Raw)
		}
		return nil
	})
	if err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	fmt.Fprintf(&b, "request ids remembered: %d\n", requests)
	return fmt.Sprintf("generation %d, applied %d\n", v.Generation(), v.Applied()) + b.String()
}
