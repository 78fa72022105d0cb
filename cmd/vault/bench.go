package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
)

// benchCommand runs vault-bench, which measures this binary against etcd,
// tmpfs and the disk. vault-bench is its own module (e2e/bench), so that the
// etcd client never links into vault.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:            "bench",
		Usage:           "measure this vault against etcd, tmpfs and the disk (runs vault-bench: `vault bench -h`)",
		ArgsUsage:       "[vault-bench flags]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			bin := filepath.Join(filepath.Dir(self), "vault-bench")
			if _, err := os.Stat(bin); err != nil {
				if bin, err = exec.LookPath("vault-bench"); err != nil {
					return usagef("build it beside vault: (cd e2e/bench && go build -o "+filepath.Dir(self)+"/vault-bench ./cmd/vault-bench)",
						"`vault bench` runs vault-bench, which is neither beside %s nor on PATH", self)
				}
			}
			// This binary is the one measured; a --vault among the
			// operator's flags comes later and wins.
			args := append([]string{bin, "--vault", self}, c.Args().Slice()...)
			return syscall.Exec(bin, args, os.Environ())
		},
	}
}
