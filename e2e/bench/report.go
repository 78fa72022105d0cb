package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteText writes the report as the tables the command prints.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	peer := r.Config.Peer
	if peer == PeerNone {
		peer = "peer"
	}
	fmt.Fprintf(&b, "vault-bench: vault (%s) vs %s on 127.0.0.1\n", plural(r.managers(), "manager"), r.peerDesc())
	fmt.Fprintf(&b, "machine: %d CPUs (%s), Linux %s, %s RAM; state dirs on %s\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.MemTotal, r.Machine.FileSystem)
	preload := "no preload"
	if r.Config.Preload > 0 {
		preload = fmt.Sprintf("preload %d", r.Config.Preload)
	}
	rounds := "in 1 round"
	if r.Config.Rounds > 1 {
		rounds = fmt.Sprintf("in %d alternating rounds", r.Config.Rounds)
	}
	groups := fmt.Sprintf("%d secret groups", r.Config.Shards)
	if r.Config.Shards == 1 {
		groups = "1 secret group"
	}
	if r.Config.Audit {
		preload += ", vault audit logs on"
	}
	fmt.Fprintf(&b, "run: %gs per workload per system %s, %d clients, %d-byte values, %s, %s\n\n",
		r.Config.Duration, rounds, r.Config.Clients, r.Config.ValueSize, groups, preload)

	t := table{align: "llrrrll"}
	t.row("workload", "metric", "vault", peer, "vault/"+peer, "CPU vault", "CPU "+peer)
	var notes []string
	for _, wl := range r.Workloads {
		t.measureRows(wl)
		notes = append(notes, wl.errorNotes()...)
	}
	t.write(&b)
	if f := r.FsyncFloor; f != nil {
		fmt.Fprintf(&b, "\ndisk floor (1 client: write %d B + fdatasync, preallocated file): %.0f ops/s, p50 %s ms, p99 %s ms\n",
			r.Config.ValueSize, f.OpsPerSec, num(f.P50Ms), num(f.P99Ms))
	}
	var idle []string
	for _, i := range r.Idle {
		idle = append(idle, fmt.Sprintf("%s %.2f cores", i.System, i.Cores))
	}
	if len(idle) > 0 {
		fmt.Fprintf(&b, "idle CPU of the servers: %s\n", strings.Join(idle, ", "))
	}
	for _, wl := range r.Workloads {
		if len(wl.Placement) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", wl.Name, wl.placementText())
		}
	}
	for _, wl := range r.Workloads {
		if s := wl.roundsText(peer); s != "" {
			fmt.Fprintf(&b, "%s, by round: %s\n", wl.Name, s)
		}
	}
	if o, st := r.outsideLoad(); o > 0 || st > 0 {
		fmt.Fprintf(&b, "outside load: up to %.2f cores busy beyond these servers, the idle peer and the bench; up to %.2f cores stolen by the hypervisor\n", o, st)
	}
	if r.Config.Profiled {
		fmt.Fprintf(&b, "profiled: perf recorded the servers during every workload, and its cost is in these figures\n")
	}
	fmt.Fprintf(&b, "ratio: above 1 means vault does more ops/s, or takes longer; CPU is utime+stime of each side's server processes (cores = CPU s / wall s); bench cores is the load generator's own CPU\n")

	if m := r.Mount; m != nil {
		fmt.Fprintln(&b)
		t := table{align: "llrrrll"}
		t.row("workload", "metric", "vault FUSE", "tmpfs", "FUSE/tmpfs", "CPU vault", "CPU bench")
		t.measureRows(m)
		t.write(&b)
		notes = append(notes, m.errorNotes()...)
	}

	if len(r.Scale) > 0 {
		fmt.Fprintln(&b)
		t := table{align: "lrrr"}
		hdr := []string{"scale"}
		for _, s := range r.Scale {
			hdr = append(hdr, s.System)
		}
		if len(r.Scale) == 2 {
			hdr = append(hdr, "vault/"+r.Scale[1].System)
		}
		t.row(hdr...)
		r.scaleRows(&t)
		t.write(&b)
		for _, s := range r.Scale {
			if s.NotRestarted != "" {
				notes = append(notes, fmt.Sprintf("%s: %s", s.System, s.NotRestarted))
			}
		}
	}
	notes = append(notes, r.writeRotation(&b)...)
	for _, n := range notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// outsideLoad is the most CPU anything else on the machine used during a
// workload, and the most the hypervisor stole.
func (r *Report) outsideLoad() (outside, steal float64) {
	idle := map[string]float64{}
	var idleAll float64
	for _, i := range r.Idle {
		idle[i.System] = i.Cores
		idleAll += i.Cores
	}
	for _, wl := range r.Workloads {
		for _, x := range []struct {
			sys string
			m   *Measure
		}{{"vault", wl.Vault}, {wl.PeerName, wl.Peer}} {
			if x.m == nil || x.m.Seconds == 0 {
				continue
			}
			o := x.m.MachineCores - x.m.ServerCores - x.m.ClientCPU/x.m.Seconds - (idleAll - idle[x.sys])
			outside, steal = max(outside, o), max(steal, x.m.StealCores)
		}
	}
	return outside, steal
}

func (r *Report) peerDesc() string {
	switch r.Config.Peer {
	case PeerNone:
		return "no peer"
	case PeerVaultMetrics:
		return "vault-metrics: the same, with --metrics-addr on each manager scraped every second"
	case PeerVaultOther:
		return "vault-other: " + plural(r.managers(), "manager") + " running " + r.Config.OtherVault
	case PeerSwarm:
		return fmt.Sprintf("swarm: Docker %s as the single manager of a swarm made for the run (its CPU and RSS are all of dockerd's)", r.Machine.Docker)
	}
	tls := "plaintext peers"
	if r.Config.EtcdPeerTLS {
		tls = "peer TLS"
	}
	v := strings.TrimPrefix(r.Machine.Etcd, "etcd Version: ")
	return fmt.Sprintf("etcd %s (%d members, %s)", v, etcdMembers, tls)
}

// managers is the size of each vault cluster of the run; a report written
// before --managers existed had three.
func (r *Report) managers() int {
	if r.Config.Managers == 0 {
		return DefaultManagers
	}
	return r.Config.Managers
}

func (t *table) measureRows(wl *Workload) {
	v, p := wl.Vault, wl.Peer
	get := func(m *Measure, f func(*Measure) float64, fmtf func(float64) string) string {
		if m == nil {
			return "n/a"
		}
		return fmtf(f(m))
	}
	ratio := func(f func(*Measure) float64) string {
		if v == nil || p == nil || f(p) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", f(v)/f(p))
	}
	cpu := func(m *Measure) string {
		if m == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f cores, %s µs/op", m.ServerCores, num(m.CPUPerOpUs))
	}
	benchCPU := func(m *Measure) string {
		if m == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f cores", m.ClientCPU/m.Seconds)
	}
	ops := func(m *Measure) float64 { return m.OpsPerSec }
	p50 := func(m *Measure) float64 { return m.P50Ms }
	p99 := func(m *Measure) float64 { return m.P99Ms }
	peerCPU := cpu(p)
	if wl.PeerName == "tmpfs" {
		// tmpfs has no server: what its reads cost is the bench's own CPU.
		peerCPU = benchCPU(p)
	}
	t.row(wl.Name, "ops/s", get(v, ops, whole), get(p, ops, whole), ratio(ops), cpu(v), peerCPU)
	unit := "ms"
	if (v == nil || v.P50Ms < 0.1) && (p == nil || p.P50Ms < 0.1) {
		// Kernel-speed reads: milliseconds would show three zeros.
		unit = "µs"
		p50 = func(m *Measure) float64 { return m.P50Ms * 1000 }
		p99 = func(m *Measure) float64 { return m.P99Ms * 1000 }
	}
	t.row("", "p50 "+unit, get(v, p50, num), get(p, p50, num), ratio(p50), "", "")
	t.row("", "p99 "+unit, get(v, p99, num), get(p, p99, num), ratio(p99), "", "")
	if wl.PeerName != "tmpfs" {
		bench := func(m *Measure) float64 { return m.ClientCPU / m.Seconds }
		t.row("", "bench cores", get(v, bench, cores), get(p, bench, cores), "", "", "")
	}
}

func (wl *Workload) errorNotes() []string {
	var out []string
	for _, x := range []struct {
		name string
		m    *Measure
	}{{"vault", wl.Vault}, {wl.PeerName, wl.Peer}} {
		if x.m != nil && x.m.Errors > 0 {
			out = append(out, fmt.Sprintf("%s on %s: %d errors not counted in the figures (first: %s)", wl.Name, x.name, x.m.Errors, x.m.FirstError))
		}
	}
	return out
}

func (r *Report) scaleRows(t *table) {
	two := len(r.Scale) == 2
	row := func(name string, f func(s *Scale) string, ratio func(s *Scale) float64) {
		cells := []string{name}
		for _, s := range r.Scale {
			cells = append(cells, f(s))
		}
		if two {
			if ratio != nil && ratio(r.Scale[1]) != 0 {
				cells = append(cells, fmt.Sprintf("%.2f", ratio(r.Scale[0])/ratio(r.Scale[1])))
			} else {
				cells = append(cells, "-")
			}
		}
		t.row(cells...)
	}
	row("keys held", func(s *Scale) string { return fmt.Sprint(s.Keys) }, nil)
	if len(r.Preload) > 0 {
		fill := map[string]*Measure{}
		for _, p := range r.Preload {
			fill[p.System] = p.Fill
		}
		row(fmt.Sprintf("preload %d, %d clients, s", r.Config.Preload, r.Config.Clients),
			func(s *Scale) string {
				if m := fill[s.System]; m != nil {
					return fmt.Sprintf("%s (%.0f/s)", num(m.Seconds), m.OpsPerSec)
				}
				return "-"
			},
			func(s *Scale) float64 {
				if m := fill[s.System]; m != nil {
					return m.Seconds
				}
				return 0
			})
	}
	mib := func(xs []int64) string {
		var parts []string
		for _, x := range xs {
			parts = append(parts, fmt.Sprintf("%.0f", float64(x)/(1<<20)))
		}
		return strings.Join(parts, " / ")
	}
	maxOf := func(xs []int64) float64 {
		var m int64
		for _, x := range xs {
			m = max(m, x)
		}
		return float64(m)
	}
	row("RSS per member, MiB (ratio of max)", func(s *Scale) string { return mib(s.RSS) }, func(s *Scale) float64 { return maxOf(s.RSS) })
	row("on disk per member, MiB (ratio of max)", func(s *Scale) string { return mib(s.Disk) }, func(s *Scale) float64 { return maxOf(s.Disk) })
	row(fmt.Sprintf("list every key (API, median of %d), s", listRuns), func(s *Scale) string { return num(s.ListS) }, func(s *Scale) float64 { return s.ListS })
	row(fmt.Sprintf("list every secret whole (API, median of %d), s", listRuns), func(s *Scale) string {
		if s.ListWhole == 0 {
			return "-"
		}
		return num(s.ListWhole)
	}, func(s *Scale) float64 { return s.ListWhole })
	row("`vault secret ls -q`, s", func(s *Scale) string {
		if s.ListCLI == 0 {
			return "-"
		}
		return num(s.ListCLI)
	}, nil)
	restart := func(x func(s *Scale) float64) func(s *Scale) string {
		return func(s *Scale) string {
			if s.NotRestarted != "" {
				return "-"
			}
			return num(x(s))
		}
	}
	stopS := func(s *Scale) float64 { return s.StopS }
	serveS := func(s *Scale) float64 { return s.ServeS }
	row("restart: SIGTERM to exit, s", restart(stopS), stopS)
	row("restart: start to serving a read, s", restart(serveS), serveS)
	longestS := func(s *Scale) float64 {
		if s.LeaderRestart == nil {
			return 0
		}
		return s.LeaderRestart.LongestS
	}
	row("leader restart under writes: longest create, s", func(s *Scale) string {
		if s.LeaderRestart == nil {
			return "-"
		}
		return num(s.LeaderRestart.LongestS)
	}, longestS)
	row("leader restart under writes: creates failed", func(s *Scale) string {
		if s.LeaderRestart == nil {
			return "-"
		}
		return strconv.Itoa(s.LeaderRestart.Failed)
	}, nil)
	snap := func(f func(*SnapshotFigures) float64) func(s *Scale) float64 {
		return func(s *Scale) float64 {
			if s.Snapshot == nil {
				return 0
			}
			return f(s.Snapshot)
		}
	}
	show := func(f func(*SnapshotFigures) float64, format func(float64) string) func(s *Scale) string {
		return func(s *Scale) string {
			if s.Snapshot == nil {
				return "-"
			}
			return format(f(s.Snapshot))
		}
	}
	saveS := func(f *SnapshotFigures) float64 { return f.SaveS }
	size := func(f *SnapshotFigures) float64 { return float64(f.Bytes) / (1 << 20) }
	restoreS := func(f *SnapshotFigures) float64 { return f.RestoreS }
	row("snapshot save, s", show(saveS, num), snap(saveS))
	row("snapshot size, MiB", show(size, num), snap(size))
	row("snapshot restore, s (vault: to a serving node)", show(restoreS, num), snap(restoreS))
}

// num prints a measured value with three significant digits or so.
func num(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x < 1:
		return fmt.Sprintf("%.3f", x)
	case x < 10:
		return fmt.Sprintf("%.2f", x)
	case x < 100:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.0f", x)
}

func cores(x float64) string { return fmt.Sprintf("%.2f", x) }

func whole(x float64) string { return fmt.Sprintf("%.0f", x) }

// table is a text table; align has one 'l' or 'r' per column.
type table struct {
	align string
	rows  [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	widths := make([]int, len(t.align))
	for _, r := range t.rows {
		for i, c := range r {
			// The parenthesized remark under a row spills over the next
			// columns instead of widening its own.
			if i < len(widths) && !strings.HasPrefix(c, "(") {
				widths[i] = max(widths[i], len([]rune(c)))
			}
		}
	}
	for _, r := range t.rows {
		var line strings.Builder
		for i, c := range r {
			if i >= len(widths) {
				break
			}
			pad := widths[i] - len([]rune(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if t.align[i] == 'r' && pad > 0 {
				line.WriteString(strings.Repeat(" ", pad))
			}
			line.WriteString(c)
			if t.align[i] == 'l' && pad > 0 {
				line.WriteString(strings.Repeat(" ", pad))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
}

// roundsText gives vault's rate and CPU per operation over the peer's for
// each round (round i of each side, which ran one after the other), or ""
// without a peer or with one round.
func (wl *Workload) roundsText(peer string) string {
	n := min(len(wl.VaultRounds), len(wl.PeerRounds))
	if n < 2 {
		return ""
	}
	var ops, cpu []string
	for i := range n {
		v, p := wl.VaultRounds[i], wl.PeerRounds[i]
		ops = append(ops, ratioText(v.OpsPerSec, p.OpsPerSec))
		cpu = append(cpu, ratioText(v.CPUPerOpUs, p.CPUPerOpUs))
	}
	return fmt.Sprintf("vault/%s ops/s %s; CPU an op %s", peer, strings.Join(ops, " "), strings.Join(cpu, " "))
}

func ratioText(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// placementText says which member a one-member workload ran against on
// each system and what it led, before and, if it changed, after.
func (wl *Workload) placementText() string {
	var parts []string
	for _, p := range wl.Placement {
		led := "could not tell what it led"
		if p.Groups > 0 {
			what := "groups"
			if p.Groups == 1 {
				what = "group"
			}
			led = fmt.Sprintf("led %d of %d %s", p.Led, p.Groups, what)
			if p.LedAfter != p.Led {
				led += fmt.Sprintf(", %d at the end", p.LedAfter)
			}
		}
		parts = append(parts, fmt.Sprintf("%s member %d (%s)", p.System, p.Member+1, led))
	}
	return strings.Join(parts, ", ")
}
