//go:build measure

package vault

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/raftsm"
)

// TestMeasureWorkerScale serves VAULT_WORKERS (default 200) workers from
// one manager, each with its own worker certificate and a real mutual-TLS
// stream. The manager runs in this process; the workers run in a child
// process (this test binary again, TestMeasureWorkerScaleChild), so that
// the CPU of each side is measured apart. It prints: the time for an
// update to reach every worker (p50/p99 over the workers, over
// VAULT_WORKER_UPDATES updates), the manager's CPU and heap per connected
// idle worker, the workers' CPU, and the time for every worker to stream
// again after a manager restart.
//
//	go test -tags measure -run 'TestMeasureWorkerScale$' -v ./vault
func TestMeasureWorkerScale(t *testing.T) {
	n := envInt("VAULT_WORKERS", 200)
	updates := envInt("VAULT_WORKER_UPDATES", 10)
	m, mc := startSingleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := mc.CreateSecret(ctx, api.CreateSecretRequest{Name: "fanout", Data: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.GrantSecret(ctx, "fanout", api.GrantRequest{Label: "scale=yes"}); err != nil {
		t.Fatal(err)
	}
	idle := cpuOver(5 * time.Second)
	heap0 := heapInUse()

	// Admit the workers here and write their state dirs; the child starts
	// them from those.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	root := t.TempDir()
	for i := range n {
		keyPEM, csr, err := ca.NewNodeKey("w")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := m.admitWorker(ctx, &joinRequest{CSR: csr}, "127.0.0.1:1", "")
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		wn := &Node{cfg: Config{StateDir: dir}, log: quiet, mounts: map[string]*mount{}}
		if _, err := wn.startWorkerJoined(resp, keyPEM); err != nil {
			t.Fatal(err)
		}
		wn.closeWorker()
	}
	_, err := m.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		for _, w := range rec.Workers {
			rec.SetLabels(w.NodeID, map[string]string{"scale": "yes"}, nil)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	child := exec.Command(os.Args[0], "-test.run=^TestMeasureWorkerScaleChild$", "-test.timeout=20m")
	child.Env = append(os.Environ(), "VAULT_WORKER_CHILD_DIR="+root, "VAULT_WORKERS="+strconv.Itoa(n))
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); child.Wait() })
	lines := bufio.NewScanner(stdout)
	expect := func(prefix string) []string {
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) > 0 && f[0] == prefix {
				return f
			}
		}
		t.Fatalf("the workers' process ended before %s: %v", prefix, lines.Err())
		return nil
	}
	expect("READY")
	t.Logf("%d workers started in a child process and received their grant in %v", n, time.Since(start).Round(time.Millisecond))

	var all, last, acks []time.Duration
	for u := range updates {
		want := u + 2
		fmt.Fprintf(stdin, "watch %d\n", want)
		expect("WATCHING")
		t0 := time.Now()
		if _, err := mc.UpdateSecret(ctx, "fanout", []byte(fmt.Sprintf("v%d", want))); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, time.Since(t0))
		var got []time.Duration
		for {
			f := expect("T")
			if len(f) == 2 && f[1] == "done" {
				break
			}
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			got = append(got, time.Unix(0, ns).Sub(t0))
		}
		if len(got) != n {
			t.Fatalf("update %d reached %d of %d workers", u, len(got), n)
		}
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		all = append(all, got...)
		last = append(last, got[len(got)-1])
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	sort.Slice(last, func(i, j int) bool { return last[i] < last[j] })
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	pct := func(d []time.Duration, p float64) time.Duration { return d[int(p*float64(len(d)-1))] }

	time.Sleep(2 * time.Second) // let the last fan-out settle
	c0 := procCPU(child.Process.Pid)
	w0 := time.Now()
	if p := os.Getenv("VAULT_WORKER_CPUPROFILE"); p != "" {
		// The manager's profile over the idle window only.
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
	}
	busy := cpuOver(10 * time.Second)
	pprof.StopCPUProfile()
	workersCPU := float64(procCPU(child.Process.Pid)-c0) / float64(time.Since(w0))
	heap1 := heapInUse()
	if s := m.workerStreams(); s != n {
		t.Fatalf("the manager serves %d worker streams, want %d", s, n)
	}
	fmt.Printf("workers: %d (in a child process), updates: %d\n", n, updates)
	fmt.Printf("update to a worker: p50 %v, p99 %v; to every worker (last one): p50 %v, max %v\n",
		pct(all, 0.5).Round(time.Microsecond), pct(all, 0.99).Round(time.Microsecond), pct(last, 0.5).Round(time.Microsecond), last[len(last)-1].Round(time.Microsecond))
	fmt.Printf("(of which the update command itself, until acknowledged: p50 %v, max %v)\n", pct(acks, 0.5).Round(time.Microsecond), acks[len(acks)-1].Round(time.Microsecond))
	fmt.Printf("manager CPU, idle: %.4f cores without workers, %.4f cores with %d connected idle workers: %.6f cores per idle worker\n",
		idle, busy, n, (busy-idle)/float64(n))
	fmt.Printf("manager heap: %.1f MiB before the workers, %.1f MiB with them: %.1f KiB per connected worker\n",
		float64(heap0)/(1<<20), float64(heap1)/(1<<20), (float64(heap1)-float64(heap0))/1024/float64(n))
	fmt.Printf("workers' CPU, idle (the child process, %d workers): %.4f cores\n", n, workersCPU)

	// Restart the manager: every worker reconnects and gets the set again.
	cfg := m.cfg
	t0 := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Close() })
	up := time.Since(t0)
	pollUntil(t, 2*time.Minute, "every worker streaming again", func() bool { return m2.workerStreams() == n })
	fmt.Printf("manager restart: serving again after %v; every worker streaming again %v after the restart began\n",
		up.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// TestMeasureWorkerScaleChild is the workers' side of
// TestMeasureWorkerScale, run by it in a child process (it does nothing
// otherwise). It starts a worker from each state dir under
// VAULT_WORKER_CHILD_DIR, says READY when every one holds its grant, and
// for each "watch V" line on stdin prints "T i UNIXNANO" as worker i
// receives version V, then "T done".
func TestMeasureWorkerScaleChild(t *testing.T) {
	root := os.Getenv("VAULT_WORKER_CHILD_DIR")
	if root == "" {
		return // run only as TestMeasureWorkerScale's child
	}
	n := envInt("VAULT_WORKERS", 200)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var workers []*workerPhase
	for i := range n {
		wn := &Node{cfg: Config{StateDir: filepath.Join(root, strconv.Itoa(i))}, log: quiet, mounts: map[string]*mount{}}
		if err := wn.startWorker(); err != nil {
			t.Fatal(err)
		}
		defer wn.closeWorker()
		workers = append(workers, wn.worker())
	}
	version := func(w *workerPhase) int {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, h := range w.held {
			return int(h.version)
		}
		return 0
	}
	pollUntil(t, 2*time.Minute, "every worker holds the secret", func() bool {
		for _, w := range workers {
			if version(w) < 1 {
				return false
			}
		}
		return true
	})
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "READY")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var want int
		if _, err := fmt.Sscanf(in.Text(), "watch %d", &want); err != nil {
			continue
		}
		fmt.Fprintln(out, "WATCHING")
		out.Flush()
		seen := make([]bool, len(workers))
		left := len(workers)
		deadline := time.Now().Add(30 * time.Second)
		for left > 0 && time.Now().Before(deadline) {
			for i, w := range workers {
				if !seen[i] && version(w) >= want {
					seen[i] = true
					left--
					fmt.Fprintf(out, "T %d %d\n", i, time.Now().UnixNano())
				}
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Fprintln(out, "T done")
		out.Flush()
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cpuOver returns the cores this process used over d.
func cpuOver(d time.Duration) float64 {
	used := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, t0 := used(), time.Now()
	time.Sleep(d)
	return float64(used()-c0) / float64(time.Since(t0))
}

// procCPU is the CPU time a process used so far (utime + stime of
// /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
