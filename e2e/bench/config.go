package bench

import (
	"errors"
	"fmt"
	"time"
)

// Peers a run can be compared against.
const (
	PeerNone = ""
	PeerEtcd = "etcd"
	// PeerVaultMetrics is vault itself with --metrics-addr on every
	// manager, scraped every second: what the metrics cost.
	PeerVaultMetrics = "vault-metrics"
	// PeerSwarm is a single-manager Docker Swarm the bench makes on this
	// machine's dockerd, and leaves afterwards (swarm.go).
	PeerSwarm = "swarm"
	// PeerVaultOther is a second vault cluster running another vault
	// binary (Config.OtherVault): a before/after comparison in one run,
	// with the same alternating rounds as any peer.
	PeerVaultOther = "vault-other"
)

// Config is what a run measures. The zero value of a field means its
// default; Validate fills the defaults in.
type Config struct {
	// Vault is the vault binary. Required.
	Vault string
	// Etcd is the etcd server binary, used when Peer is PeerEtcd
	// (default /usr/bin/etcd, from Debian's etcd-server package).
	Etcd string
	// Peer is the system vault is compared with: PeerEtcd or PeerNone.
	Peer string
	// EtcdPlainPeers runs etcd's members without peer TLS. vault's members
	// always use mutual TLS, so the default compares like with like.
	EtcdPlainPeers bool
	// OtherVault is the vault binary of the peer cluster, used (and
	// required) when Peer is PeerVaultOther.
	OtherVault string
	// DockerSocket is dockerd's Engine API, used when Peer is PeerSwarm
	// (default /var/run/docker.sock).
	DockerSocket string

	// Duration is how long each workload runs against each system
	// (default 10s).
	Duration time.Duration
	// Rounds splits each workload's Duration into this many slices per
	// system, alternating between the systems, so that load from outside
	// the bench, which comes and goes, falls on both alike (default: one
	// round per 2s of Duration, at least 1).
	Rounds int
	// Clients is the number of concurrent clients of the concurrent
	// workloads and of the preload (default 64).
	Clients int
	// ValueSize is the size of each secret's data, in bytes (default 1024).
	ValueSize int
	// Managers is the number of vault managers of each vault cluster: 3
	// (the default), or 1, a Raft group of one like a single-manager Swarm.
	Managers int
	// Rotation adds the full-rotation workload (rotation.go), on vault
	// only: creates from Clients clients, first alone, then while `vault
	// key rotate --full` re-seals everything.
	Rotation bool
	// Shards is the number of secret groups given to `vault cluster init`
	// (default 0: vault's own default for the machine, as `vault cluster
	// init` without --shards).
	Shards int
	// Preload fills each cluster with this many secrets before the
	// workloads run (default 0).
	Preload int
	// Mount adds the FUSE mount workload against tmpfs.
	Mount bool
	// Audit gives each vault manager an audit log (--audit-log in its
	// directory, closed policy), to measure what it costs: compare a run
	// with it and one without.
	Audit bool
	// MountFileSize is the size of the mounted secret (default 4096).
	MountFileSize int

	// Dir is where the state dirs, logs and the fsync-floor file go
	// (default: the system's temporary directory). It should be on the disk
	// whose fsync floor matters.
	Dir string
	// Keep keeps the state dirs and logs after the run.
	Keep bool
	// Profile, when set, is a directory where `perf record` writes a
	// profile of each system's servers during each workload. perf's own
	// cost shows in the figures of such a run.
	Profile string
	// GoProfile, when set, is a directory where each vault manager's Go CPU
	// profile of each workload round is written (the managers run with
	// --pprof), for `go tool pprof` without perf.
	GoProfile string
}

// Defaults.
const (
	DefaultDuration      = 10 * time.Second
	DefaultClients       = 64
	DefaultManagers      = 3
	DefaultValueSize     = 1024
	DefaultShards        = 0 // vault's default
	DefaultMountFileSize = 4096
	DefaultEtcd          = "/usr/bin/etcd"

	maxValueSize = 500*1024 - 1 // vault's data limit
	maxShards    = 64           // vault's --shards limit
)

var errConfig = errors.New("bench: invalid config")

// Validate fills in defaults and checks the values.
func (c *Config) Validate() error {
	if c.Vault == "" {
		return fmt.Errorf("%w: no vault binary", errConfig)
	}
	if c.Etcd == "" {
		c.Etcd = DefaultEtcd
	}
	if c.DockerSocket == "" {
		c.DockerSocket = DefaultDockerSocket
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Rounds == 0 {
		c.Rounds = max(1, int(c.Duration/(2*time.Second)))
	}
	if c.Managers == 0 {
		c.Managers = DefaultManagers
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.ValueSize == 0 {
		c.ValueSize = DefaultValueSize
	}
	if c.MountFileSize == 0 {
		c.MountFileSize = DefaultMountFileSize
	}
	switch {
	case c.Peer != PeerNone && c.Peer != PeerEtcd && c.Peer != PeerVaultMetrics && c.Peer != PeerSwarm && c.Peer != PeerVaultOther:
		return fmt.Errorf("%w: --vs %q: the peers are etcd, vault-metrics, swarm and vault-other", errConfig, c.Peer)
	case (c.Peer == PeerVaultOther) != (c.OtherVault != ""):
		return fmt.Errorf("%w: --other-vault is the peer's vault binary: give it with --vs vault-other, and only then", errConfig)
	case c.Duration < 100*time.Millisecond:
		return fmt.Errorf("%w: --duration %s: at least 100ms", errConfig, c.Duration)
	case c.Rounds < 1 || c.Duration/time.Duration(c.Rounds) < 100*time.Millisecond:
		return fmt.Errorf("%w: --rounds %d: each round of --duration %s must last at least 100ms", errConfig, c.Rounds, c.Duration)
	case c.Managers != 1 && c.Managers != 3:
		return fmt.Errorf("%w: --managers %d: 1 (a Raft group of one, as a single-manager Swarm) or 3 (the default)", errConfig, c.Managers)
	case c.Clients < 1 || c.Clients > 4096:
		return fmt.Errorf("%w: --clients %d: 1 to 4096", errConfig, c.Clients)
	case c.ValueSize < 1 || c.ValueSize > maxValueSize:
		return fmt.Errorf("%w: --value-size %d: 1 to %d bytes (vault's limit)", errConfig, c.ValueSize, maxValueSize)
	case c.Shards < 0 || c.Shards > maxShards:
		return fmt.Errorf("%w: --shards %d: 1 to %d secret groups, or 0 for vault's default", errConfig, c.Shards, maxShards)
	case c.Preload < 0 || c.Preload > 10_000_000:
		return fmt.Errorf("%w: --preload %d: 0 to 10000000 secrets", errConfig, c.Preload)
	case c.MountFileSize < 1 || c.MountFileSize > maxValueSize:
		return fmt.Errorf("%w: mount file size %d: 1 to %d bytes", errConfig, c.MountFileSize, maxValueSize)
	}
	return nil
}
