package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/vault"
)

func secretCommand() *cli.Command {
	return &cli.Command{
		Name:  "secret",
		Usage: "manage secrets",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a secret from a file or stdin; prints its id",
				ArgsUsage: "[--label K=V]... NAME [FILE|-]",
				Flags:     []cli.Flag{&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "a label K=V (repeatable)"}},
				Action: func(c *cli.Context) error {
					name, data, err := nameAndData(c, "create")
					if err != nil {
						return err
					}
					labels, err := parseLabels(c.StringSlice("label"))
					if err != nil {
						return err
					}
					r, err := client(c).CreateSecret(c.Context, api.CreateSecretRequest{Name: name, Labels: labels, Data: data})
					if err != nil {
						return err
					}
					fmt.Println(r.ID)
					return nil
				},
			},
			{
				Name:      "update",
				Usage:     "add a new version of a secret's data from a file or stdin",
				ArgsUsage: "NAME|ID [FILE|-]",
				Action: func(c *cli.Context) error {
					name, data, err := nameAndData(c, "update")
					if err != nil {
						return err
					}
					r, err := client(c).UpdateSecret(c.Context, name, data)
					if err != nil {
						return err
					}
					fmt.Printf("%s version %d\n", r.ID, r.Version)
					return nil
				},
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list secrets",
				Flags: []cli.Flag{
					formatFlag(),
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print ids only"},
					staleFlag(),
				},
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						return usagef("", "secret ls takes no arguments")
					}
					list, err := readClient(c).Secrets(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("quiet") {
						for _, s := range list {
							fmt.Println(s.ID)
						}
						return nil
					}
					switch f := c.String("format"); f {
					case "", "table":
						return printSecretTable(list)
					default:
						return printFormattedEach(f, list)
					}
				},
			},
			{
				Name:      "inspect",
				Usage:     "show secrets' metadata (never their data)",
				ArgsUsage: "NAME|ID...",
				Flags:     []cli.Flag{formatFlag(), staleFlag()},
				Action: func(c *cli.Context) error {
					args, err := refs(c, "vault secret inspect [--format F] [--stale] NAME|ID...")
					if err != nil {
						return err
					}
					var out []api.Secret
					var errs []error
					for _, ref := range args {
						s, err := readClient(c).Secret(c.Context, ref)
						if err != nil {
							errs = append(errs, err)
							continue
						}
						out = append(out, *s)
					}
					f := c.String("format")
					if f == "" || f == "json" || f == "table" {
						if err := printJSON(out); err != nil {
							return err
						}
					} else if err := printFormattedEach(f, out); err != nil {
						return err
					}
					return firstAfterPrinting(errs)
				},
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "remove secrets and every version of their data",
				ArgsUsage: "NAME|ID...",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "remove even a mounted secret"}},
				Action: func(c *cli.Context) error {
					args, err := refs(c, "vault secret rm NAME|ID...")
					if err != nil {
						return err
					}
					var errs []error
					for _, ref := range args {
						rm := client(c).RemoveSecret
						if c.Bool("force") {
							rm = client(c).RemoveSecretForce
						}
						r, err := rm(c.Context, ref)
						if err != nil {
							errs = append(errs, err)
							continue
						}
						fmt.Println(r.Name)
					}
					return firstAfterPrinting(errs)
				},
			},
		},
	}
}

// refs returns the NAME|ID arguments, refusing flags placed after them
// (urfave/cli stops parsing flags at the first argument).
func refs(c *cli.Context, usage string) ([]string, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, usagef(usage, "name the secret")
	}
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' {
			return nil, usagef(usage, "flag %s after the arguments: give flags first", a)
		}
	}
	return args, nil
}

// firstAfterPrinting prints all but the last error and returns the last, so
// every failure of a multi-argument command is reported and the exit is 1.
func firstAfterPrinting(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	for _, e := range errs[:len(errs)-1] {
		printError(e)
	}
	return errs[len(errs)-1]
}

// nameAndData reads NAME [FILE|-]: data comes from a file or stdin, never
// from the command line.
func nameAndData(c *cli.Context, verb string) (string, []byte, error) {
	args := c.Args().Slice()
	usage := fmt.Sprintf("vault secret %s NAME FILE, or pipe the data: ... | vault secret %s NAME -", verb, verb)
	if len(args) == 0 {
		return "", nil, usagef(usage, "name the secret")
	}
	for _, a := range args[1:] {
		if len(a) > 1 && a[0] == '-' {
			return "", nil, usagef(fmt.Sprintf("vault secret %s [--label K=V]... NAME [FILE|-]", verb), "flag %s after the secret's name: give flags first", a)
		}
	}
	if len(args) > 2 {
		return "", nil, usagef(usage, "too many arguments: secret data is read from a file or stdin, never from the command line")
	}
	name := args[0]
	if err := vault.ValidateName(name); err != nil && verb == "create" {
		return "", nil, err
	}
	src := "-"
	if len(args) == 2 {
		src = args[1]
	}
	var r io.Reader
	if src == "-" {
		if term.IsTerminal(int(os.Stdin.Fd())) {
			return "", nil, usagef(usage, "no data: give a FILE, or pipe the data to stdin")
		}
		r = os.Stdin
	} else {
		f, err := os.Open(src)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, usagef("secret data is read from a file or stdin, never from the command line: "+usage,
				"%q is not a file", src)
		}
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return "", nil, usagef(usage, "%s is a directory", src)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, vault.MaxDataSize+1))
	if err != nil {
		return "", nil, err
	}
	if err := vault.ValidateData(data); err != nil {
		return "", nil, err
	}
	return name, data, nil
}

func parseLabels(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, l := range in {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, usagef("labels look like --label env=prod", "bad label %q", l)
		}
		out[k] = v
	}
	return out, nil
}

func staleFlag() cli.Flag {
	return &cli.BoolFlag{Name: "stale", Usage: "read this manager's own copy without asking the group leader: " +
		"cheaper, but may miss writes made through other managers in the last moments"}
}

// readClient is the client for a read command, reading stale with --stale.
func readClient(c *cli.Context) *api.Client {
	if c.Bool("stale") {
		return client(c).StaleReads()
	}
	return client(c)
}
