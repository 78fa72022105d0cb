package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Command    string          `json:"command,omitempty"`
	Started    time.Time       `json:"started"`
	Machine    Machine         `json:"machine"`
	Config     ReportConfig    `json:"config"`
	FsyncFloor *Measure        `json:"fsync_floor"`
	Idle       []IdleCPU       `json:"idle_cpu"`
	Preload    []PreloadResult `json:"preload,omitempty"`
	Workloads  []*Workload     `json:"workloads"`
	Mount      *Workload       `json:"mount,omitempty"`
	Scale      []*Scale        `json:"scale"`
	Rotation   *RotationResult `json:"rotation,omitempty"` // --rotation, vault only
	Seconds    float64         `json:"seconds"`            // the whole run
}

// Machine is where the run ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	MemTotal   string `json:"mem_total"`
	FileSystem string `json:"file_system"` // of the state dirs
	Etcd       string `json:"etcd,omitempty"`
	Docker     string `json:"docker,omitempty"` // dockerd's version, with --vs swarm
}

// ReportConfig is the part of the Config a reader needs to repeat a run.
type ReportConfig struct {
	Peer        string  `json:"peer"`
	EtcdPeerTLS bool    `json:"etcd_peer_tls"`
	Duration    float64 `json:"duration_s"`
	Clients     int     `json:"clients"`
	ValueSize   int     `json:"value_size"`
	Shards      int     `json:"shards"`
	Preload     int     `json:"preload"`
	Rounds      int     `json:"rounds"`
	Managers    int     `json:"managers"`              // of each vault cluster
	Profiled    bool    `json:"profiled,omitempty"`    // perf ran during the workloads
	Audit       bool    `json:"audit,omitempty"`       // vault's managers kept audit logs
	OtherVault  string  `json:"other_vault,omitempty"` // the peer's binary (--vs vault-other)
}

// Workload is one workload measured on vault and on its peer.
type Workload struct {
	Name     string   `json:"name"`
	Clients  int      `json:"clients"`
	PeerName string   `json:"peer_name,omitempty"`
	Vault    *Measure `json:"vault,omitempty"`
	Peer     *Measure `json:"peer,omitempty"`
	// Placement is, for a workload run against one chosen member of each
	// system, which member and what it led.
	Placement []Placement `json:"placement,omitempty"`
	// VaultRounds and PeerRounds are each round's figures, in the order
	// the rounds ran: how far one round is from the next says what the
	// sum of them is worth.
	VaultRounds []RoundFigures `json:"vault_rounds,omitempty"`
	PeerRounds  []RoundFigures `json:"peer_rounds,omitempty"`
}

// RoundFigures are one round's rate and CPU per operation.
type RoundFigures struct {
	OpsPerSec  float64 `json:"ops_per_sec"`
	CPUPerOpUs float64 `json:"cpu_per_op_us"`
}

func roundFigures(ms []*Measure) []RoundFigures {
	out := make([]RoundFigures, len(ms))
	for i, m := range ms {
		out[i] = RoundFigures{OpsPerSec: m.OpsPerSec, CPUPerOpUs: m.CPUPerOpUs}
	}
	return out
}

// Placement is the member a one-member workload ran against on one system:
// how many of the groups its creates go to it led before and after (Groups
// 0: the system could not tell).
type Placement struct {
	System   string `json:"system"`
	Member   int    `json:"member"`
	Led      int    `json:"led"`
	LedAfter int    `json:"led_after"`
	Groups   int    `json:"groups"`
}

// IdleCPU is what a system's servers use with no requests: heartbeats,
// tickers, background compaction.
type IdleCPU struct {
	System string  `json:"system"`
	Cores  float64 `json:"cores"`
}

// PreloadResult is the fill of one system before the workloads.
type PreloadResult struct {
	System string   `json:"system"`
	Fill   *Measure `json:"fill"`
}

// Scale is one system's size and recovery figures after the preload and
// the workloads.
type Scale struct {
	System  string  `json:"system"`
	Keys    int     `json:"keys"`
	RSS     []int64 `json:"rss_bytes"`  // per member, VmRSS
	Disk    []int64 `json:"disk_bytes"` // per member, allocated blocks
	ListS   float64 `json:"list_s"`     // list every key through the API
	ListCLI float64 `json:"list_cli_s,omitempty"`
	// ListWhole lists every secret with its metadata (vault only).
	ListWhole float64 `json:"list_whole_s,omitempty"`
	// Restart of the last member: SIGTERM to exit, then start to serving a
	// linearizable read of a known key.
	StopS  float64 `json:"restart_stop_s"`
	ServeS float64 `json:"restart_serve_s"`
	// LeaderRestart: one client creating through another member while the
	// member leading the most groups restarts (nil with one member).
	LeaderRestart *LeaderRestart `json:"leader_restart,omitempty"`
	// Snapshot is the system's backup tool: save and restore.
	Snapshot *SnapshotFigures `json:"snapshot,omitempty"`
	// NotRestarted says why the restart was not measured (Swarm: dockerd
	// is not the bench's to stop).
	NotRestarted string `json:"not_restarted,omitempty"`
}

// Run starts the clusters, runs every workload and returns the report.
// Progress goes to log. It stops every process it started before it
// returns.
func Run(ctx context.Context, cfg Config, log io.Writer) (_ *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mount {
		if err := checkMount(ctx, cfg.Vault); err != nil {
			return nil, err
		}
	}
	if cfg.Peer == PeerSwarm {
		// Before anything starts: a dockerd already in a swarm is refused.
		if err := checkNoSwarm(ctx, cfg.DockerSocket); err != nil {
			return nil, err
		}
	}
	dir := cfg.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	root, err := os.MkdirTemp(dir, "vault-bench-")
	if err != nil {
		return nil, err
	}
	if cfg.Keep {
		fmt.Fprintf(log, "vault-bench: state dirs and logs are kept in %s\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	r := &Report{
		Started: time.Now().UTC(),
		Machine: machine(root, cfg),
		Config: ReportConfig{
			Peer: cfg.Peer, EtcdPeerTLS: cfg.Peer == PeerEtcd && !cfg.EtcdPlainPeers, Duration: cfg.Duration.Seconds(),
			Clients: cfg.Clients, ValueSize: cfg.ValueSize, Shards: cfg.Shards, Preload: cfg.Preload,
			Rounds: cfg.Rounds, Profiled: cfg.Profile != "", Audit: cfg.Audit, OtherVault: cfg.OtherVault,
			Managers: cfg.Managers,
		},
	}
	start := time.Now()
	defer func() { r.Seconds = time.Since(start).Seconds() }()
	step := func(f string, a ...any) { fmt.Fprintf(log, "vault-bench: "+f+"\n", a...) }

	// The floor first, while nothing else uses the disk.
	step("fsync floor: write %d bytes + fdatasync, %s", cfg.ValueSize, cfg.Duration)
	if r.FsyncFloor, err = fsyncFloor(ctx, root, cfg.Duration, cfg.ValueSize); err != nil {
		return nil, err
	}

	if cfg.Shards == 0 {
		step("starting %s (vault's default number of secret groups)", plural(cfg.Managers, "vault manager"))
	} else {
		step("starting %s (%d secret groups)", plural(cfg.Managers, "vault manager"), cfg.Shards)
	}
	var daemonArgs []string
	if cfg.GoProfile != "" {
		daemonArgs = append(daemonArgs, "--pprof")
	}
	vc, err := startVault(ctx, cfg.Vault, root, cfg.Managers, cfg.Shards, cfg.Audit, log, daemonArgs...)
	if err != nil {
		return nil, fmt.Errorf("vault cluster: %w", err)
	}
	r.Config.Shards = vc.shards
	defer vc.close()
	systems := []system{vc}
	if cfg.Peer == PeerEtcd {
		step("starting 3 etcd members (%s)", r.Machine.Etcd)
		ec, err := startEtcd(ctx, cfg.Etcd, root, !cfg.EtcdPlainPeers, log)
		if err != nil {
			return nil, fmt.Errorf("etcd cluster: %w", err)
		}
		defer ec.close()
		systems = append(systems, ec)
	}
	if cfg.Peer == PeerVaultMetrics {
		step("starting %d more with --metrics-addr, each scraped every second", cfg.Managers)
		mc, err := startVaultCluster(ctx, cfg.Vault, root, cfg.Managers, cfg.Shards, cfg.Audit, log, true)
		if err != nil {
			return nil, fmt.Errorf("vault cluster with metrics: %w", err)
		}
		defer mc.close()
		systems = append(systems, mc)
	}
	if cfg.Peer == PeerVaultOther {
		step("starting %d more running %s", cfg.Managers, cfg.OtherVault)
		oc, err := startVaultOther(ctx, cfg.OtherVault, root, cfg.Managers, cfg.Shards, cfg.Audit, log)
		if err != nil {
			return nil, fmt.Errorf("the other vault cluster: %w", err)
		}
		defer oc.close()
		systems = append(systems, oc)
	}
	if cfg.Peer == PeerSwarm {
		step("making dockerd (%s) the single manager of a new swarm on 127.0.0.1", cfg.DockerSocket)
		sc, err := startSwarm(ctx, cfg.DockerSocket, log)
		if err != nil {
			return nil, fmt.Errorf("docker swarm: %w", err)
		}
		defer sc.close()
		r.Machine.Docker = sc.version
		systems = append(systems, sc)
	}
	for _, s := range systems {
		for i := range cfg.Clients {
			c, err := s.client(ctx, i)
			if err != nil {
				return nil, err
			}
			if err := c.ping(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", s.name(), err)
			}
		}
	}

	idle := min(cfg.Duration, 2*time.Second)
	step("idle CPU over %s", idle)
	var stopIdle []func() error
	if cfg.Profile != "" {
		for _, s := range systems {
			stop, err := perfRecord(ctx, cfg.Profile, "0-"+s.name()+"-idle", s.servers())
			if err != nil {
				return nil, err
			}
			stopIdle = append(stopIdle, stop)
		}
	}
	r.Idle = idleCPU(ctx, systems, idle)
	for _, stop := range stopIdle {
		stop()
	}

	value := make([]byte, cfg.ValueSize)
	rand.Read(value)
	// readKeys are keys every system holds, for the read workloads.
	var readKeys []string
	if cfg.Preload > 0 {
		// In chunks that alternate between the systems, as the rounds of
		// the workloads do.
		chunks := max(1, min(10, cfg.Preload/1000))
		fills := map[system][]*Measure{}
		for c := range chunks {
			from, to := cfg.Preload*c/chunks, cfg.Preload*(c+1)/chunks
			order := systems
			if c%2 == 1 && len(systems) == 2 {
				order = []system{systems[1], systems[0]}
			}
			for _, s := range order {
				step("preload: secrets %d to %d of %d into %s, %d clients", from+1, to, cfg.Preload, s.name(), cfg.Clients)
				m := runLoad(ctx, cfg.Clients, 0, to-from, s.servers(), preloads(s, value, from))
				if m.Errors > 0 {
					return nil, fmt.Errorf("preload %s: %d creates failed; first: %s", s.name(), m.Errors, m.FirstError)
				}
				fills[s] = append(fills[s], m)
			}
		}
		for _, s := range systems {
			r.Preload = append(r.Preload, PreloadResult{System: s.name(), Fill: add(fills[s]...)})
		}
		for i := range cfg.Preload {
			readKeys = append(readKeys, keyName("pre", 0, i, true))
		}
	}

	// The workloads. Each runs in rounds, alternating the systems within a
	// round and which one goes first from one round to the next, so that
	// load from outside the bench falls on both alike.
	type phase struct {
		name    string
		clients int
		// place, for a one-client workload, is which member it runs
		// against: "follower" (the member leading the fewest of the groups
		// its creates go to) or "leader" (the most); "" is worker i on
		// member i mod the members, as every other workload.
		place string
		// newOp makes the workload's op for a system, once for all rounds.
		newOp func(s system) op
	}
	// Keys each worker of the concurrent create made, per system; each
	// worker appends to its own slice, so the hot path takes no lock.
	created := map[string][][]string{}
	// A single client's create takes two more network hops when its
	// member is a follower (the forward to the leader, the commit's way
	// back) than on the leader, so with several members the one-client
	// create runs once on each, the same on every system; a client on a
	// follower is the common case (two members in three).
	one := []phase{{"create, 1 client", 1, "", nil}}
	if cfg.Managers > 1 && !slices.ContainsFunc(systems, func(s system) bool { return len(s.servers()) < 2 }) {
		one = []phase{
			{"create, 1 client on a follower", 1, "follower", nil},
			{"create, 1 client on the leader", 1, "leader", nil},
		}
	}
	for i := range one {
		prefix := fmt.Sprintf("seq%d", i)
		one[i].newOp = func(s system) op { return creates(s.client, prefix, value, 1, nil) }
	}
	phases := append(one, []phase{
		{fmt.Sprintf("create, %d clients", cfg.Clients), cfg.Clients, "", func(s system) op {
			made := make([][]string, cfg.Clients)
			created[s.name()] = made
			return creates(s.client, "par", value, cfg.Clients, made)
		}},
		{fmt.Sprintf("linearizable read, %d clients", cfg.Clients), cfg.Clients, "", func(s system) op {
			return reads(s, readKeys, cfg.Clients, false)
		}},
		{fmt.Sprintf("stale read, %d clients", cfg.Clients), cfg.Clients, "", func(s system) op {
			return reads(s, readKeys, cfg.Clients, true)
		}},
	}...)
	slice := cfg.Duration / time.Duration(cfg.Rounds)
	for i, ph := range phases {
		if strings.HasPrefix(ph.name, "linearizable read") && len(readKeys) == 0 {
			readKeys = commonKeys(created)
			if len(readKeys) == 0 {
				return nil, errors.New("no keys to read: the concurrent create made none on some system")
			}
		}
		w := &Workload{Name: ph.name, Clients: ph.clients, PeerName: cfg.Peer}
		run := systems
		ops := map[system]op{}
		rounds := map[system][]*Measure{}
		placed := map[system]*Placement{}
		for _, s := range run {
			if ph.place == "" {
				ops[s] = ph.newOp(s)
				continue
			}
			p, err := place(ctx, s, ph.place)
			if err != nil {
				return nil, fmt.Errorf("%s: choosing the member for %q: %w", s.name(), ph.name, err)
			}
			step("%s: %s runs against member %d (leads %d of %d groups)", ph.name, s.name(), p.Member+1, p.Led, p.Groups)
			cl, err := s.memberClient(ctx, p.Member)
			if err != nil {
				return nil, err
			}
			placed[s] = p
			ops[s] = ph.newOp(onMember{s, cl})
		}
		for round := range cfg.Rounds {
			order := run
			if (i+round)%2 == 1 && len(run) == 2 {
				order = []system{run[1], run[0]}
			}
			for _, s := range order {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				step("%s: %s, round %d of %d, %s", ph.name, s.name(), round+1, cfg.Rounds, slice)
				var stopPerf func() error
				if cfg.Profile != "" {
					name := fmt.Sprintf("%d-%s-%s-r%d", i+1, s.name(), slug(ph.name), round+1)
					if stopPerf, err = perfRecord(ctx, cfg.Profile, name, s.servers()); err != nil {
						return nil, err
					}
				}
				var goProfiles func() error
				if cfg.GoProfile != "" && s == system(vc) {
					name := fmt.Sprintf("%d-%s-r%d", i+1, slug(ph.name), round+1)
					goProfiles = vc.cpuProfiles(ctx, cfg.GoProfile, name, slice)
				}
				m := runLoad(ctx, ph.clients, slice, 0, s.servers(), ops[s])
				if stopPerf != nil {
					stopPerf()
				}
				if goProfiles != nil {
					if err := goProfiles(); err != nil {
						return nil, err
					}
				}
				rounds[s] = append(rounds[s], m)
			}
		}
		for _, s := range run {
			m := add(rounds[s]...)
			if ctx.Err() != nil {
				return nil, ctx.Err() // interrupted: a round cut short is no figure
			}
			if m.Ops == 0 {
				return nil, fmt.Errorf("%s on %s: no operation succeeded; first error: %s", ph.name, s.name(), m.FirstError)
			}
			if s == system(vc) {
				w.Vault, w.VaultRounds = m, roundFigures(rounds[s])
			} else {
				w.Peer, w.PeerRounds = m, roundFigures(rounds[s])
			}
			if p := placed[s]; p != nil {
				if led, _, err := s.leads(ctx, p.Member); err == nil {
					p.LedAfter = led
				}
				w.Placement = append(w.Placement, *p)
			}
		}
		r.Workloads = append(r.Workloads, w)
	}

	if cfg.Mount {
		step("mount: open+read+close through FUSE and on tmpfs, %s each in %d rounds", cfg.Duration, cfg.Rounds)
		if r.Mount, err = runMount(ctx, vc, root, cfg.MountFileSize, cfg.Duration, cfg.Rounds); err != nil {
			return nil, err
		}
	}

	probe := readKeys[0]
	for _, s := range systems {
		step("scale: RSS, disk, list and restart of %s", s.name())
		sc, err := scale(ctx, s, cfg.Vault, probe)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name(), err)
		}
		step("snapshot: save and restore of %s", s.name())
		if sc.Snapshot, err = snapshotFigures(ctx, s, cfg.Vault, filepath.Join(root, "snapshot-"+s.name())); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name(), err)
		}
		r.Scale = append(r.Scale, sc)
	}

	if cfg.Rotation {
		// Last, so the figures above are those of a run without it.
		mount := cfg.Mount || os.Getuid() == 0 && fileExists("/dev/fuse") && checkMount(ctx, cfg.Vault) == nil
		if r.Rotation, err = runRotation(ctx, vc, cfg, root, value, readKeys, mount, log); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// plural is "1 vault manager" or "3 vault managers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// slug turns a workload's name into a file name.
func slug(s string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, strings.ReplaceAll(s, ", ", "-")), "-")
}

// keyName is the name of a bench key: the workload's prefix, the worker and
// its sequence number (or, for the preload, the global sequence number).
// Every name is a valid vault secret name.
func keyName(prefix string, w, seq int, global bool) string {
	if global {
		return fmt.Sprintf("%s-%08d", prefix, seq)
	}
	return fmt.Sprintf("%s-%03d-%07d", prefix, w, seq)
}

// place chooses the member a one-client workload runs against on s: the
// one leading the fewest groups ("follower") or the most ("leader"), the
// first such member when several tie.
func place(ctx context.Context, s system, role string) (*Placement, error) {
	var best *Placement
	for i := range s.servers() {
		led, groups, err := s.leads(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
		p := &Placement{System: s.name(), Member: i, Led: led, LedAfter: led, Groups: groups}
		if best == nil || role == "follower" && led < best.Led || role == "leader" && led > best.Led {
			best = p
		}
	}
	return best, nil
}

// onMember is a system whose every worker uses one client.
type onMember struct {
	system
	cl client
}

func (s onMember) client(context.Context, int) (client, error) { return s.cl, nil }

// creates returns an op creating the workload's keys through clientOf:
// worker w's n-th create makes keyName(prefix, w, n), counting across
// rounds. When made is given, each worker appends the keys it made to
// made[w].
func creates(clientOf func(context.Context, int) (client, error), prefix string, value []byte, workers int, made [][]string) op {
	next := make([]int, workers) // worker w touches only next[w]
	return func(ctx context.Context, w, _ int) error {
		c, err := clientOf(ctx, w)
		if err != nil {
			return err
		}
		k := keyName(prefix, w, next[w], false)
		next[w]++
		if err := c.create(ctx, k, value); err != nil {
			return err
		}
		if made != nil {
			made[w] = append(made[w], k)
		}
		return nil
	}
}

// preloads returns an op creating the preload's keys on s. A create that
// fails is retried, and one that finds its key already there succeeded on
// an earlier attempt that timed out: the preload is a means, not a figure.
func preloads(s system, value []byte, from int) op {
	return func(ctx context.Context, w, seq int) error {
		c, err := s.client(ctx, w)
		if err != nil {
			return err
		}
		for range 5 {
			if err = c.create(ctx, keyName("pre", 0, from+seq, true), value); err == nil || errors.Is(err, errExists) {
				return nil
			}
			if ctx.Err() != nil {
				return err
			}
		}
		return err
	}
}

// reads returns an op reading random keys on s, for workers workers. The
// keys each worker picks are the same on every system.
func reads(s system, keys []string, workers int, stale bool) op {
	rngs := make([]*mrand.Rand, workers)
	for w := range rngs {
		rngs[w] = mrand.New(mrand.NewPCG(uint64(w), 0x5eed))
	}
	return func(ctx context.Context, w, seq int) error {
		c, err := s.client(ctx, w)
		if err != nil {
			return err
		}
		k := keys[rngs[w].IntN(len(keys))]
		if stale {
			return c.staleRead(ctx, k)
		}
		return c.read(ctx, k)
	}
}

// commonKeys are the keys every system created, sorted, so that the same
// draw reads the same key on every system.
func commonKeys(created map[string][][]string) []string {
	count := map[string]int{}
	for _, perWorker := range created {
		for _, ks := range perWorker {
			for _, k := range ks {
				count[k]++
			}
		}
	}
	var out []string
	for k, n := range count {
		if n == len(created) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func idleCPU(ctx context.Context, systems []system, d time.Duration) []IdleCPU {
	var before []time.Duration
	for _, s := range systems {
		before = append(before, cpuOf(s.servers()))
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	el := time.Since(t0)
	var out []IdleCPU
	for i, s := range systems {
		out = append(out, IdleCPU{System: s.name(), Cores: (cpuOf(s.servers()) - before[i]).Seconds() / el.Seconds()})
	}
	return out
}

// quietCores is the servers' summed CPU, in cores, below which waitQuiet
// counts them idle: a cluster at rest spends about a hundredth of a core on
// heartbeats and tickers, a compaction or flush in the background a half or
// more.
const quietCores = 0.1

// waitQuiet waits until s's servers have used less than quietCores of CPU
// (idleCPU) over each of two consecutive seconds, or until limit: work left
// in the background by what ran before (compactions after a restart, a
// restore or a rotation's load) would otherwise be counted against the next
// workload. It returns how long it waited and the servers' cores over its
// last second; quiet is false when limit passed first.
func waitQuiet(ctx context.Context, s system, limit time.Duration) (took time.Duration, cores float64, quiet bool) {
	t0 := time.Now()
	for calm := 0; ctx.Err() == nil && time.Since(t0) < limit; {
		cores = idleCPU(ctx, []system{s}, time.Second)[0].Cores
		if cores >= quietCores {
			calm = 0
		} else if calm++; calm == 2 {
			return time.Since(t0), cores, true
		}
	}
	return time.Since(t0), cores, false
}

// listRuns is how many times scale lists every key: one list on a
// machine shared with other work is noise-bound, so the median of a few
// is reported.
const listRuns = 3

// medianList runs list listRuns times and returns the count of the first
// and the median time in seconds.
func medianList(ctx context.Context, list func(context.Context) (int, error)) (int, float64, error) {
	var n int
	var took []time.Duration
	for i := range listRuns {
		t0 := time.Now()
		got, err := list(ctx)
		if err != nil {
			return 0, 0, err
		}
		took = append(took, time.Since(t0))
		if i == 0 {
			n = got
		}
	}
	slices.Sort(took)
	return n, took[len(took)/2].Seconds(), nil
}

// scale measures a system's size after the run, then restarts its last
// member.
func scale(ctx context.Context, s system, vaultBin, probe string) (*Scale, error) {
	sc := &Scale{System: s.name()}
	for i, p := range s.servers() {
		r, err := rss(p.pid())
		if err != nil {
			return nil, err
		}
		d, err := diskUsage(s.stateDirs()[i])
		if err != nil {
			return nil, err
		}
		sc.RSS, sc.Disk = append(sc.RSS, r), append(sc.Disk, d)
	}
	n, listS, err := medianList(ctx, s.list)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	sc.Keys, sc.ListS = n, listS
	if vc, ok := s.(*vaultCluster); ok {
		if _, sc.ListWhole, err = medianList(ctx, vc.listWhole); err != nil {
			return nil, fmt.Errorf("list whole secrets: %w", err)
		}
		cmd := exec.CommandContext(ctx, vaultBin, "--socket", vc.members[0].socket, "secret", "ls", "-q")
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("vault secret ls: %w: %s", err, lastLine(out))
		}
		sc.ListCLI = time.Since(t0).Seconds()
	}
	// The last member: with one manager, the whole cluster.
	stop, serve, err := s.restart(ctx, len(s.servers())-1, probe)
	if errors.Is(err, errNoRestart) {
		sc.NotRestarted = err.Error()
		return sc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	sc.StopS, sc.ServeS = stop.Seconds(), serve.Seconds()
	if len(s.servers()) > 1 {
		if sc.LeaderRestart, err = leaderRestart(ctx, s, probe); err != nil {
			return nil, fmt.Errorf("restart of the leader under writes: %w", err)
		}
	}
	return sc, nil
}

// LeaderRestart is what one client creating through a follower saw while
// the leader restarted: the longest create (a failed one counts until it
// failed) and the creates that failed.
type LeaderRestart struct {
	Member   int     `json:"member"` // the member restarted
	Writer   int     `json:"writer"`
	Creates  int     `json:"creates"`
	Failed   int     `json:"failed"`
	LongestS float64 `json:"longest_s"`
}

// leaderRestart creates through another member, one create at a time,
// for a second, while the member leading the most groups is stopped with
// SIGTERM and started again, and for a second after it serves.
func leaderRestart(ctx context.Context, s system, probe string) (*LeaderRestart, error) {
	p, err := place(ctx, s, "leader")
	if err != nil {
		return nil, err
	}
	lr := &LeaderRestart{Member: p.Member, Writer: (p.Member + 1) % len(s.servers())}
	cl, err := s.memberClient(ctx, lr.Writer)
	if err != nil {
		return nil, err
	}
	value := make([]byte, 1024)
	stop := make(chan struct{})
	done := make(chan struct{})
	var longest time.Duration
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			t0 := time.Now()
			err := cl.create(cctx, keyName("leader-restart", 0, i, true), value)
			cancel()
			longest = max(longest, time.Since(t0))
			lr.Creates++
			if err != nil {
				lr.Failed++
			}
		}
	}()
	time.Sleep(time.Second)
	_, _, rerr := s.restart(ctx, p.Member, probe)
	time.Sleep(time.Second)
	close(stop)
	<-done
	lr.LongestS = longest.Seconds()
	return lr, rerr
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// machine describes this machine.
func machine(root string, cfg Config) Machine {
	m := Machine{CPUs: runtime.NumCPU(), FileSystem: fileSystem(root)}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		m.Kernel = string(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb float64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if cfg.Peer == PeerEtcd {
		if out, err := exec.Command(cfg.Etcd, "--version").Output(); err == nil {
			m.Etcd = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	return m
}
