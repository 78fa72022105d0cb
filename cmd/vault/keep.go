package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/internal/mountkeep"
)

// mountHolderCommand is the hidden `vault mount-holder` the daemon starts:
// it keeps the daemon's mounts alive while no daemon runs (see
// internal/mountkeep and docs/containers.md).
const mountHolderCommand = "mount-holder"

func mountHolder() *cli.Command {
	return &cli.Command{
		Name:   mountHolderCommand,
		Hidden: true,
		Usage:  "keep a daemon's mounts alive while no daemon runs (started by `vault daemon`)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "holder-socket", Required: true},
			&cli.DurationFlag{Name: "keep-for", Value: 10 * time.Minute},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second},
		},
		Action: func(c *cli.Context) error {
			harden(newLogger(false))
			l, err := mountkeep.Listen(c.String("holder-socket"))
			if errors.Is(err, mountkeep.ErrRunning) {
				return nil
			}
			if err != nil {
				return err
			}
			h := mountkeep.NewHolder(mountkeep.Config{Socket: c.String("holder-socket"), Grace: c.Duration("grace"), KeepFor: c.Duration("keep-for")})
			err = h.Run(l)
			os.Remove(c.String("holder-socket"))
			return err
		},
	}
}

// holderSocket is where a daemon whose API socket is sock finds its holder.
func holderSocket(sock string) string {
	return strings.TrimSuffix(sock, ".sock") + "-mounts.sock"
}

// connectKeeper connects the daemon to its mount holder, starting one
// (detached, in its own session) if none runs. keepFor 0 turns keeping off.
func connectKeeper(sock string, keepFor time.Duration) (*mountkeep.Client, error) {
	if keepFor <= 0 {
		return nil, nil
	}
	path := holderSocket(sock)
	start := func() error {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		cmd := exec.Command(self, mountHolderCommand, "--holder-socket", path, "--keep-for", keepFor.String())
		// Its own session, no output: it outlives this process, and a
		// write to a closed pipe would kill it.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		go cmd.Wait()
		return nil
	}
	k, err := mountkeep.Connect(path, start)
	if err != nil {
		return nil, fmt.Errorf("keeping mounts across restarts: %v (give `vault daemon --keep-mounts 0` to run without)", strings.TrimPrefix(err.Error(), "mountkeep: "))
	}
	return k, nil
}
