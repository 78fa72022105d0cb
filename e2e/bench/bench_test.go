package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var vaultBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vault-bench-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vaultBin = filepath.Join(dir, "vault")
	build := exec.Command("go", "build", "-o", vaultBin, "./cmd/vault")
	build.Dir = "../.."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vault:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestSmoke runs every workload for a second against real processes, with
// a small preload, so the bench cannot rot. It checks that each figure was
// measured, not what it is.
func TestSmoke(t *testing.T) {
	// Audit on: the smoke run also checks that managers with audit logs serve the workloads.
	// Two rounds, so that the figures of each round are reported too.
	cfg := Config{Vault: vaultBin, Duration: time.Second, Rounds: 2, Clients: 8, Preload: 200, Dir: t.TempDir(), Audit: true}
	switch _, err := os.Stat(DefaultEtcd); {
	case err == nil:
		cfg.Peer = PeerEtcd
	case os.Getuid() == 0:
		// CI runs as root and installs etcd-server: its absence is a
		// missing install step.
		t.Fatalf("no etcd server at %s: apt-get install -y etcd-server", DefaultEtcd)
	default:
		t.Logf("no etcd server at %s: measuring vault alone", DefaultEtcd)
	}
	mount := checkMount(context.Background(), vaultBin) == nil
	if mount && os.Getuid() == 0 {
		cfg.Mount = true
	} else {
		t.Logf("not measuring the FUSE mount (vault mount available: %v, root: %v)", mount, os.Getuid() == 0)
	}

	var log bytes.Buffer
	start := time.Now()
	r, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &log)
	}
	t.Logf("the smoke run took %s", time.Since(start).Round(time.Millisecond))

	if !r.Config.Audit {
		t.Errorf("the report does not say audit logs were on")
	}
	if r.FsyncFloor == nil || r.FsyncFloor.Ops == 0 {
		t.Errorf("no fsync floor: %+v", r.FsyncFloor)
	}
	if len(r.Workloads) != 5 {
		t.Fatalf("%d workloads, want 5 (the one-client create on a follower and on the leader)", len(r.Workloads))
	}
	systems := 1
	if cfg.Peer != PeerNone {
		systems = 2
	}
	checkPlacement(t, r, systems)
	for _, w := range r.Workloads {
		check := func(who string, m *Measure) {
			if m == nil || m.Ops == 0 || m.OpsPerSec <= 0 || m.P50Ms <= 0 || m.P99Ms < m.P50Ms {
				t.Errorf("%s on %s: %+v", w.Name, who, m)
				return
			}
			if m.Errors > 0 {
				t.Errorf("%s on %s: %d errors, first: %s", w.Name, who, m.Errors, m.FirstError)
			}
			if m.ServerCPU <= 0 {
				t.Errorf("%s on %s: no server CPU measured", w.Name, who)
			}
		}
		check("vault", w.Vault)
		checkRounds := func(who string, rs []RoundFigures) {
			if len(rs) != cfg.Rounds {
				t.Errorf("%s on %s: %d rounds' figures, want %d", w.Name, who, len(rs), cfg.Rounds)
			}
			for i, f := range rs {
				if f.OpsPerSec <= 0 || f.CPUPerOpUs <= 0 {
					t.Errorf("%s on %s, round %d: %+v", w.Name, who, i+1, f)
				}
			}
		}
		checkRounds("vault", w.VaultRounds)
		if cfg.Peer != PeerNone {
			checkRounds(cfg.Peer, w.PeerRounds)
			check(cfg.Peer, w.Peer)
		}
	}
	if cfg.Mount {
		if r.Mount == nil {
			t.Error("no mount figures")
		} else if r.Mount.Vault.Ops == 0 || r.Mount.Peer.Ops == 0 {
			t.Errorf("mount: %+v", r.Mount)
		}
	}
	wantSystems := 1
	if cfg.Peer != PeerNone {
		wantSystems = 2
		if len(r.Preload) != 2 {
			t.Errorf("preload: %+v", r.Preload)
		}
	}
	if len(r.Scale) != wantSystems {
		t.Fatalf("scale: %d systems, want %d", len(r.Scale), wantSystems)
	}
	for _, s := range r.Scale {
		if s.Keys < cfg.Preload {
			t.Errorf("%s holds %d keys after a preload of %d", s.System, s.Keys, cfg.Preload)
		}
		want := DefaultManagers // etcd has etcdMembers, as many
		if len(s.RSS) != want || slices.Min(s.RSS) <= 0 || len(s.Disk) != want || slices.Min(s.Disk) <= 0 {
			t.Errorf("%s: RSS %v, disk %v", s.System, s.RSS, s.Disk)
		}
		if s.ServeS <= 0 || s.ListS <= 0 {
			t.Errorf("%s: restart %gs, list %gs", s.System, s.ServeS, s.ListS)
		}
		if (s.System == "vault") != (s.ListWhole > 0 && s.ListCLI > 0) {
			t.Errorf("%s: whole list %gs, secret ls %gs", s.System, s.ListWhole, s.ListCLI)
		}
		_, noCtl := exec.LookPath("etcdctl")
		if f := s.Snapshot; (f == nil) != (s.System == "etcd" && noCtl != nil) || f != nil && (f.SaveS <= 0 || f.RestoreS <= 0 || f.Bytes <= 0) {
			t.Errorf("%s: snapshot figures %+v", s.System, f)
		}
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"create, 1 client", "linearizable read, 8 clients", "disk floor", "restart: start to serving", "leader restart under writes: longest create"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, &text)
		}
	}
	if cfg.Peer != PeerNone && !strings.Contains(text.String(), "create, 8 clients, by round: vault/"+cfg.Peer+" ops/s ") {
		t.Errorf("the report lacks the 8-client create's figures by round:\n%s", &text)
	}
	t.Logf("\n%s", &text)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Workloads) != len(r.Workloads) {
		t.Fatalf("JSON round trip: %v", err)
	}

	// Every process the run started has stopped.
	out, _ := exec.Command("pgrep", "-f", cfg.Dir).Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("processes still running under %s: %s", cfg.Dir, out)
	}
}

// TestMountUnavailable: with a vault binary that has no `mount` command,
// --mount fails at once with ErrNoMount rather than after the other
// workloads.
func TestMountUnavailable(t *testing.T) {
	// A stand-in for a vault binary from before `vault mount`: it knows no
	// command at all.
	old := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho 'No help topic for '$1 >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Run(context.Background(), Config{Vault: old, Mount: true, Dir: t.TempDir()}, &bytes.Buffer{})
	if !errors.Is(err, ErrNoMount) {
		t.Fatalf("Run with Mount: %v, want ErrNoMount", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s to refuse", d)
	}
	if err := checkMount(context.Background(), vaultBin); err != nil {
		t.Logf("the vault binary under test has no `vault mount`: TestSmoke skips the mount workload")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"defaults", Config{Vault: "v"}, ""},
		{"no vault", Config{}, "no vault binary"},
		{"peer", Config{Vault: "v", Peer: "consul"}, "the peers are etcd, vault-metrics, swarm and vault-other"},
		{"other vault", Config{Vault: "v", Peer: PeerVaultOther, OtherVault: "w"}, ""},
		{"other vault missing", Config{Vault: "v", Peer: PeerVaultOther}, "--other-vault"},
		{"other vault without its peer", Config{Vault: "v", Peer: PeerEtcd, OtherVault: "w"}, "--other-vault"},
		{"short", Config{Vault: "v", Duration: time.Millisecond}, "at least 100ms"},
		{"rounds too short", Config{Vault: "v", Duration: time.Second, Rounds: 20}, "--rounds"},
		{"clients", Config{Vault: "v", Clients: -1}, "--clients"},
		{"value too big", Config{Vault: "v", ValueSize: 500 * 1024}, "--value-size"},
		{"shards", Config{Vault: "v", Shards: 65}, "--shards"},
		{"preload", Config{Vault: "v", Preload: -5}, "--preload"},
		{"one manager", Config{Vault: "v", Managers: 1}, ""},
		{"two managers", Config{Vault: "v", Managers: 2}, "--managers 2: 1 (a Raft group of one"},
		{"five managers", Config{Vault: "v", Managers: 5}, "--managers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errConfig)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	c := Config{Vault: "v"}
	c.Validate()
	if c.Rounds != 5 {
		t.Errorf("default rounds for %s: %d, want 5", c.Duration, c.Rounds)
	}
	if c.Duration != DefaultDuration || c.Clients != DefaultClients || c.ValueSize != DefaultValueSize || c.Shards != DefaultShards || c.Etcd != DefaultEtcd || c.Managers != DefaultManagers {
		t.Errorf("defaults not filled in: %+v", c)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.5, 7 * time.Millisecond},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 1, 100 * time.Millisecond},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %g) = %s, want %s", len(tc.in), tc.p, got, tc.want)
		}
	}
}

// vault's secret name rule (README).
var secretName = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

func TestKeyNames(t *testing.T) {
	for _, k := range []string{
		keyName("seq", 0, 0, false), keyName("par", 4095, 9_999_999, false),
		keyName("pre", 0, 9_999_999, true), mountSecret,
		keyName("rot-before", 4095, 9_999_999, false), keyName("rot-during", 4095, 9_999_999, false),
	} {
		if len(k) > 64 || !secretName.MatchString(k) {
			t.Errorf("%q is not a valid vault secret name", k)
		}
	}
	if keyName("par", 1, 2, false) == keyName("par", 2, 1, false) {
		t.Error("key names collide across workers")
	}
}

func TestCommonKeys(t *testing.T) {
	got := commonKeys(map[string][][]string{
		"vault": {{"c", "a"}, {"b"}},
		"etcd":  {{"d"}, {"b", "c"}},
	})
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("commonKeys = %v", got)
	}
}

func TestProcFigures(t *testing.T) {
	// Burn a little CPU so the counters move.
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	_ = x
	if d, err := cpuTime(os.Getpid()); err != nil || d <= 0 {
		t.Errorf("cpuTime(self) = %s, %v", d, err)
	}
	if n, err := rss(os.Getpid()); err != nil || n < 1<<20 {
		t.Errorf("rss(self) = %d, %v", n, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, 100_000), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := diskUsage(dir); err != nil || n < 100_000 {
		t.Errorf("diskUsage = %d, %v", n, err)
	}
	if busy, _ := machineCPU(); busy <= 0 {
		t.Errorf("machineCPU busy = %s", busy)
	}
}

func TestTable(t *testing.T) {
	var tb table
	tb.align = "lrl"
	tb.row("name", "ops/s", "cpu")
	tb.row("create", "1234", "0.5 cores")
	tb.row("", "(a remark longer than the columns)", "")
	var b strings.Builder
	tb.write(&b)
	want := "name    ops/s  cpu\n" +
		"create   1234  0.5 cores\n" +
		"        (a remark longer than the columns)\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestSmokeVaultMetrics runs the bench against vault with --metrics-addr
// (--vs vault-metrics): the second cluster serves and is scraped, every
// workload is measured on both, and the report names the comparison.
func TestSmokeVaultMetrics(t *testing.T) {
	cfg := Config{Vault: vaultBin, Peer: PeerVaultMetrics, Duration: time.Second, Clients: 4, Dir: t.TempDir()}
	var log bytes.Buffer
	r, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &log)
	}
	if len(r.Workloads) != 5 {
		t.Fatalf("%d workloads, want 5 (the one-client create on a follower and on the leader)", len(r.Workloads))
	}
	checkPlacement(t, r, 2)
	for _, w := range r.Workloads {
		for who, m := range map[string]*Measure{"vault": w.Vault, PeerVaultMetrics: w.Peer} {
			if m == nil || m.Ops == 0 {
				t.Errorf("%s on %s: %+v", w.Name, who, m)
			}
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "vault/vault-metrics") || !strings.Contains(text.String(), "--metrics-addr") {
		t.Errorf("report:\n%s", &text)
	}
}

// TestSmokeVaultOther runs the bench against a second vault cluster of
// another binary (--vs vault-other; here the same build, copied): every
// workload is measured on both, the peer's managers run that binary, and
// the report names it.
func TestSmokeVaultOther(t *testing.T) {
	other := filepath.Join(t.TempDir(), "vault-other-build")
	b, err := os.ReadFile(vaultBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, b, 0o755); err != nil {
		t.Fatal(err)
	}
	profiles := t.TempDir()
	cfg := Config{Vault: vaultBin, Peer: PeerVaultOther, OtherVault: other, Duration: time.Second, Clients: 4, Dir: t.TempDir(), GoProfile: profiles}
	var log bytes.Buffer
	r, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &log)
	}
	if len(r.Workloads) != 5 {
		t.Fatalf("%d workloads, want 5 (the one-client create on a follower and on the leader)", len(r.Workloads))
	}
	checkPlacement(t, r, 2)
	for _, w := range r.Workloads {
		for who, m := range map[string]*Measure{"vault": w.Vault, PeerVaultOther: w.Peer} {
			if m == nil || m.Ops == 0 {
				t.Errorf("%s on %s: %+v", w.Name, who, m)
			}
		}
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "vault/vault-other") || !strings.Contains(text.String(), other) || !strings.Contains(log.String(), "running "+other) {
		t.Errorf("report:\n%s\nprogress:\n%s", &text, &log)
	}
	// --go-profile: a Go CPU profile of each of vault's managers (not the
	// peer's) for each workload round, gzipped protobuf as pprof writes it.
	files, err := filepath.Glob(filepath.Join(profiles, "*.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(r.Workloads) * r.Config.Rounds * 3; len(files) != want {
		t.Errorf("%d Go profiles, want %d (a workload round on each of vault's managers): %v", len(files), want, files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s: %d bytes, not a gzipped profile: %.80q", f, len(b), b)
		}
	}
}

// checkPlacement checks the one-client creates of a run of systems
// 3-member systems: one ran on a follower, the other on the leader, of each
// system, and each says so.
func checkPlacement(t *testing.T, r *Report, systems int) {
	t.Helper()
	led := map[string]map[string]int{} // place → system → groups led
	for _, w := range r.Workloads {
		place := ""
		switch w.Name {
		case "create, 1 client on a follower":
			place = "follower"
		case "create, 1 client on the leader":
			place = "leader"
		default:
			if len(w.Placement) > 0 {
				t.Errorf("%s ran on chosen members: %+v", w.Name, w.Placement)
			}
			continue
		}
		if len(w.Placement) != systems {
			t.Errorf("%s: placement %+v, want one per system", w.Name, w.Placement)
			continue
		}
		led[place] = map[string]int{}
		for _, p := range w.Placement {
			if p.Groups <= 0 || p.Led < 0 || p.Led > p.Groups {
				t.Errorf("%s: %+v", w.Name, p)
			}
			led[place][p.System] = p.Led
		}
	}
	if len(led) != 2 {
		t.Fatalf("one-client creates: %v", led)
	}
	for sys, f := range led["follower"] {
		if l, ok := led["leader"][sys]; !ok || f >= l {
			t.Errorf("%s: the follower's member led %d groups, the leader's %d (%v)", sys, f, l, ok)
		}
	}
}
