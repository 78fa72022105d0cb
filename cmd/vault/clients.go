package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/vault"
)

// clientCommand is `vault cluster client`: remote operators' bundles.
func clientCommand() *cli.Command {
	return &cli.Command{
		Name:  "client",
		Usage: "create, list and remove remote clients (certificates with a role)",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "issue a client certificate with a role and write its bundle (ca.pem, cert.pem, key.pem) to a directory",
				ArgsUsage: "NAME",
				Description: "The key is made here and never leaves this machine; the cluster CA signs it.\n" +
					"Roles: " + strings.Join(vault.ClientRoles, ", ") + " (docs/access.md says what each may do).\n" +
					"Use the bundle with: vault --host tcp://MANAGER_API_ADDR --tls-dir DIR …",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "role", Required: true, Usage: "the client's role: " + strings.Join(vault.ClientRoles, ", ")},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "the directory to write the bundle to (created; must not hold a bundle)"},
				},
				Action: clientCreate,
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list the remote clients",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Usage: "format the output: 'json' or table"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print names only"},
				},
				Action: clientList,
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "remove clients: their certificates are refused by every manager from then on",
				ArgsUsage: "NAME...",
				Action: func(c *cli.Context) error {
					if !c.Args().Present() {
						return usagef("vault cluster client rm NAME...", "give the clients to remove")
					}
					var errs []error
					for _, name := range c.Args().Slice() {
						if _, err := client(c).RemoveClient(c.Context, name); err != nil {
							errs = append(errs, err)
							continue
						}
						fmt.Println(name)
					}
					return errors.Join(errs...)
				},
			},
		},
	}
}

func clientCreate(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return usagef("vault cluster client create NAME --role ROLE -o DIR", "give one client name")
	}
	name, dir := c.Args().First(), c.String("output")
	for _, f := range []string{bundleCA, bundleCert, bundleKey} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return usagef("give another directory, or remove the old bundle first", "%s already holds a bundle (%s)", dir, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	keyPEM, csrPEM, err := ca.NewNodeKey(name)
	if err != nil {
		return err
	}
	cl := client(c)
	r, err := cl.CreateClient(c.Context, api.ClientCreateRequest{Name: name, Role: c.String("role"), CSR: csrPEM})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		b    []byte
		mode os.FileMode
	}{{bundleKey, keyPEM, 0o600}, {bundleCert, r.Cert, 0o644}, {bundleCA, r.CACert, 0o644}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.b, f.mode); err != nil {
			return fmt.Errorf("writing the bundle: %w (the client is recorded: `vault cluster client rm %s` removes it)", err, name)
		}
	}
	fmt.Printf("Client %s (role %s, certificate %s) created; its bundle is in %s.\n", r.Name, r.Role, r.Serial, dir)
	addr := "MANAGER_API_ADDR"
	if s, err := cl.Status(c.Context); err == nil && s.APIAddr != "" {
		addr = s.APIAddr
	}
	fmt.Printf("Use it with: vault --host tcp://%s --tls-dir %s status\n", addr, dir)
	return nil
}

func clientList(c *cli.Context) error {
	list, err := client(c).Clients(c.Context)
	if err != nil {
		return err
	}
	switch f := c.String("format"); {
	case f == "json":
		return printJSON(list)
	case f != "" && f != "table":
		return usagef("", "--format %q: want json or table", f)
	}
	if c.Bool("quiet") {
		for _, cl := range list {
			fmt.Println(cl.Name)
		}
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSERIAL\tCREATED\tEXPIRES")
	for _, cl := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cl.Name, cl.Role, cl.Serial, cl.CreatedAt.Local().Format(time.DateTime), cl.NotAfter.Local().Format(time.DateOnly))
	}
	return tw.Flush()
}
