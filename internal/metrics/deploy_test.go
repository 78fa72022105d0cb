package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboardExprs reads every query of the example Grafana dashboard, with
// its $job variable replaced by a match-all.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/vaultd-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, strings.ReplaceAll(tg.Expr, "$job", ".*"))
		}
	}
	return out
}

var vaultdName = regexp.MustCompile(`\bvaultd_[a-z_]+\b`)

// TestShippedNamesDocumented checks that the alert rules and the dashboard
// use only metric names docs/monitoring.md lists (a histogram's _bucket,
// _sum and _count included).
func TestShippedNamesDocumented(t *testing.T) {
	doc := documentedNames(t)
	known := func(n string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suffix); ok && slices.Contains(doc, base) {
				return true
			}
		}
		return false
	}
	rules, err := os.ReadFile("../../deploy/prometheus/vaultd-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{"vaultd-rules.yml": string(rules)}
	for i, e := range dashboardExprs(t) {
		sources[fmt.Sprintf("dashboard query %d", i)] = e
	}
	for src, text := range sources {
		for _, n := range vaultdName.FindAllString(text, -1) {
			if !known(n) {
				t.Errorf("%s uses %s, which docs/monitoring.md does not list", src, n)
			}
		}
	}
}

// TestPromtoolDashboard parses every dashboard query as PromQL, by
// checking them as recording rules.
func TestPromtoolDashboard(t *testing.T) {
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, nil, "check", "rules", "dashboard.yml")
}
