package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/audit"
)

// BenchmarkSocketCreate is the create path through the local socket, with
// and without an audit log (closed policy: two records per create):
//
//	go test -run '^$' -bench BenchmarkSocketCreate -count 3 ./vault
func BenchmarkSocketCreate(b *testing.B) {
	for _, withAudit := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%v", withAudit), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			dir := b.TempDir()
			cfg := Config{StateDir: filepath.Join(dir, "state"), SocketPath: filepath.Join(dir, "vault.sock"), ListenAddr: "127.0.0.1:" + fmt.Sprint(benchPort(b))}
			if withAudit {
				cfg.Audit = &audit.Config{Path: filepath.Join(dir, "audit.log")}
			}
			n, err := Start(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			if _, err := n.Init(ctx, 1); err != nil {
				b.Fatal(err)
			}
			hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", cfg.SocketPath)
			}}}
			data := bytes.Repeat([]byte("v"), 1024)
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				body, _ := json.Marshal(api.CreateSecretRequest{Name: fmt.Sprintf("s%d", i), Data: data})
				resp, err := hc.Post("http://vault/v1/secrets", "application/json", bytes.NewReader(body))
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("create: %v %v", resp, err)
				}
				resp.Body.Close()
			}
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is this process's user and system CPU time so far (the node
// and the client both run in it).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPort is a free port whose successor is free too (Raft, manager API).
func benchPort(b *testing.B) int {
	for {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
}
