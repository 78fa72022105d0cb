package vault

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// BenchmarkSocketInspect is secret inspect through the local socket of a
// one-manager cluster, linearizable and stale: the API path of a read,
// client and server in one process, with CPU and allocations per read:
//
//	go test -run '^$' -bench BenchmarkSocketInspect -benchmem -count 3 ./vault
func BenchmarkSocketInspect(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := b.TempDir()
	cfg := Config{StateDir: filepath.Join(dir, "state"), SocketPath: filepath.Join(dir, "vault.sock"), ListenAddr: "127.0.0.1:" + fmt.Sprint(benchPort(b))}
	n, err := Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Init(ctx, 1); err != nil {
		b.Fatal(err)
	}
	c := api.NewClient(cfg.SocketPath)
	const secrets = 200
	for i := range secrets {
		if _, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: fmt.Sprintf("s%d", i), Data: bytes.Repeat([]byte("v"), 1024)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		c    *api.Client
	}{{"linearizable", c}, {"stale", c.StaleReads()}} {
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := processCPU()
			for i := 0; b.Loop(); i++ {
				if _, err := bc.c.Secret(ctx, fmt.Sprintf("s%d", i%secrets)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
