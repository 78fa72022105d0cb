package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// fakeState is a Collector and a Readiness with a fixed State.
type fakeState struct{ s State }

func (f *fakeState) CollectState() State         { return f.s }
func (f *fakeState) Readiness() (bool, []string) { return f.s.Readiness() }

var testRoutes = []string{"POST /v1/secrets", "GET /v1/secrets/{ref}", "POST /v1/unlock"}

// secretNames are names a caller could give a secret; none may reach a
// label or the exposition.
var secretNames = []string{"DB_PASSWORD", "prod/db password", "api.key", "Stripe-Key"}

func runningState() State {
	return State{
		Initialized: true, Running: true, GroupsKnown: true,
		Groups: []GroupState{
			{Group: 0, HasLeader: true, IsLeader: true, Voters: 3, VotersReachable: 3, CaughtUp: true},
			{Group: 1, HasLeader: true, Voters: 3, VotersReachable: 3, CaughtUp: true},
		},
		Peers:         []PeerState{{ID: "syc7dtrgyw4db4byizpp3jo7qi", Reachable: true}, {ID: "lxw337mzc25v6bsclchhtrknsi"}},
		ActiveDEK:     DEKState{Version: 2, Created: time.Now().Add(-time.Hour), Seals: 10, MaxAge: 90 * 24 * time.Hour, MaxSeals: 1 << 32},
		Mounts:        1,
		MountedFiles:  3,
		WorkerStreams: 2,
	}
}

// populate makes every metric hold at least one series, and tries to put
// secret names into labels.
func populate(m *Metrics) {
	for g := uint64(0); g < 2; g++ {
		m.LeaderChanged(g, 1)
		m.LeaderChanged(g, 0)
		m.ProposalStarted(g)
		m.ProposalDone(g, nil)
		m.ProposalStarted(g)
		m.ProposalDone(g, errors.New("timeout"))
		m.ProposalStarted(g)
		m.Applied(g, 3, 2*time.Millisecond)
	}
	m.Fsynced(3 * time.Millisecond)
	m.SnapshotSaved(40*time.Millisecond, 1<<20)
	m.SnapshotReceived(90*time.Millisecond, 1<<20)
	m.PeerRoundTrip("syc7dtrgyw4db4byizpp3jo7qi", time.Millisecond)
	m.RequestDone("POST /v1/secrets", 201, 5*time.Millisecond)
	m.RequestDone("GET /v1/secrets/{ref}", 404, time.Millisecond)
	m.Sealed(2)
	m.Opened(1)
	m.Opened(2)
	m.UnlockFailed()
	m.AuditWriteFailed()
	for _, name := range secretNames {
		m.RequestDone("GET /v1/secrets/"+name, 200, time.Millisecond)
		m.PeerRoundTrip(name, time.Millisecond)
	}
}

// dragonboatText is what Dragonboat writes (no # TYPE lines), one of each
// kind it makes.
const dragonboatText = `dragonboat_raftnode_campaign_launched_total{shardid="1",replicaid="2"} 3
dragonboat_raftnode_has_leader{shardid="1",replicaid="2"} 1
dragonboat_transport_message_connections 2
dragonboat_transport_message_send_success_total 17
`

func newTest(t *testing.T, s State, o Options) (*Metrics, *fakeState) {
	t.Helper()
	f := &fakeState{s}
	o.Routes, o.Collector = testRoutes, f
	if o.Dragonboat == nil {
		o.Dragonboat = func(w io.Writer) { io.WriteString(w, dragonboatText) }
	}
	m := New(o)
	populate(m)
	return m, f
}

func gather(t *testing.T, m *Metrics) []*dto.MetricFamily {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func exposition(t *testing.T, m *Metrics) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range gather(t, m) {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// documentedNames reads the metric table of docs/monitoring.md.
func documentedNames(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/monitoring.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?m)^\\| `(vaultd_[a-z_]+)` \\|")
	var names []string
	for _, m := range re.FindAllSubmatch(doc, -1) {
		names = append(names, string(m[1]))
	}
	sort.Strings(names)
	return names
}

func TestDocumentedNames(t *testing.T) {
	m, _ := newTest(t, runningState(), Options{NoDragonboat: true, NoProcess: true})
	var got []string
	for _, f := range gather(t, m) {
		got = append(got, f.GetName())
		if !strings.HasPrefix(f.GetName(), Namespace+"_") {
			t.Errorf("%s: not in the %s_ namespace", f.GetName(), Namespace)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no help", f.GetName())
		}
	}
	sort.Strings(got)
	want := documentedNames(t)
	if len(want) < 30 {
		t.Fatalf("docs/monitoring.md lists %d metrics; the table was not found", len(want))
	}
	for _, n := range want {
		if _, ok := slices.BinarySearch(got, n); !ok {
			t.Errorf("%s: documented in docs/monitoring.md, not in the registry", n)
		}
	}
	for _, n := range got {
		if _, ok := slices.BinarySearch(want, n); !ok {
			t.Errorf("%s: in the registry, not documented in docs/monitoring.md", n)
		}
	}
}

// TestLabelsFromFixedSets checks every label of a populated registry: its
// name is one of the documented ones and its value comes from that label's
// fixed set, so no secret name can be a label value.
func TestLabelsFromFixedSets(t *testing.T) {
	s := runningState()
	for _, name := range secretNames {
		s.Peers = append(s.Peers, PeerState{ID: name, Reachable: true})
	}
	m, _ := newTest(t, s, Options{NoDragonboat: true, NoProcess: true})
	number := regexp.MustCompile(`^[0-9]+$`)
	routes := append(slices.Clone(testRoutes), OtherRoute)
	valid := map[string]func(string) bool{
		"group":       number.MatchString,
		"code":        number.MatchString,
		"dek_version": number.MatchString,
		"route":       func(v string) bool { return slices.Contains(routes, v) },
		"peer":        IsID,
	}
	for _, f := range gather(t, m) {
		for _, mt := range f.Metric {
			for _, l := range mt.Label {
				ok, known := valid[l.GetName()]
				if !known {
					t.Errorf("%s: label %q is not one of the documented labels", f.GetName(), l.GetName())
					continue
				}
				if !ok(l.GetValue()) {
					t.Errorf("%s: label %s=%q is not from its fixed set", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
	text := exposition(t, m)
	for _, name := range secretNames {
		if bytes.Contains(text, []byte(name)) {
			t.Errorf("the exposition holds the secret name %q", name)
		}
	}
	if !bytes.Contains(text, []byte(`vaultd_requests_total{code="200",route="other"} 4`)) {
		t.Errorf("requests on routes outside the fixed list are not counted as %q:\n%s", OtherRoute, text)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	populate(m) // must not panic
}

func TestCounters(t *testing.T) {
	m, _ := newTest(t, runningState(), Options{NoDragonboat: true, NoProcess: true})
	text := string(exposition(t, m))
	for _, want := range []string{
		`vaultd_raft_leader_changes_seen_total{group="1"} 1`, // leader 0 is not a change
		`vaultd_raft_proposals_committed_total{group="1"} 1`,
		`vaultd_raft_proposals_failed_total{group="1"} 1`,
		`vaultd_raft_proposals_pending{group="1"} 1`,
		`vaultd_raft_proposals_applied_total{group="0"} 3`,
		`vaultd_opens_total{dek_version="2"} 1`,
		`vaultd_raft_is_leader{group="0"} 1`,
		`vaultd_raft_is_leader{group="1"} 0`,
		`vaultd_peer_reachable{peer="lxw337mzc25v6bsclchhtrknsi"} 0`,
		`vaultd_dek_active_version 2`,
		`vaultd_mounted_files 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestDragonboatMetrics(t *testing.T) {
	m, _ := newTest(t, State{}, Options{NoProcess: true})
	types := map[string]dto.MetricType{}
	for _, f := range gather(t, m) {
		types[f.GetName()] = f.GetType()
	}
	for name, want := range map[string]dto.MetricType{
		"dragonboat_raftnode_campaign_launched_total":     dto.MetricType_COUNTER,
		"dragonboat_raftnode_has_leader":                  dto.MetricType_GAUGE,
		"dragonboat_transport_message_connections":        dto.MetricType_GAUGE,
		"dragonboat_transport_message_send_success_total": dto.MetricType_COUNTER,
	} {
		if got, ok := types[name]; !ok || got != want {
			t.Errorf("%s: type %v (present %v), want %v", name, got, ok, want)
		}
	}
	// The real source parses too, whatever Dragonboat registered so far.
	if _, err := textGatherer(dragonboat.WriteHealthMetrics).Gather(); err != nil {
		t.Errorf("Dragonboat's own output: %v", err)
	}
}

func TestStateReadiness(t *testing.T) {
	noLeader := runningState()
	noLeader.Groups[1].HasLeader = false
	behind := runningState()
	behind.Groups[0].CaughtUp = false
	stopped := runningState()
	stopped.Groups[1].Stopped = true
	unknown := runningState()
	unknown.GroupsKnown = false
	tests := []struct {
		name  string
		s     State
		ready bool
		why   string
	}{
		{"running", runningState(), true, ""},
		{"uninitialized", State{}, false, "not initialized"},
		{"locked", State{Initialized: true, Locked: true}, false, "locked: run `vault unlock`"},
		{"removed", State{Initialized: true, Removed: true}, false, "removed"},
		{"starting", State{Initialized: true}, false, "not running"},
		{"no leader", noLeader, false, "group 1: no leader"},
		{"behind", behind, false, "group 0: not caught up"},
		{"stopped", stopped, false, "group 1: replica stopped"},
		{"groups unknown", unknown, false, "group state unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := tt.s.Readiness()
			if ready != tt.ready {
				t.Fatalf("ready = %v, want %v (%q)", ready, tt.ready, why)
			}
			if tt.why != "" && (len(why) == 0 || !strings.Contains(why[0], tt.why)) {
				t.Errorf("reasons = %q, want one containing %q", why, tt.why)
			}
			if tt.ready && len(why) != 0 {
				t.Errorf("ready with reasons %q", why)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	m, f := newTest(t, runningState(), Options{})
	srv := httptest.NewServer(Handler(m, f))
	defer srv.Close()
	tests := []struct {
		name    string
		state   State
		path    string
		code    int
		ready   bool
		reasons []string
	}{
		{"healthz running", runningState(), "/healthz", 200, true, nil},
		{"healthz locked", State{Initialized: true, Locked: true}, "/healthz", 200, true, nil},
		{"readyz running", runningState(), "/readyz", 200, true, nil},
		{"readyz locked", State{Initialized: true, Locked: true}, "/readyz", 503, false, []string{"locked: run `vault unlock`"}},
		{"readyz uninitialized", State{}, "/readyz", 503, false, []string{"not initialized: run `vault cluster init` or `vault cluster join`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.s = tt.state
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var body ReadyBody
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.Ready != tt.ready || !slices.Equal(body.Reasons, tt.reasons) {
				t.Errorf("body %+v, want ready=%v reasons=%q", body, tt.ready, tt.reasons)
			}
		})
	}
	t.Run("metrics", func(t *testing.T) {
		f.s = State{Initialized: true, Locked: true}
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, text)
		}
		for _, want := range []string{"vaultd_locked 1\n", "dragonboat_transport_message_connections 2\n", "go_goroutines "} {
			if !bytes.Contains(text, []byte(want)) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
	t.Run("no other route", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/readyz", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /readyz: status %d", resp.StatusCode)
		}
	})
}

func TestSetCollector(t *testing.T) {
	m := New(Options{NoProcess: true, NoDragonboat: true})
	if text := exposition(t, m); bytes.Contains(text, []byte("vaultd_locked")) {
		t.Errorf("scrape-time gauges without a Collector:\n%s", text)
	}
	m.SetCollector(&fakeState{State{Initialized: true, Locked: true}})
	if text := exposition(t, m); !bytes.Contains(text, []byte("vaultd_locked 1\n")) {
		t.Errorf("no vaultd_locked after SetCollector:\n%s", text)
	}
	var nilMetrics *Metrics
	nilMetrics.SetCollector(&fakeState{}) // must not panic
}
