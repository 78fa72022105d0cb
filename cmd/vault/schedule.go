package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/vault"
)

// Scheduled snapshot files: `vault daemon --snapshot-interval D
// --snapshot-dir DIR --snapshot-keep N`. While the node runs (unlocked, in
// a cluster) it saves a snapshot file into DIR every D, as `vault snapshot
// save` would, and keeps the newest N. With autolock off the files are
// sealed for the snapshot key in --snapshot-key-file: a daemon never makes
// a key of its own, since it could show it only in its log.

func scheduleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "snapshot-interval", Usage: "save a snapshot file of the cluster this often (0: never; see docs/runbooks/disaster-recovery.md)"},
		&cli.StringFlag{Name: "snapshot-dir", Usage: "where --snapshot-interval saves snapshot files"},
		&cli.IntFlag{Name: "snapshot-keep", Value: 7, Usage: "how many scheduled snapshot files to keep"},
		&cli.StringFlag{Name: "snapshot-key-file", Usage: "autolock off: seal scheduled snapshots for the snapshot key in this file"},
	}
}

const scheduledPrefix = "vault-snapshot-"

// checkScheduleFlags checks the flags before the daemon starts.
func checkScheduleFlags(c *cli.Context) error {
	every, dir, keep := c.Duration("snapshot-interval"), c.String("snapshot-dir"), c.Int("snapshot-keep")
	switch {
	case every == 0:
		if dir != "" || c.IsSet("snapshot-keep") || c.IsSet("snapshot-key-file") {
			return usagef("vault daemon --snapshot-interval 24h --snapshot-dir DIR", "--snapshot-dir, --snapshot-keep and --snapshot-key-file need --snapshot-interval")
		}
	case every < time.Second:
		return usagef("vault daemon --snapshot-interval 24h --snapshot-dir DIR", "--snapshot-interval %s: give at least 1s", every)
	case dir == "":
		return usagef("vault daemon --snapshot-interval 24h --snapshot-dir DIR", "--snapshot-interval needs --snapshot-dir")
	case keep < 1:
		return usagef("vault daemon --snapshot-keep 7", "--snapshot-keep %d: keep at least 1", keep)
	}
	return nil
}

// startScheduledSnapshots starts the loop the flags ask for (checked by
// checkScheduleFlags); the function it returns stops it.
func startScheduledSnapshots(c *cli.Context, n *vault.Node, log *slog.Logger) (func(), error) {
	every, dir, keep := c.Duration("snapshot-interval"), c.String("snapshot-dir"), c.Int("snapshot-keep")
	if every == 0 {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyFile := c.String("snapshot-key-file")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			path, err := scheduledSave(ctx, n, dir, keyFile)
			switch {
			case api.IsCode(err, api.CodeLocked) || api.IsCode(err, api.CodeNotInitialized):
				log.Debug("scheduled snapshot skipped", "reason", err)
				continue
			case err != nil:
				log.Error("scheduled snapshot failed", "err", err)
				continue
			}
			log.Info("scheduled snapshot saved", "file", path)
			if err := pruneScheduled(dir, keep); err != nil {
				log.Error("removing old scheduled snapshots", "err", err)
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

// scheduledSave saves one snapshot file into dir (temporary name, then
// renamed) and returns its path.
func scheduledSave(ctx context.Context, n *vault.Node, dir, keyFile string) (string, error) {
	key := ""
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return "", err
		}
		key = strings.TrimSpace(string(b))
	}
	s, err := n.SaveSnapshot(ctx, key)
	if err != nil {
		return "", err
	}
	defer s.Close()
	if s.Key != "" {
		// Autolock off and no key file: nobody would hold the key.
		return "", errors.New("autolock is off: give the daemon --snapshot-key-file with a snapshot key (`vault snapshot save` prints one)")
	}
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	_, err = s.WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s%s-%s.vsnap", scheduledPrefix, s.Header.ClusterID, s.Header.Created.Format("20060102T150405.000Z")))
	if err := os.Rename(f.Name(), path); err != nil {
		return "", err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return path, nil
}

// pruneScheduled removes all but the newest keep scheduled snapshot files
// (their names sort by time).
func pruneScheduled(dir string, keep int) error {
	names, err := filepath.Glob(filepath.Join(dir, scheduledPrefix+"*.vsnap"))
	if err != nil {
		return err
	}
	slices.Sort(names)
	var errs []error
	for len(names) > keep {
		errs = append(errs, os.Remove(names[0]))
		names = names[1:]
	}
	return errors.Join(errs...)
}
