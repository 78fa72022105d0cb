package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vaultd/vault/api"
)

// The rotation workload (Config.Rotation, --rotation): on vault only, the
// concurrent create load runs for Duration alone, then again while a full
// rotation runs exactly as an operator starts it, `vault key rotate --full`
// against the first manager's socket, until that command exits. The figure
// is the rotation's wall time and what the creates kept of their rate.
//
// It is kept honest three ways: the command must succeed (its last step
// checks that nothing on any manager is sealed under an older key), `vault
// key status` is read afterwards and what it counts under older keys is
// reported, and a sample of the secrets created during the rotation and of
// the preloaded ones it re-sealed is inspected afterwards (and, where FUSE
// is available, read back through a mount and compared byte for byte).

// RotationResult is the rotation workload's outcome.
type RotationResult struct {
	System string `json:"system"`
	// Before is the create load alone, in rotationBaseline windows of
	// Duration one after the other (BeforeOpsPerSec has each window's
	// rate); During is the same load while the rotation ran; After is the
	// load alone again, for Duration, once the command exited. A single
	// window before, right after the scale figures' restart, moved by a
	// sixth from run to run; the rotation itself lasts several windows, so
	// its baseline does too.
	Before          *Measure  `json:"creates_before"`
	BeforeOpsPerSec []float64 `json:"creates_before_windows"`
	During          *Measure  `json:"creates_during"`
	After           *Measure  `json:"creates_after,omitempty"`
	// QuietBeforeS and QuietAfterS are how long the managers took to go
	// idle (waitQuiet) before Before and before After; -1 when they were
	// still busy at rotationQuiet and the window ran anyway.
	QuietBeforeS float64 `json:"quiet_before_s"`
	QuietAfterS  float64 `json:"quiet_after_s"`
	// KeptPct is During's ops/s as a percentage of Before's.
	KeptPct float64 `json:"kept_pct"`
	// RotationS is `vault key rotate --full` from start to exit;
	// CompactS the part of it from the command's first "Compacting" line
	// (the re-sealing is done; every manager's compaction and the final
	// check remain).
	RotationS float64 `json:"rotation_s"`
	CompactS  float64 `json:"compact_s,omitempty"`
	// ResealOpsPerSec and CompactOpsPerSec split During's creates at the
	// command's first "Compacting" line.
	ResealOpsPerSec  float64 `json:"reseal_ops_per_s,omitempty"`
	CompactOpsPerSec float64 `json:"compact_ops_per_s,omitempty"`
	// Secrets is how many secrets the cluster held when the rotation
	// began (listed right before it).
	Secrets int `json:"secrets"`
	// Version is the data key rotated to; Resealed the secret copies the
	// command re-sealed, over all its passes: each manager re-seals its own
	// copy of every secret, and the count is summed over the managers.
	Version  uint32 `json:"version"`
	Resealed int    `json:"resealed"`
	Passes   int    `json:"passes"`
	// Retries counts runs of the command cut short (a timeout it says to
	// retry) and run again, as an operator would.
	Retries int `json:"retries,omitempty"`
	// OldValues, OldLogEntries and OldSnapshots are what `vault key status`
	// counts under every older key after the rotation (all 0 when it is
	// complete); InProgress is a rotation it still reports as running.
	OldValues     int    `json:"old_values"`
	OldLogEntries int    `json:"old_log_entries"`
	OldSnapshots  int    `json:"old_snapshots"`
	InProgress    uint32 `json:"in_progress,omitempty"`
	// Failed is the command's error when it did not complete, after its
	// re-runs ("": it completed).
	Failed string `json:"failed,omitempty"`
	// Checked secrets were inspected after the rotation (version 1, the
	// right size), Read of them were read through a FUSE mount and
	// compared with the data written; Bad lists the ones that failed.
	Checked int      `json:"checked"`
	Read    int      `json:"read"`
	Bad     []string `json:"bad,omitempty"`
}

// rotationSample is how many secrets of each kind (created during the
// rotation, preloaded) are inspected afterwards, and rotationReads how many
// of each are read through a mount.
const (
	rotationSample = 250
	rotationReads  = 4
	// rotationRetries is how many times a failed `vault key rotate --full`
	// that says to run it again is run again.
	rotationRetries = 3
)

var resealedRE = regexp.MustCompile(`re-sealed (\d+)/(\d+)`)

// runRotation runs the rotation workload on vc. preloaded are keys that
// existed before it, value the data of every bench key; mount says FUSE
// reads can check the data.
func runRotation(ctx context.Context, vc *vaultCluster, cfg Config, root string, value []byte, preloaded []string, mount bool, log io.Writer) (*RotationResult, error) {
	step := func(f string, a ...any) { fmt.Fprintf(log, "vault-bench: "+f+"\n", a...) }
	// After the scale figures' restart, every manager serving again.
	if err := vc.waitBalanced(ctx, vc.shards+1, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("rotation: %w", err)
	}
	res := &RotationResult{System: vc.name()}
	res.QuietBeforeS = settle(ctx, vc, step, "before it")
	var windows []*Measure
	for i := range rotationBaseline {
		step("rotation: %s, %d clients creating, no rotation (window %d of %d)", cfg.Duration, cfg.Clients, i+1, rotationBaseline)
		m := runLoad(ctx, cfg.Clients, cfg.Duration, 0, vc.servers(), creates(vc.client, fmt.Sprintf("rot-before%d", i), value, cfg.Clients, nil))
		step("rotation: window %d: %.0f creates/s, %.0f µs of the managers' CPU a create", i+1, m.OpsPerSec, m.CPUPerOpUs)
		windows = append(windows, m)
		res.BeforeOpsPerSec = append(res.BeforeOpsPerSec, m.OpsPerSec)
	}
	res.Before = add(windows...)
	if res.Before.Ops == 0 {
		return nil, fmt.Errorf("rotation: no create succeeded before the rotation; first error: %s", res.Before.FirstError)
	}

	n, err := vc.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("rotation: listing the secrets before it: %w", err)
	}
	res.Secrets = n
	step("rotation: `vault key rotate --full` of %d secrets on %s while %d clients create", n, vc.members[0].p.name, cfg.Clients)
	made := make([][]string, cfg.Clients)
	done := make(chan struct{})
	var out []byte
	var cmdErr error
	t0 := time.Now()
	var outs [][]byte
	var created, atCompact atomic.Int64 // creates done, and done when the compaction began
	go func() {
		defer close(done)
		// As an operator would: a run cut short by a timeout is run again,
		// and continues where it stopped.
		for attempt := 0; attempt <= rotationRetries; attempt++ {
			var o []byte
			o, cmdErr = runWatching(exec.CommandContext(ctx, vc.bin, "--socket", vc.members[0].socket, "key", "rotate", "--full"), "Compacting", func() {
				if res.CompactS == 0 {
					res.CompactS = -time.Since(t0).Seconds() // made the part after it once the command exits
					atCompact.Store(created.Load())
				}
			})
			outs = append(outs, o)
			if cmdErr == nil || ctx.Err() != nil || !bytes.Contains(o, []byte("again")) && !bytes.Contains(o, []byte("retry")) {
				break
			}
			res.Retries++
			// An election or a member catching up: give it a moment.
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
		out = bytes.Join(outs, []byte("\n"))
		res.RotationS = time.Since(t0).Seconds()
		if res.CompactS < 0 {
			res.CompactS += res.RotationS
		}
	}()
	var stopPerf func() error
	if cfg.Profile != "" {
		// The rotation's own profile: the managers while it runs beside
		// the creates (the command's CPU is the CLI's, not recorded).
		var err error
		if stopPerf, err = perfRecord(ctx, cfg.Profile, "rotation-"+vc.name(), vc.servers()); err != nil {
			return nil, err
		}
	}
	create := creates(vc.client, "rot-during", value, cfg.Clients, made)
	res.During = runLoadUntil(ctx, cfg.Clients, 0, 0, done, vc.servers(), func(ctx context.Context, w, seq int) error {
		err := create(ctx, w, seq)
		if err == nil {
			created.Add(1)
		}
		return err
	})
	<-done
	if res.CompactS > 0 && res.RotationS > res.CompactS {
		res.ResealOpsPerSec = float64(atCompact.Load()) / (res.RotationS - res.CompactS)
		res.CompactOpsPerSec = float64(created.Load()-atCompact.Load()) / res.CompactS
	}
	if stopPerf != nil {
		stopPerf()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		step("rotation: | %s", line)
	}
	if cmdErr != nil {
		// Reported, not fatal: the run's other figures stand, and what
		// key status says below shows how far it got.
		res.Failed = fmt.Sprintf("vault key rotate --full: %v: %s", cmdErr, lastLine(out))
	}
	if res.During.OpsPerSec > 0 {
		res.KeptPct = 100 * res.During.OpsPerSec / res.Before.OpsPerSec
	}
	res.QuietAfterS = settle(ctx, vc, step, "after it")
	step("rotation: %s, %d clients creating, after it", cfg.Duration, cfg.Clients)
	res.After = runLoad(ctx, cfg.Clients, cfg.Duration, 0, vc.servers(), creates(vc.client, "rot-after", value, cfg.Clients, nil))
	for _, o := range outs {
		v, n, p := parseRotation(string(o))
		res.Version = max(res.Version, v)
		res.Resealed += n
		res.Passes += p
	}

	cl := api.NewClient(vc.members[0].socket)
	ks, err := cl.KeyStatus(ctx)
	if err != nil {
		res.Failed = strings.TrimPrefix(res.Failed+"; ", "; ") + "vault key status afterwards: " + err.Error()
		ks = &api.KeyStatus{}
	}
	res.InProgress = ks.Rotation
	for _, d := range ks.DEKs {
		if d.State == "active" {
			if res.Version == 0 {
				res.Version = d.Version
			}
			continue
		}
		res.OldValues += d.Values
		res.OldLogEntries += d.LogEntries
		res.OldSnapshots += d.Snapshots
	}

	during := slices.Concat(made...)
	slices.Sort(during)
	sample := append(spread(during, rotationSample), spread(preloaded, rotationSample)...)
	step("rotation: inspecting %d secrets created during it or re-sealed by it", len(sample))
	for _, k := range sample {
		s, err := cl.Secret(ctx, k)
		switch {
		case err != nil:
			res.Bad = append(res.Bad, fmt.Sprintf("%s: %v", k, err))
		case s.Version != 1 || s.Size != len(value):
			res.Bad = append(res.Bad, fmt.Sprintf("%s: version %d of %d bytes, want version 1 of %d", k, s.Version, s.Size, len(value)))
		}
		res.Checked++
	}
	if mount {
		reads := append(spread(during, rotationReads), spread(preloaded, rotationReads)...)
		n, bad, err := readThroughMount(ctx, vc, filepath.Join(root, "rotation-mnt"), reads, value)
		if err != nil {
			bad = append(bad, "reading through a mount: "+err.Error())
		}
		res.Read, res.Bad = n, append(res.Bad, bad...)
	}
	return res, nil
}

// rotationBaseline is how many windows of Duration the creates alone run
// before the rotation, one after the other; Before adds them up.
const rotationBaseline = 3

// rotationQuiet is how long the rotation workload waits for the managers
// to go idle before each window of creates alone.
const rotationQuiet = 90 * time.Second

// settle waits for vc's managers to go idle before a window of creates
// alone, logs how long that took, and returns it in seconds (-1: they did
// not go idle within rotationQuiet).
func settle(ctx context.Context, vc *vaultCluster, step func(string, ...any), when string) float64 {
	took, cores, quiet := waitQuiet(ctx, vc, rotationQuiet)
	if !quiet {
		step("rotation: the managers still used %.2f cores after %s, %s; measuring anyway", cores, took.Round(time.Second), when)
		return -1
	}
	step("rotation: the managers went idle in %s, %s", took.Round(time.Second), when)
	return took.Seconds()
}

// parseRotation reads `vault key rotate --full`'s output: the data key it
// rotated to, the secrets re-sealed over all passes, and the passes.
func parseRotation(out string) (version uint32, resealed, passes int) {
	if m := regexp.MustCompile(`(?:to data key v|Data key v)(\d+)`).FindStringSubmatch(out); m != nil {
		v, _ := strconv.ParseUint(m[1], 10, 32)
		version = uint32(v)
	}
	// Each pass counts from 0 and prints its last count when nothing is
	// left; "another pass" starts the next.
	for _, pass := range strings.Split(out, "another pass") {
		ms := resealedRE.FindAllStringSubmatch(pass, -1)
		if len(ms) == 0 {
			continue
		}
		n, _ := strconv.Atoi(ms[len(ms)-1][1])
		resealed += n
		passes++
	}
	return version, resealed, passes
}

// spread picks up to n keys spread evenly over keys.
func spread(keys []string, n int) []string {
	if len(keys) <= n {
		return slices.Clone(keys)
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, keys[i*len(keys)/n])
	}
	return out
}

// readThroughMount mounts keys from the first manager at mp and compares
// each file with want. It returns how many it read and the ones that
// differ or could not be read.
func readThroughMount(ctx context.Context, vc *vaultCluster, mp string, keys []string, want []byte) (n int, bad []string, err error) {
	if len(keys) == 0 {
		return 0, nil, nil
	}
	if err := os.MkdirAll(mp, 0o755); err != nil {
		return 0, nil, err
	}
	vault := func(args ...string) error {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, vc.bin, append([]string{"--socket", vc.members[0].socket}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("vault %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	args := []string{"mount"}
	for _, k := range keys {
		args = append(args, "--secret", k)
	}
	if err := vault(append(args, mp)...); err != nil {
		return 0, nil, err
	}
	defer func() {
		if uerr := vault("unmount", mp); uerr != nil {
			syscall.Unmount(mp, syscall.MNT_DETACH)
			err = errors.Join(err, uerr)
		}
	}()
	for _, k := range keys {
		var got []byte
		perr := poll(ctx, 30*time.Second, "the mounted secret "+k, func(context.Context) error {
			var err error
			got, err = os.ReadFile(filepath.Join(mp, k))
			return err
		})
		n++
		switch {
		case perr != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", k, perr))
		case !bytes.Equal(got, want):
			bad = append(bad, fmt.Sprintf("%s: the mounted file does not hold the data written", k))
		}
	}
	return n, bad, nil
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// writeRotation writes the rotation table: vault's figures, and "-" for a
// peer, which has no such operation.
func (r *Report) writeRotation(b *strings.Builder) []string {
	rot := r.Rotation
	if rot == nil {
		return nil
	}
	peer := r.Config.Peer
	t := table{align: "lrr"}
	hdr := []string{fmt.Sprintf("full rotation (`vault key rotate --full`, %d clients creating)", r.Config.Clients), rot.System}
	if peer != PeerNone {
		hdr = append(hdr, peer)
	}
	t.row(hdr...)
	row := func(name, v string) {
		cells := []string{name, v}
		if peer != PeerNone {
			cells = append(cells, "-")
		}
		t.row(cells...)
	}
	row("rotation wall time, s", num(rot.RotationS))
	row("… of it from the compaction on, s", num(rot.CompactS))
	row("secrets when it began", fmt.Sprint(rot.Secrets))
	row("copies re-sealed (each manager its own)", fmt.Sprintf("%d (passes: %d, command re-run: %d)", rot.Resealed, rot.Passes, rot.Retries))
	row("create ops/s before (alone)", whole(rot.Before.OpsPerSec))
	if len(rot.BeforeOpsPerSec) > 1 {
		w := make([]string, len(rot.BeforeOpsPerSec))
		for i, v := range rot.BeforeOpsPerSec {
			w[i] = whole(v)
		}
		row("… in each window before", strings.Join(w, " / "))
	}
	row("create ops/s during", whole(rot.During.OpsPerSec))
	if rot.After != nil {
		row("create ops/s after (alone)", whole(rot.After.OpsPerSec))
	}
	row("… while re-sealing / while compacting", whole(rot.ResealOpsPerSec)+" / "+whole(rot.CompactOpsPerSec))
	row("during / before, %", fmt.Sprintf("%.0f", rot.KeptPct))
	row("create p50 ms before / during", num(rot.Before.P50Ms)+" / "+num(rot.During.P50Ms))
	row("create p99 ms before / during", num(rot.Before.P99Ms)+" / "+num(rot.During.P99Ms))
	row("server cores before / during", fmt.Sprintf("%.2f / %.2f", rot.Before.ServerCores, rot.During.ServerCores))
	row("under older keys after: values / log entries / snapshots", fmt.Sprintf("%d / %d / %d", rot.OldValues, rot.OldLogEntries, rot.OldSnapshots))
	row("checked after: inspected / read through FUSE / bad", fmt.Sprintf("%d / %d / %d", rot.Checked, rot.Read, len(rot.Bad)))
	fmt.Fprintln(b)
	t.write(b)

	var notes []string
	if rot.Failed != "" {
		notes = append(notes, "rotation: FAILED: "+rot.Failed)
	}
	if rot.InProgress != 0 {
		notes = append(notes, fmt.Sprintf("rotation: key status still reports a full rotation to v%d in progress", rot.InProgress))
	}
	if rot.OldValues+rot.OldLogEntries+rot.OldSnapshots > 0 {
		notes = append(notes, "rotation: NOT complete: something is still sealed under an older key")
	}
	for i, bad := range rot.Bad {
		if i == 5 {
			notes = append(notes, fmt.Sprintf("rotation: and %d more bad secrets", len(rot.Bad)-5))
			break
		}
		notes = append(notes, "rotation: bad secret "+bad)
	}
	for _, x := range []struct {
		name string
		m    *Measure
	}{{"before", rot.Before}, {"during", rot.During}, {"after", rot.After}} {
		if x.m != nil && x.m.Errors > 0 {
			notes = append(notes, fmt.Sprintf("rotation: creates %s it: %d errors not counted in the figures (first: %s)", x.name, x.m.Errors, x.m.FirstError))
		}
	}
	return notes
}

// runWatching runs cmd and returns its combined output, as CombinedOutput
// does, calling seen when the output first holds marker.
func runWatching(cmd *exec.Cmd, marker string, seen func()) ([]byte, error) {
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var out []byte
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		found := false
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if !found && bytes.Contains(out, []byte(marker)) {
				found = true
				seen()
			}
			if err != nil {
				return
			}
		}
	}()
	err := cmd.Wait()
	w.Close()
	<-read
	return out, err
}
