package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// textOut writes indented text lines and keeps the first write error.
type textOut struct {
	w   io.Writer
	err error
}

func (t *textOut) line(indent int, format string, args ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, "%s%s\n", strings.Repeat("    ", indent), fmt.Sprintf(format, args...))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(timeLayout)
}

// redactedText replaces secret bytes in text output.
const redactedText = "[REDACTED]"

func (t *textOut) entry(ev *entryView) {
	head := fmt.Sprintf("Entry Index=%d, Term=%d, Type=%s", ev.Index, ev.Term, ev.Type)
	if ev.KeyVersion != 0 {
		head += fmt.Sprintf(", DEK v%d", ev.KeyVersion)
	}
	if ev.Uncommitted {
		head += " (not committed)"
	}
	t.line(0, "%s", head)
	if ev.Error != "" {
		t.line(1, "error: %s", ev.Error)
	}
	switch {
	case ev.Type == "empty":
		t.line(1, "(no command: the first entry of a new leader's term)")
	case ev.ConfigChange != nil:
		cc := ev.ConfigChange
		s := fmt.Sprintf("config change %s: replica %d", cc.Type, cc.ReplicaID)
		if cc.Address != "" {
			s += " at " + cc.Address
		}
		if cc.Initialize {
			s += " (initial member)"
		}
		t.line(1, "%s", s)
	case ev.Command != nil:
		t.command(1, ev.Command)
	}
}

func (t *textOut) command(in int, c *commandView) {
	t.line(in, "%s  time=%s  request=%s", c.Op, ts(c.Time), c.RequestID)
	if c.Error != "" {
		t.line(in, "error: %s", c.Error)
	}
	if c.Keyring != nil {
		epoch := fmt.Sprintf("keyring epoch %d", c.KeyringEpoch)
		if c.ExpectEpoch != nil {
			epoch += fmt.Sprintf(", replacing epoch %d", *c.ExpectEpoch)
		}
		t.line(in, "%s", epoch)
		t.keyring(in, c.Keyring)
	}
	if c.Cluster != nil {
		if c.Op == "cluster.set" {
			t.line(in, "replaces cluster record generation %d", c.ClusterGen)
		}
		t.cluster(in, c.Cluster)
	}
	if w := c.Secret; w != nil {
		t.secretWrite(in, w)
	}
	for _, w := range c.Secrets {
		t.secretWrite(in, w)
	}
}

func (t *textOut) secretWrite(in int, w *secretWriteView) {
	name := strconv.Quote(w.Name)
	if w.Name == "" {
		name = "unknown (its record is not in the log or the state)"
	}
	s := fmt.Sprintf("secret id=%s name=%s", w.ID, name)
	if w.ExpectGen != 0 {
		s += fmt.Sprintf(" expected-gen=%d", w.ExpectGen)
	}
	t.line(in, "%s", s)
	if w.Error != "" {
		t.line(in+1, "error: %s", w.Error)
	}
	if w.Record != nil {
		t.record(in+1, w.Record)
	}
	if w.Data != nil {
		t.data(in+1, w.Data)
	}
	for _, d := range w.Resealed {
		t.data(in+1, d)
	}
}

func (t *textOut) keyring(in int, k *keyringView) {
	if k.Error != "" && k.DEKs == nil {
		t.line(in, "keyring: %s", k.Error)
		return
	}
	t.line(in, "keyring: wrapped under KEK v%d, active DEK v%d", k.KEKVersion, k.Active)
	if k.Error != "" {
		t.line(in+1, "error: %s", k.Error)
	}
	if k.Note != "" {
		t.line(in+1, "%s", k.Note)
	}
	for _, d := range k.DEKs {
		t.line(in+1, "DEK v%d  %-7s  created %s  seals %d", d.Version, d.State, ts(d.Created), d.Seals)
	}
}

func (t *textOut) cluster(in int, c *clusterView) {
	s := fmt.Sprintf("cluster id=%s shards=%d autolock=%t created=%s", c.ID, c.Shards, c.Autolock, ts(c.Created))
	if c.Gen != 0 {
		s += fmt.Sprintf(" gen=%d", c.Gen)
	}
	if c.NextReplicaID != 0 {
		s += fmt.Sprintf(" next-replica=%d", c.NextReplicaID)
	}
	t.line(in, "%s", s)
	var policy []string
	if c.KeyShares != 0 {
		policy = append(policy, fmt.Sprintf("unlock key split into %d shares", c.KeyShares))
	}
	if c.DEKMaxAge != 0 {
		policy = append(policy, fmt.Sprintf("DEK max age %s", c.DEKMaxAge))
	}
	if c.DEKMaxSeals != 0 {
		policy = append(policy, fmt.Sprintf("DEK max seals %d", c.DEKMaxSeals))
	}
	if c.FullRotation != 0 {
		policy = append(policy, fmt.Sprintf("full rotation to DEK v%d running", c.FullRotation))
	}
	if len(policy) > 0 {
		t.line(in+1, "%s", strings.Join(policy, ", "))
	}
	for _, m := range c.Members {
		t.member(in+1, m)
	}
	if c.CACert != "" {
		t.line(in+1, "CA certificate:")
		t.pem(in+2, c.CACert)
	}
	switch {
	case c.Redacted:
		t.line(in+1, "CA key, join tokens and unlock key: %s", redactedText)
	default:
		if c.UnlockKey != "" {
			t.line(in+1, "unlock key: %s", c.UnlockKey)
		}
		if c.CAKey != "" {
			t.line(in+1, "CA key:")
			t.pem(in+2, c.CAKey)
		}
		for _, role := range slices.Sorted(maps.Keys(c.Tokens)) {
			t.line(in+1, "join token secret (%s): %s", role, c.Tokens[role])
		}
	}
}

func (t *textOut) member(in int, m memberView) {
	s := fmt.Sprintf("member node=%s replica=%d addr=%s", m.NodeID, m.ReplicaID, m.Addr)
	if m.APIAddr != "" {
		s += " api=" + m.APIAddr
	}
	if m.Role != "" {
		s += " role=" + m.Role
	}
	if !m.Joined.IsZero() {
		s += " joined=" + ts(m.Joined)
	}
	t.line(in, "%s", s)
}

func (t *textOut) pem(in int, p string) {
	for _, l := range strings.Split(strings.TrimSpace(p), "\n") {
		t.line(in, "%s", l)
	}
}

func (t *textOut) record(in int, r *secretView) {
	t.line(in, "record (DEK v%d): name=%q created=%s updated=%s", r.KeyVersion, r.Name, ts(r.Created), ts(r.Updated))
	if len(r.Labels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
			ls = append(ls, k+"="+r.Labels[k])
		}
		t.line(in+1, "labels: %s", strings.Join(ls, ", "))
	}
	for _, v := range r.Versions {
		t.line(in+1, "version %d: %d bytes, created %s", v.Version, v.Size, ts(v.Created))
	}
}

func (t *textOut) data(in int, d *dataView) {
	head := fmt.Sprintf("data v%d (%d bytes, DEK v%d)", d.Version, d.Size, d.KeyVersion)
	if d.DataKey {
		head = fmt.Sprintf("data v%d (%d bytes, its own data key)", d.Version, d.Size)
	}
	switch {
	case d.Error != "":
		t.line(in, "%s: error: %s", head, d.Error)
	case d.Redacted:
		t.line(in, "%s: %s", head, redactedText)
	default:
		t.line(in, "%s: %s", head, strconv.Quote(string(d.Data)))
	}
}

func (t *textOut) object(in int, o *objectView) {
	name := o.ID
	if o.Secret != nil {
		name = strconv.Quote(o.Secret.Name)
	}
	t.line(in, "secret %s id=%s shard=%d gen=%d", name, o.ID, o.Shard, o.Gen)
	if o.Error != "" {
		t.line(in+1, "error: %s", o.Error)
	}
	if o.Secret != nil {
		t.record(in+1, o.Secret)
	}
	for _, d := range o.Data {
		t.data(in+1, d)
	}
}

func (t *textOut) state(in int, st *stateView) {
	if st.Keyring != nil {
		t.keyring(in, st.Keyring)
	}
	if st.Cluster != nil {
		t.cluster(in, st.Cluster)
	}
	if len(st.Secrets) == 0 && st.Shard != 1 {
		t.line(in, "no secrets")
	}
	for _, o := range st.Secrets {
		t.object(in, o)
	}
	if len(st.Seals) > 0 {
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(st.Seals)) {
			parts = append(parts, fmt.Sprintf("DEK v%d: %d", v, st.Seals[v]))
		}
		t.line(in, "entries sealed per DEK, as counted by the state machine: %s", strings.Join(parts, ", "))
	}
	t.line(in, "request ids remembered for deduplication: %d", st.Requests)
}
