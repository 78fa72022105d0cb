package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// prometheusServer is Debian's prometheus started by a test on a loopback
// port, scraping the given targets every second.
type prometheusServer struct {
	t    *testing.T
	addr string
}

func startPrometheus(t *testing.T, targets []string) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (apt-get install -y prometheus)")
	}
	rules, err := filepath.Abs("../deploy/prometheus/vaultd-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, a := range targets {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: vaultd
    static_configs:
      - targets: [%s]
`, rules, strings.Join(quoted, ", "))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &prometheusServer{t: t, addr: freeAddr(t)}
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr, "--log.level=warn")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs)
		}
	})
	waitFor(t, "prometheus ready", time.Minute, func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs)
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// sample is one series of an instant query's result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() string { v, _ := s.Value[1].(string); return v }

// query runs an instant PromQL query.
func (p *prometheusServer) query(q string) []sample {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		p.t.Fatalf("query %s: %v %s", q, err, r.Error)
	}
	return r.Data.Result
}

// waitValue polls q until its single result has value want.
func (p *prometheusServer) waitValue(q, want string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		last := p.query(q)
		if len(last) == 1 && last[0].value() == want {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s == %s; last result: %+v", q, want, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// number runs an instant query with one numeric result.
func (p *prometheusServer) number(q string) float64 {
	p.t.Helper()
	r := p.query(q)
	if len(r) != 1 {
		p.t.Fatalf("%s: want one result, got %+v", q, r)
	}
	v, err := strconv.ParseFloat(r[0].value(), 64)
	if err != nil {
		p.t.Fatalf("%s: %v", q, err)
	}
	return v
}

// waitAtLeast polls q until its single result is at least want.
func (p *prometheusServer) waitAtLeast(q string, want float64) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		last := p.query(q)
		if len(last) == 1 {
			if v, err := strconv.ParseFloat(last[0].value(), 64); err == nil && v >= want {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s >= %v; last result: %+v", q, want, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPrometheus: a real Prometheus scrapes three managers started with
// --metrics-addr and loads the shipped rules; PromQL over the scraped data
// shows the managers running and seeing each other, and a manager locked
// after `vault lock`; promtool check metrics passes on each manager's
// exposition; /readyz says why a locked manager is not ready.
func TestPrometheus(t *testing.T) {
	maddrs := freeAddrs(t, 3)
	var ds []*daemon
	for _, a := range maddrs {
		d := newDaemon(t, "--metrics-addr", a, "--log-format", "json")
		d.start()
		ds = append(ds, d)
	}
	must(t, ds[0].vault("cluster", "init", "--shards", "2"))
	tok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	for _, d := range ds[1:] {
		must(t, d.vault("cluster", "join", "--token", tok, ds[0].apiAddr))
	}
	for i, a := range maddrs {
		waitFor(t, fmt.Sprintf("manager %d ready", i), time.Minute, func() bool {
			code, _ := httpGet(t, "http://"+a+"/readyz")
			return code == 200
		})
	}

	if promtool, err := exec.LookPath("promtool"); err == nil {
		for _, a := range maddrs {
			_, text := httpGet(t, "http://"+a+"/metrics")
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(text)
			if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("promtool check metrics on %s: %v\n%s", a, err, out)
			}
		}
	} else {
		t.Error("promtool is not installed (apt-get install -y prometheus)")
	}

	p := startPrometheus(t, maddrs)
	p.waitValue(`count(up{job="vaultd"} == 1)`, "3")
	p.waitValue(`sum(vaultd_running)`, "3")
	p.waitValue(`count(vaultd_peer_reachable == 1)`, "6") // each sees two peers
	p.waitValue(`count(dragonboat_transport_message_send_success_total > 0)`, "3")
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []json.RawMessage `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	_, body := httpGet(t, "http://"+p.addr+"/api/v1/rules")
	if err := json.Unmarshal([]byte(body), &rules); err != nil || len(rules.Data.Groups) != 1 || len(rules.Data.Groups[0].Rules) != 8 {
		t.Errorf("prometheus did not load the 8 shipped rules: %v\n%s", err, body)
	}

	// One leader per group (the control group and two secret groups),
	// every replica knows it, and no alert fires on a healthy cluster.
	p.waitValue(`count(sum by (group) (vaultd_raft_is_leader) == 1)`, "3")
	p.waitValue(`count(vaultd_raft_has_leader == 1)`, "9")
	p.waitValue(`count(vaultd_raft_caught_up == 1)`, "9")
	p.waitValue(`count(vaultd_dek_active_version == 1)`, "3")
	if firing := p.query(`ALERTS{alertstate="firing"}`); len(firing) > 0 {
		t.Errorf("alerts firing on a healthy cluster: %+v", firing)
	}

	// Writes: the proposals this manager made, the entries every manager
	// applied and the requests by route rise by what was written.
	const writes = 20
	committed := p.number(`sum(vaultd_raft_proposals_committed_total)`)
	applied := p.number(`sum(vaultd_raft_proposals_applied_total)`)
	for i := range writes {
		must(t, ds[0].vaultIn([]byte("v"), "secret", "create", fmt.Sprintf("prom-%d", i), "-"))
	}
	p.waitAtLeast(`sum(vaultd_raft_proposals_committed_total)`, committed+writes)
	p.waitAtLeast(`sum(vaultd_raft_proposals_applied_total)`, applied+3*writes)
	p.waitValue(fmt.Sprintf(`vaultd_requests_total{instance=%q,route="POST /v1/secrets",code="200"}`, maddrs[0]), fmt.Sprint(writes))
	p.waitValue(`sum(vaultd_raft_proposals_pending)`, "0")
	p.waitAtLeast(`count(vaultd_peer_round_trip_time_seconds_count > 0)`, 6)
	// The managers' status calls to each other are counted under their
	// route; no request fell outside the route list.
	p.waitAtLeast(`sum(vaultd_requests_total{route="GET /v1/peer/status",code="200"})`, 6)
	if other := p.query(`vaultd_requests_total{route="other"}`); len(other) > 0 {
		t.Errorf("requests counted under route other: %+v", other)
	}
	p.waitAtLeast(`sum(vaultd_logdb_fsync_duration_seconds_count)`, 3)

	// kill -9 the control group's leader: the other two see a leader
	// change and elect one of them, and the quorum-at-risk alert fires.
	leaders := p.query(`vaultd_raft_is_leader{group="1"} == 1`)
	if len(leaders) != 1 {
		t.Fatalf("control group leaders: %+v", leaders)
	}
	killed := slices.Index(maddrs, leaders[0].Metric["instance"])
	if killed < 0 {
		t.Fatalf("leader %q is not one of %v", leaders[0].Metric["instance"], maddrs)
	}
	survivors := fmt.Sprintf(`instance!=%q`, maddrs[killed])
	killedID := nodeID(t, ds[killed])
	changes := p.number(fmt.Sprintf(`sum(vaultd_raft_leader_changes_seen_total{group="1",%s})`, survivors))
	ds[killed].kill()
	p.waitValue(fmt.Sprintf(`up{instance=%q}`, maddrs[killed]), "0")
	p.waitAtLeast(fmt.Sprintf(`sum(vaultd_raft_leader_changes_seen_total{group="1",%s})`, survivors), changes+2)
	p.waitValue(fmt.Sprintf(`count(vaultd_raft_is_leader{group="1",%s} == 1)`, survivors), "1")
	p.waitValue(fmt.Sprintf(`count(vaultd_peer_reachable{peer=%q} == 0)`, killedID), "2")
	// Both survivors, each of the three groups.
	p.waitValue(`count(ALERTS{alertname="VaultdQuorumAtRisk",alertstate="firing"})`, "6")
	ds[killed].start()
	p.waitValue(`count(sum by (group) (vaultd_raft_is_leader) == 1)`, "3")
	p.waitValue(`absent(ALERTS{alertname="VaultdQuorumAtRisk"})`, "1")

	// Lock one manager: Prometheus sees it locked, /readyz says why.
	must(t, ds[0].vault("cluster", "update", "--autolock=true"))
	must(t, ds[2].vault("lock"))
	p.waitValue(fmt.Sprintf(`vaultd_locked{instance=%q}`, maddrs[2]), "1")
	p.waitValue(`sum(vaultd_locked)`, "1")
	p.waitValue(`sum(vaultd_running)`, "2")
	code, body := httpGet(t, "http://"+maddrs[2]+"/readyz")
	if code != 503 || !strings.Contains(body, "locked: run `vault unlock`") {
		t.Errorf("/readyz of a locked manager: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+maddrs[2]+"/healthz"); code != 200 {
		t.Errorf("/healthz of a locked manager: %d %s", code, body)
	}
}
