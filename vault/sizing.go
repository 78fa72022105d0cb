package vault

import (
	"runtime"
)

// MaxShards bounds --shards.
const MaxShards = 64

// DefaultShards is the number of secret groups `vault cluster init` makes
// when not told: one per four CPUs of the initializing node, 1 to 4. Each
// group runs its own replication and ReadIndex rounds, so on a small
// machine more groups split the same load into smaller batches, each paying
// a round's fixed cost: measured on 2 CPUs, 4 groups cost 1.6 times the CPU
// per create of 1 group (docs/PERFORMANCE.md). Groups pay off when there
// are cores to run them in parallel.
func DefaultShards() int {
	return perFourCPUs(4)
}

// perFourCPUs is one per four CPUs of this machine, at least 1 and at most
// limit: how vault sizes what runs in parallel (secret groups, Raft workers).
func perFourCPUs(limit int) int {
	return min(max(runtime.NumCPU()/4, 1), limit)
}
