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
