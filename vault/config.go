package vault

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/vaultd/vault/internal/audit"
	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/internal/mountkeep"
)

// Config configures a node. Validate fills defaults.
type Config struct {
	StateDir      string       // required
	SocketPath    string       // the local API's Unix socket; required
	ListenAddr    string       // Raft listen address, HOST:PORT
	AdvertiseAddr string       // Raft address peers use; defaults to ListenAddr
	APIAddr       string       // manager API (mutual TLS) listen address; default: Raft port + 1
	Logger        *slog.Logger // nil: discard

	// SnapshotEntries is how many entries a shard applies between snapshots
	// (after which its log is compacted). 0 means the default.
	SnapshotEntries uint64

	// Pprof serves net/http/pprof under /debug/pprof/ on the local socket
	// (root only, like the rest of the local API): CPU, heap, goroutine and
	// mutex profiles, for `go tool pprof`. Profiles hold stack traces and
	// sizes, never memory contents.
	Pprof bool

	// Metrics (nil: off) is fed as the node runs: requests, proposals,
	// applies, leader changes, seals, peer round trips, and the state
	// CollectState reports (vault/metrics.go).
	Metrics *metrics.Metrics
	// Audit configures the audit log (audit.go); nil or an empty Path: none.
	Audit *audit.Config
	// Keeper, if not nil, keeps this daemon's mounts alive after it exits
	// and hands them to the next daemon (see keep.go); nil: mounts end
	// with the daemon.
	Keeper *mountkeep.Client
}

// DefaultListenAddr is the Raft address a daemon listens on by default.
const DefaultListenAddr = "127.0.0.1:4700"

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.StateDir == "" {
		return errors.New("a state directory is required (--state-dir)")
	}
	if c.SocketPath == "" {
		return errors.New("a socket path is required (--socket)")
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.ListenAddr
	}
	for _, a := range []string{c.ListenAddr, c.AdvertiseAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("address %q: want HOST:PORT", a)
		}
	}
	if host, _, _ := net.SplitHostPort(c.AdvertiseAddr); host == "" || host == "0.0.0.0" || host == "::" {
		return fmt.Errorf("advertise address %q: peers need a concrete host (--advertise-addr)", c.AdvertiseAddr)
	}
	if c.APIAddr == "" {
		host, port, _ := net.SplitHostPort(c.ListenAddr)
		p, err := strconv.Atoi(port)
		if err != nil || p == 0 || p >= 65535 {
			return fmt.Errorf("listen address %q: give an explicit --api-addr", c.ListenAddr)
		}
		c.APIAddr = net.JoinHostPort(host, strconv.Itoa(p+1))
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		return fmt.Errorf("API address %q: want HOST:PORT", c.APIAddr)
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
