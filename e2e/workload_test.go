package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/vaultd/vault/api"
)

// The workload: clients doing create / update / rm / inspect on a few
// secrets so that they conflict, through random nodes, recording each
// call's start, end, input and result. The history is checked for
// linearizability against a model of versioned secrets.
//
// The API never returns secret data, so the model is the metadata: a secret
// exists or not, and has a latest version number and that version's size.
// Every write of a secret has a size no other write of that secret has, so a
// read names the write it observes.
//
// A call whose outcome is unknown (a timeout, no quorum, a dropped
// connection, an internal error) may have taken effect or not: it is kept
// in the history with a return time of +infinity, so the checker may place
// it anywhere after its start, including after every other operation (as if
// it never happened). A call refused before it reached a daemon (nothing
// listens on the socket) had no effect and is left out.

type opKind uint8

const (
	opCreate opKind = iota
	opUpdate
	opRemove
	opInspect
)

func (k opKind) String() string {
	return [...]string{"create", "update", "rm", "inspect"}[k]
}

type opStatus uint8

const (
	stOK       opStatus = iota
	stNotFound          // the secret did not exist
	stExists            // create: the name was taken
	stConflict          // update/rm: gave up after concurrent changes; nothing changed
	stUnknown           // may or may not have taken effect
)

func (s opStatus) String() string {
	return [...]string{"ok", "not-found", "exists", "conflict", "unknown"}[s]
}

// opInput is a call: what, on which secret, with which data size, through
// which node.
type opInput struct {
	Kind opKind
	Name string
	Size int // create, update: the data size, unique among the writes of Name
	Node int
}

// opOutput is what the call returned.
type opOutput struct {
	Status  opStatus
	Version uint32 // create, update, inspect
	Size    int    // inspect
	Err     string // for the report
}

// secretState is the model's state of one secret (one partition).
type secretState struct {
	Exists  bool
	Version uint32
	Size    int
}

// secretModel is the sequential specification of one secret; histories are
// partitioned by name.
var secretModel = porcupine.Model{
	Init: func() interface{} { return secretState{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in, out := state.(secretState), input.(opInput), output.(opOutput)
		switch in.Kind {
		case opCreate:
			switch out.Status {
			case stOK:
				return !s.Exists && out.Version == 1, secretState{true, 1, in.Size}
			case stExists:
				return s.Exists, s
			case stUnknown:
				if !s.Exists {
					return true, secretState{true, 1, in.Size}
				}
				return true, s
			}
		case opUpdate:
			switch out.Status {
			case stOK:
				return s.Exists && out.Version == s.Version+1, secretState{true, out.Version, in.Size}
			case stNotFound:
				return !s.Exists, s
			case stConflict:
				return true, s
			case stUnknown:
				if s.Exists {
					return true, secretState{true, s.Version + 1, in.Size}
				}
				return true, s
			}
		case opRemove:
			switch out.Status {
			case stOK:
				return s.Exists, secretState{}
			case stNotFound:
				return !s.Exists, s
			case stConflict:
				return true, s
			case stUnknown:
				return true, secretState{}
			}
		case opInspect:
			switch out.Status {
			case stOK:
				return s.Exists && s.Version == out.Version && s.Size == out.Size, s
			case stNotFound:
				return !s.Exists, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(opInput), output.(opOutput)
		return describeOp(in, out)
	},
	DescribeState: func(state interface{}) string {
		s := state.(secretState)
		if !s.Exists {
			return "absent"
		}
		return fmt.Sprintf("v%d size %d", s.Version, s.Size)
	},
}

func describeOp(in opInput, out opOutput) string {
	call := fmt.Sprintf("n%d %s(%s", in.Node, in.Kind, in.Name)
	if in.Kind == opCreate || in.Kind == opUpdate {
		call += fmt.Sprintf(", size %d", in.Size)
	}
	call += ")"
	switch {
	case out.Status == stOK && in.Kind == opInspect:
		return fmt.Sprintf("%s -> v%d size %d", call, out.Version, out.Size)
	case out.Status == stOK && in.Kind != opRemove:
		return fmt.Sprintf("%s -> ok v%d", call, out.Version)
	case out.Err != "":
		return fmt.Sprintf("%s -> %s (%s)", call, out.Status, out.Err)
	}
	return fmt.Sprintf("%s -> %s", call, out.Status)
}

// classify maps an API error to the call's outcome. ok is false for a call
// that never reached a daemon: it had no effect and no observation.
func classify(err error) (st opStatus, ok bool) {
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeNotFound:
			return stNotFound, true
		case api.CodeExists:
			return stExists, true
		case api.CodeConflict:
			return stConflict, true
		case "no_daemon", api.CodeNotInitialized, api.CodeLocked:
			// Refused before anything was proposed.
			return 0, false
		}
	}
	return stUnknown, true
}

// workload runs the clients against a fleet and keeps the history.
type workload struct {
	f      *fleet
	rng    *rand.Rand // for the names; each client has its own
	seed   uint64
	names  []string        // contended secrets
	keep   map[string]bool // never removed: the nothing-lost check applies
	canary []byte          // in every value written
	c      canaries

	start time.Time
	sizes map[string]int // name -> the last data size written (under mu)

	mu        sync.Mutex
	ops       []porcupine.Operation
	acked     map[string]uint32 // keep name -> highest acknowledged version
	created   map[string]bool   // keep name -> a create was acknowledged
	bulk      []string          // unique secrets whose create was acknowledged
	invalid   []string          // calls answered with an error the model has no place for
	finalFrom int64             // when the final reads started

	stop chan struct{}
	wg   sync.WaitGroup
}

// newWorkload prepares a workload on a fresh set of names.
func newWorkload(f *fleet, seed uint64, names int) *workload {
	w := &workload{
		f: f, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5ec)),
		keep: map[string]bool{}, acked: map[string]uint32{}, created: map[string]bool{},
		c: canaries{}, start: time.Now(), stop: make(chan struct{}), sizes: map[string]int{},
	}
	w.canary = []byte("CANARY-VALUE-" + randHex(8) + "-")
	w.c.add("value", w.canary)
	tag := randHex(3)
	for i := range names {
		name := fmt.Sprintf("k%d-%s", i, tag)
		w.names = append(w.names, name)
		w.c.add("name "+name, []byte(name))
		if i%2 == 0 {
			w.keep[name] = true
		}
	}
	return w
}

func (w *workload) now() int64 { return time.Since(w.start).Nanoseconds() }

// data returns a value for name that holds the canary, of a size no
// earlier write of name had: a read's size names the write it observes.
func (w *workload) data(name string) []byte {
	w.mu.Lock()
	n, ok := w.sizes[name]
	if !ok {
		n = len(w.canary)
	}
	n++
	w.sizes[name] = n
	w.mu.Unlock()
	b := bytes.Repeat([]byte{'x'}, n)
	copy(b, w.canary)
	return b
}

// call runs one operation through node idx and records it.
func (w *workload) call(ctx context.Context, idx int, kind opKind, name string) {
	nd := w.f.nodes[idx]
	in := opInput{Kind: kind, Name: name, Node: idx}
	var data []byte
	if kind == opCreate || kind == opUpdate {
		data = w.data(name)
		in.Size = len(data)
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	callT := w.now()
	var out opOutput
	var err error
	switch kind {
	case opCreate:
		var r *api.SecretRef
		if r, err = nd.client.CreateSecret(ctx, api.CreateSecretRequest{Name: name, Data: data}); err == nil {
			out.Version = r.Version
		}
	case opUpdate:
		var r *api.SecretRef
		if r, err = nd.client.UpdateSecret(ctx, name, data); err == nil {
			out.Version = r.Version
		}
	case opRemove:
		_, err = nd.client.RemoveSecret(ctx, name)
	case opInspect:
		var s *api.Secret
		if s, err = nd.client.Secret(ctx, name); err == nil {
			out.Version, out.Size = s.Version, s.Size
		}
	}
	retT := w.now()
	if err != nil {
		st, reached := classify(err)
		if !reached {
			return
		}
		out.Status, out.Err = st, err.Error()
		if st == stUnknown {
			if kind == opInspect {
				return // a read with no answer constrains nothing
			}
			retT = math.MaxInt64
		}
		if (st == stNotFound && kind == opCreate) || (st == stExists && kind != opCreate) {
			w.mu.Lock()
			w.invalid = append(w.invalid, describeOp(in, out))
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops = append(w.ops, porcupine.Operation{ClientId: idx, Input: in, Call: callT, Output: out, Return: retT})
	if out.Status == stOK && w.keep[name] {
		switch kind {
		case opCreate:
			w.created[name] = true
			w.acked[name] = max(w.acked[name], 1)
		case opUpdate:
			w.acked[name] = max(w.acked[name], out.Version)
		}
	}
}

// run starts clients goroutines on the contended names and one writer of
// unique secrets (never removed, for the nothing-lost check).
func (w *workload) run(clients int) {
	for c := range clients {
		rng := rand.New(rand.NewPCG(w.seed, uint64(c)+1))
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for w.pace(rng, 5, 25) {
				name := w.names[rng.IntN(len(w.names))]
				kind := opInspect
				switch p := rng.IntN(100); {
				case p < 20:
					kind = opCreate
				case p < 50:
					kind = opUpdate
				case p < 62 && !w.keep[name]:
					kind = opRemove
				}
				w.call(context.Background(), rng.IntN(len(w.f.nodes)), kind, name)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(w.seed, 0xb01c))
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for i := 0; w.pace(rng, 250, 500); i++ {
			w.createBulk(rng.IntN(len(w.f.nodes)), fmt.Sprintf("b%s-%d", randHex(3), i))
		}
	}()
}

// createBulk creates a unique secret and records it if acknowledged.
func (w *workload) createBulk(idx int, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	w.mu.Lock()
	w.c.add("name "+name, []byte(name))
	w.mu.Unlock()
	if _, err := w.f.nodes[idx].client.CreateSecret(ctx, api.CreateSecretRequest{Name: name, Data: w.data(name)}); err != nil {
		return false
	}
	w.mu.Lock()
	w.bulk = append(w.bulk, name)
	w.mu.Unlock()
	return true
}

// pace waits a random few milliseconds between calls; false once stopped.
func (w *workload) pace(rng *rand.Rand, lo, hi int) bool {
	t := time.NewTimer(time.Duration(lo+rng.IntN(hi-lo)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-t.C:
		return true
	}
}

// halt stops the clients and waits for their last calls.
func (w *workload) halt() {
	close(w.stop)
	w.wg.Wait()
}

// finalReads reads every contended secret through every node, into the
// history: after the faults healed, every node must agree with the history.
func (w *workload) finalReads() {
	w.mu.Lock()
	w.finalFrom = w.now()
	w.mu.Unlock()
	for _, name := range w.names {
		for i := range w.f.nodes {
			w.call(context.Background(), i, opInspect, name)
		}
	}
}

// cleanup removes the contended secrets, so that versions do not pile up
// over many schedules on one cluster. Best effort: the history is checked.
func (w *workload) cleanup() {
	for _, name := range w.names {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		w.f.nodes[0].client.RemoveSecret(ctx, name)
		cancel()
	}
}

// verdict is what checking a history found.
type verdict struct {
	ops, unknown int
	problems     []string
}

func (v *verdict) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// check runs the linearizability check (per secret) and the nothing-lost
// checks. It writes a porcupine visualization of a failing secret's history
// to a file under os.TempDir and names it.
func (w *workload) check(label string) *verdict {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := &verdict{ops: len(w.ops)}
	for _, s := range w.invalid {
		v.addf("a call got an answer that does not fit its operation: %s", s)
	}
	byName := map[string][]porcupine.Operation{}
	for _, op := range w.ops {
		in := op.Input.(opInput)
		byName[in.Name] = append(byName[in.Name], op)
		if op.Output.(opOutput).Status == stUnknown {
			v.unknown++
		}
	}
	for _, name := range w.names {
		ops := byName[name]
		res, info := porcupine.CheckOperationsVerbose(secretModel, ops, 2*time.Minute)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			v.addf("the linearizability check of %s timed out (%d operations)", name, len(ops))
			continue
		}
		path := filepath.Join(os.TempDir(), fmt.Sprintf("vault-fault-%s-%s.html", label, name))
		if err := porcupine.VisualizePath(secretModel, info, path); err != nil {
			path = "(visualization failed: " + err.Error() + ")"
		}
		v.addf("history of %s is not linearizable (%d operations; visualization: %s):\n%s", name, len(ops), path, w.excerpt(ops))
	}
	// Nothing lost: every acknowledged create/update of a secret that is
	// never removed is readable by every node after the faults healed.
	final := map[string][]opOutput{}
	for _, op := range w.ops {
		in := op.Input.(opInput)
		if in.Kind == opInspect && op.Call >= w.finalFrom {
			final[in.Name] = append(final[in.Name], op.Output.(opOutput))
		}
	}
	for name := range w.keep {
		if !w.created[name] {
			continue
		}
		if len(final[name]) != len(w.f.nodes) {
			v.addf("lost? %s: %d of %d final reads answered", name, len(final[name]), len(w.f.nodes))
		}
		for _, out := range final[name] {
			if out.Status != stOK || out.Version < w.acked[name] {
				v.addf("lost write: %s: acknowledged up to v%d, a final read found %s v%d", name, w.acked[name], out.Status, out.Version)
			}
		}
	}
	return v
}

// excerpt formats a secret's history in call order (at most 120 lines).
func (w *workload) excerpt(ops []porcupine.Operation) string {
	ops = append([]porcupine.Operation(nil), ops...)
	sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	var b strings.Builder
	if len(ops) > 120 {
		fmt.Fprintf(&b, "  ... %d earlier operations\n", len(ops)-120)
		ops = ops[len(ops)-120:]
	}
	for _, op := range ops {
		ret := "?"
		if op.Return != math.MaxInt64 {
			ret = fmt.Sprintf("%.3fs", float64(op.Return)/1e9)
		}
		fmt.Fprintf(&b, "  [%.3fs .. %s] %s\n", float64(op.Call)/1e9, ret, describeOp(op.Input.(opInput), op.Output.(opOutput)))
	}
	return b.String()
}

// checkBulk checks that every node lists every acknowledged unique secret.
func (w *workload) checkBulk(v *verdict) {
	w.mu.Lock()
	bulk := append([]string(nil), w.bulk...)
	w.mu.Unlock()
	for _, nd := range w.f.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		list, err := nd.client.Secrets(ctx)
		cancel()
		if err != nil {
			v.addf("%s: secret ls after the faults: %v", nd, err)
			continue
		}
		have := map[string]bool{}
		for _, s := range list {
			have[s.Name] = true
		}
		for _, name := range bulk {
			if !have[name] {
				v.addf("lost write: %s does not list %s, whose create was acknowledged", nd, name)
			}
		}
	}
}
