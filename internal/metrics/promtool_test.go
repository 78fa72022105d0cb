package metrics

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// promtool finds Prometheus' promtool (Debian's prometheus package; .ci/run
// installs it) or skips.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install -y prometheus): the shipped rules and the exposition are not checked")
	}
	return p
}

func runPromtool(t *testing.T, dir string, stdin []byte, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	// check metrics exits 0 with lint findings on stdout; a clean run
	// prints nothing.
	if args[0] == "check" && args[1] == "metrics" && len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics:\n%s", out)
	}
}

// TestPromtoolRules checks the shipped alerting rules and runs their unit
// tests (a test per alert in vaultd-rules-test.yml).
func TestPromtoolRules(t *testing.T) {
	dir, err := filepath.Abs("../../deploy/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vaultd-rules.yml")); err != nil {
		t.Fatal(err)
	}
	t.Run("check rules", func(t *testing.T) { runPromtool(t, dir, nil, "check", "rules", "vaultd-rules.yml") })
	t.Run("test rules", func(t *testing.T) { runPromtool(t, dir, nil, "test", "rules", "vaultd-rules-test.yml") })
}

// TestPromtoolCheckMetrics lints the exposition of a registry in which
// every metric holds a series, Dragonboat's and the process's included.
func TestPromtoolCheckMetrics(t *testing.T) {
	m, _ := newTest(t, runningState(), Options{})
	runPromtool(t, "", exposition(t, m), "check", "metrics")
}
