package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/volplugin"
	"github.com/vaultd/vault/vault"
)

const (
	// defaultPluginSocket is where Docker looks for the plugin named vault.
	defaultPluginSocket = "/run/docker/plugins/vault.sock"
	// defaultVolumesDir holds the volume plugin's mountpoints.
	defaultVolumesDir = "/run/vault/volumes"
	// volumesFile keeps the volume plugin's definitions in the state dir.
	volumesFile = "docker-volumes.json"
)

// startVolumePlugin serves Docker's volume plugin protocol for the node.
// Given explicitly, --docker-plugin-socket must work; left at its default it
// is served only where Docker's plugin directory exists, and a socket
// another daemon serves already is left to it with a warning.
func startVolumePlugin(c *cli.Context, n *vault.Node, cfg vault.Config) (func(), error) {
	sock := c.String("docker-plugin-socket")
	explicit := c.IsSet("docker-plugin-socket")
	if sock == "" {
		return nil, nil
	}
	if !explicit {
		if fi, err := os.Stat(filepath.Dir(sock)); err != nil || !fi.IsDir() {
			return nil, nil
		}
	}
	root, err := filepath.Abs(c.String("docker-volumes-dir"))
	if err != nil {
		return nil, err
	}
	p, err := volplugin.New(volplugin.Config{
		Mounter:   n,
		Sealer:    n,
		StateFile: filepath.Join(cfg.StateDir, volumesFile),
		Root:      root,
		Logger:    cfg.Logger.With("component", "docker-volume-plugin"),
		// The node keeps running containers' mounts across its restarts.
		KeepMounts: cfg.Keeper != nil,
	})
	if err != nil {
		return nil, fmt.Errorf("docker volume plugin: %s", strings.TrimPrefix(err.Error(), "volplugin: "))
	}
	l, err := volplugin.Listen(sock)
	if errors.Is(err, volplugin.ErrSocketInUse) {
		if !explicit {
			cfg.Logger.Warn("not serving the Docker volume plugin: another daemon serves its socket", "socket", sock)
			return nil, nil
		}
		return nil, api.Errorf(api.CodeConflict, "another process serves the Docker volume plugin socket %s", sock).
			WithHint("stop it, or give `vault daemon --docker-plugin-socket` another path (\"\" turns the plugin off)")
	}
	if err != nil {
		return nil, fmt.Errorf("docker volume plugin: %v", err)
	}
	go func() {
		if err := p.Serve(l); err != nil {
			cfg.Logger.Warn("docker volume plugin stopped", "err", err)
		}
	}()
	cfg.Logger.Info("serving the Docker volume plugin", "socket", sock, "driver", trimExt(filepath.Base(sock)))
	// Definitions of an earlier version are in the clear: seal them as
	// soon as the node runs.
	stopReseal := make(chan struct{})
	go func() {
		for p.Reseal() != nil {
			select {
			case <-stopReseal:
				return
			case <-time.After(5 * time.Second):
			}
		}
	}()
	return func() {
		close(stopReseal)
		p.Close()
		os.Remove(sock)
	}, nil
}

func trimExt(name string) string {
	return name[:len(name)-len(filepath.Ext(name))]
}
