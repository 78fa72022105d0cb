//go:build measure

package vault

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/raftsm"
)

// TestMeasureWorkerScale serves VAULT_WORKERS (default 200) in-process
// workers from one manager, each with its own worker certificate and a
// real mutual-TLS stream, and prints: the time for an update to reach
// every worker (p50/p99 over the workers, over VAULT_WORKER_UPDATES
// updates), and the CPU the process spends per idle worker (manager and
// workers both: an upper bound for the manager's share).
//
//	go test -tags measure -run TestMeasureWorkerScale -v ./vault
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

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var workers []*workerPhase
	start := time.Now()
	for i := range n {
		keyPEM, csr, err := ca.NewNodeKey("w")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := m.admitWorker(ctx, &joinRequest{CSR: csr}, "127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), strconv.Itoa(i))
		wn := &Node{cfg: Config{StateDir: dir}, log: quiet, mounts: map[string]*mount{}}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := wn.startWorkerJoined(resp, keyPEM); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(wn.closeWorker)
		workers = append(workers, wn.worker())
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
	version := func(w *workerPhase) uint32 {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, h := range w.held {
			return h.version
		}
		return 0
	}
	pollUntil(t, 2*time.Minute, "every worker holds the secret", func() bool {
		for _, w := range workers {
			if version(w) != 1 {
				return false
			}
		}
		return true
	})
	t.Logf("%d workers joined and received their grant in %v", n, time.Since(start).Round(time.Millisecond))

	var all, last, acks []time.Duration
	for u := range updates {
		want := uint32(u + 2)
		t0 := time.Now()
		if _, err := mc.UpdateSecret(ctx, "fanout", []byte(fmt.Sprintf("v%d", want))); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, time.Since(t0))
		got := make([]time.Duration, len(workers))
		left := len(workers)
		for left > 0 {
			for i, w := range workers {
				if got[i] == 0 && version(w) >= want {
					got[i] = time.Since(t0)
					left--
				}
			}
			if time.Since(t0) > 30*time.Second {
				t.Fatalf("update %d reached %d of %d workers in 30 s", u, len(workers)-left, len(workers))
			}
			time.Sleep(time.Millisecond)
		}
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		all = append(all, got...)
		last = append(last, got[len(got)-1])
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	sort.Slice(last, func(i, j int) bool { return last[i] < last[j] })
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	pct := func(d []time.Duration, p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	busy := cpuOver(10 * time.Second)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("workers: %d, updates: %d\n", n, updates)
	fmt.Printf("update to a worker: p50 %v, p99 %v; to every worker (last one): p50 %v, max %v\n",
		pct(all, 0.5).Round(time.Microsecond), pct(all, 0.99).Round(time.Microsecond), pct(last, 0.5).Round(time.Microsecond), last[len(last)-1].Round(time.Microsecond))
	fmt.Printf("(of which the update command itself, until acknowledged: p50 %v, max %v)\n", pct(acks, 0.5).Round(time.Microsecond), acks[len(acks)-1].Round(time.Microsecond))
	fmt.Printf("CPU, idle: %.4f cores without workers, %.4f cores with %d connected idle workers: %.6f cores per worker (manager and worker sides)\n",
		idle, busy, n, (busy-idle)/float64(n))
	fmt.Printf("heap in use with %d workers in process: %.1f MiB\n", n, float64(ms.HeapInuse)/(1<<20))

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
	pollUntil(t, 2*time.Minute, "every worker streaming again", func() bool {
		for _, w := range workers {
			w.mu.Lock()
			ok := w.connected != "" && w.lastContact.After(t0.Add(up))
			w.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	})
	fmt.Printf("manager restart: serving again after %v; every worker streaming again %v after the restart began\n",
		up.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
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
