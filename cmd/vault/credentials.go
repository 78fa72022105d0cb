package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/internal/credsock"
	"github.com/vaultd/vault/vault"
)

// defaultCredentialsSocket is where units find the credential socket:
// LoadCredential=ID:/run/vault/credentials.sock.
const defaultCredentialsSocket = "/run/vault/credentials.sock"

// credentialGrants parses --credential, before the node starts.
func credentialGrants(c *cli.Context) ([]credsock.Grant, error) {
	var grants []credsock.Grant
	for _, s := range c.StringSlice("credential") {
		g, err := credsock.ParseGrant(s)
		if err != nil {
			return nil, usagef("", "--credential: %s", strings.TrimPrefix(err.Error(), "credsock: "))
		}
		grants = append(grants, g)
	}
	if _, err := credsock.New(nil, grants, nil); err != nil {
		return nil, usagef("", "--credential: %s", strings.TrimPrefix(err.Error(), "credsock: "))
	}
	return grants, nil
}

// startCredentials serves systemd's LoadCredential= on the credential
// socket when --credential grants something.
func startCredentials(c *cli.Context, grants []credsock.Grant, n *vault.Node, log *slog.Logger) (func(), error) {
	if len(grants) == 0 {
		return nil, nil
	}
	srv, err := credsock.New(n, grants, log.With("component", "credentials"))
	if err != nil {
		return nil, usagef("", "--credential: %s", strings.TrimPrefix(err.Error(), "credsock: "))
	}
	path := c.String("credentials-socket")
	l, err := credsock.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("credential socket: %s", strings.TrimPrefix(err.Error(), "credsock: "))
	}
	go srv.Serve(l)
	log.Info("serving systemd credentials", "socket", path, "grants", len(grants))
	return func() {
		srv.Close()
		os.Remove(path)
	}, nil
}
