// Package bench measures vault against peers in the same run on the same
// machine: a fresh 3-manager vault cluster (1 with Config.Managers) against
// a fresh 3-member etcd cluster (Debian's etcd-server), a secret read
// through a FUSE mount against the same file on tmpfs, and both against the
// disk's fsync floor. A figure
// counts only as a ratio against its peer; absolute numbers depend on the
// machine.
//
// It lives in its own module so that the etcd client never reaches the vault
// binary; cmd/vault-bench is the command, and `vault bench` runs it.
//
// # Method
//
// Every workload is closed-loop: each client sends its next request when the
// previous one is answered, for a fixed duration. Clients are spread over the
// members (client i talks to member i mod their number), each with its own
// connection. A workload runs in rounds (Config.Rounds) that alternate
// between the systems, and which one goes first alternates from one round to
// the next, so that load from outside the bench, which comes and goes on a
// shared machine, falls on both alike, and neither always runs on a warmer or
// a more fragmented disk. Both clusters run throughout; the idle one costs
// only its heartbeats, which are measured once and reported.
//
// The CPU a side used is the utime+stime of its three server processes, read
// from /proc/PID/stat before and after each workload; the load generator's
// own CPU is reported too, since it shares the machine's cores, and so is
// the machine's busy time beyond both (outside load), from /proc/stat.
//
// # Sections
//
//   - [Config]: what to run (duration, clients, value size, groups, preload,
//     peers), validated by [Config.Validate].
//   - [Run]: starts the clusters, runs the workloads, returns a [Report].
//   - [Report.WriteText] and JSON: the table, with the ratio vault/peer on each
//     row and the CPU each side used.
//   - [Config.Rotation]: a full rotation under create load, on vault only
//     (rotation.go).
//   - [Config.Profile]: a perf profile of each side's servers per workload,
//     for where the CPU goes.
//
// # Fairness
//
// Both sides are durable (fsync on every commit) and replicate to three
// members on loopback. vault's members always talk mutual TLS and it seals
// every entry and value; etcd runs with peer TLS (--peer-auto-tls) unless
// [Config.EtcdPlainPeers] is set, and stores plaintext. A vault create checks
// that the name is free; the etcd create is the idiomatic equivalent, a
// transaction that puts the key only if its create revision is 0. A vault
// linearizable read is `secret inspect` (ReadIndex, one record opened); the
// etcd one is a default (linearizable) Get of the key.
package bench
