package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// cpuProfiles starts a Go CPU profile of d (whole seconds, at least one) on
// every manager, each written to dir/name-m<N>.pprof through the manager's
// local socket (the daemon runs with --pprof), and returns the function
// that waits for them. `go tool pprof -top bin/vault dir/*.pprof` reads
// them together.
func (c *vaultCluster) cpuProfiles(ctx context.Context, dir, name string, d time.Duration) func() error {
	secs := max(1, int(math.Round(d.Seconds())))
	errs := make(chan error, len(c.members))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return func() error { return err }
	}
	for i, m := range c.members {
		out := filepath.Join(dir, fmt.Sprintf("%s-m%d.pprof", name, i+1))
		go func() { errs <- fetchCPUProfile(ctx, m.socket, secs, out) }()
	}
	return func() error {
		var first error
		for range c.members {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

func fetchCPUProfile(ctx context.Context, socket string, secs int, out string) error {
	tr := unixTransport(socket)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://vault/debug/pprof/profile?seconds=%d", secs), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile from %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("CPU profile from %s: %s: %s", socket, resp.Status, msg)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
