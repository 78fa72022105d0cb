// Command vault-bench measures vault against etcd, tmpfs and the disk, in
// one run on this machine, and prints the ratios. `vault bench` runs it.
//
// Usage:
//
//	vault-bench [--vault PATH] [--vs etcd|vault-metrics|swarm|vault-other --other-vault PATH] [--duration 10s] [--rounds N] [--clients 64]
//	            [--value-size 1024] [--shards N] [--managers 1|3] [--preload N] [--mount] [--rotation]
//	            [--json] [--dir DIR] [--keep] [--profile DIR]
//
// It starts its own clusters in a temporary directory, on 127.0.0.1, and
// stops them when it ends. stdout carries the table (or JSON); progress and
// errors go to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vaultd/vault/e2e/bench"
)

const usage = `Usage: vault-bench [flags]

Starts a fresh 3-manager vault cluster (--managers 1: one manager) on 127.0.0.1 (and, with --vs etcd, a
fresh 3-member etcd cluster; with --vs swarm, a single-manager Docker Swarm on
this machine's dockerd, left when the run ends), runs the same workloads
against each, and prints each figure with the ratio vault/peer and the CPU
each side used.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		var ue usageError
		fmt.Fprintf(os.Stderr, "vault-bench: error: %v\n", err)
		switch {
		case errors.As(err, &ue):
			fmt.Fprintf(os.Stderr, "vault-bench: hint: `vault-bench -h` shows the usage\n")
		case errors.Is(err, bench.ErrNoMount):
			fmt.Fprintf(os.Stderr, "vault-bench: hint: run without --mount, or give --vault a binary that has `vault mount`\n")
		case errors.Is(err, bench.ErrSwarmActive):
			fmt.Fprintf(os.Stderr, "vault-bench: hint: `docker info` shows the swarm this machine is in; the bench measures Swarm only on a dockerd outside any swarm\n")
		case errors.Is(err, context.Canceled):
			fmt.Fprintf(os.Stderr, "vault-bench: hint: interrupted; every process it started was stopped\n")
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string) error {
	var cfg bench.Config
	var asJSON bool
	fs := flag.NewFlagSet("vault-bench", flag.ContinueOnError)
	// A mistake is reported on one error line (main prints it); only -h
	// prints the usage, to stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.Vault, "vault", "", "the vault `binary` (default: build ./cmd/vault of the source tree this runs in)")
	fs.StringVar(&cfg.Peer, "vs", "", "the peer to compare with: etcd, vault-metrics (vault with --metrics-addr, scraped every second: what the metrics cost), swarm (a single-manager Docker Swarm made on this machine's dockerd and left afterwards; refused if dockerd is already in a swarm), or vault-other (a second vault cluster running --other-vault: before/after in one run)")
	fs.StringVar(&cfg.OtherVault, "other-vault", "", "the peer's vault `binary`, for --vs vault-other (one run comparing two builds)")
	fs.StringVar(&cfg.DockerSocket, "docker", bench.DefaultDockerSocket, "dockerd's Engine API `socket`, for --vs swarm")
	fs.StringVar(&cfg.Etcd, "etcd", bench.DefaultEtcd, "the etcd server `binary` (Debian: apt-get install -y etcd-server)")
	fs.BoolVar(&cfg.EtcdPlainPeers, "etcd-plain-peers", false, "run etcd's peers without TLS (vault's always use mutual TLS)")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long each workload runs on each system")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "split each workload into `N` slices per system, alternating (default: one per 2s of --duration)")
	fs.IntVar(&cfg.Clients, "clients", bench.DefaultClients, "concurrent clients of the concurrent workloads and the preload")
	fs.IntVar(&cfg.ValueSize, "value-size", bench.DefaultValueSize, "`bytes` of data per secret")
	fs.IntVar(&cfg.Shards, "shards", bench.DefaultShards, "`N` secret groups, given to vault cluster init --shards (default: vault's own default for this machine)")
	fs.IntVar(&cfg.Managers, "managers", bench.DefaultManagers, "`N` managers in each vault cluster: 3, or 1 (a Raft group of one, like the single-manager Swarm of --vs swarm)")
	fs.BoolVar(&cfg.Rotation, "rotation", false, "at the end, on vault only: --clients clients create for --duration, then again while `vault key rotate --full` re-seals everything; reports the rotation's wall time and the create rate it kept")
	fs.IntVar(&cfg.Preload, "preload", 0, "fill each cluster with `N` secrets first (the documented scale run uses 100000)")
	fs.BoolVar(&cfg.Audit, "audit", false, "give each vault manager an audit log, to measure its cost against a run without")
	fs.BoolVar(&cfg.Mount, "mount", false, "also read a 4 KiB secret through a FUSE mount and the same file on tmpfs")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&cfg.Dir, "dir", "", "where the state dirs go (default: the temporary directory); its disk is the one measured")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the state dirs and logs")
	fs.StringVar(&cfg.GoProfile, "go-profile", "", "write a Go CPU profile of each vault manager during each workload round into `DIR`, for go tool pprof (docs/PERFORMANCE.md)")
	fs.StringVar(&cfg.Profile, "profile", "", "record a perf profile of each system's servers during each workload into `DIR` (perf's cost shows in the figures)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Print(usage)
			fs.PrintDefaults()
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	// Check the flags before spending a build on them.
	check := cfg
	if check.Vault == "" {
		check.Vault = "vault"
	}
	if err := check.Validate(); err != nil {
		return usageError{err}
	}
	if cfg.Vault == "" {
		bin, cleanup, err := buildVault(ctx)
		if err != nil {
			return err
		}
		defer cleanup()
		cfg.Vault = bin
	}
	r, err := bench.Run(ctx, cfg, os.Stderr)
	if err != nil {
		return err
	}
	r.Command = strings.Join(append([]string{"vault-bench"}, args...), " ")
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(os.Stdout)
}

// buildVault builds the vault binary from the source tree that holds the
// working directory, or the one this command was built in.
func buildVault(ctx context.Context) (string, func(), error) {
	src, err := sourceTree()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "vault-bench-bin-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "vault")
	fmt.Fprintf(os.Stderr, "vault-bench: building vault from %s\n", src)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/vault")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build ./cmd/vault in %s: %w", src, err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// sourceTree finds the root of vault's module above the working directory
// or above this executable.
func sourceTree() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && isVaultModule(b) {
				return d, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", errors.New("no --vault binary given and no vault source tree to build one from; give --vault PATH")
}

func isVaultModule(gomod []byte) bool {
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == "github.com/vaultd/vault"
		}
	}
	return false
}
