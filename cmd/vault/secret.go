package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

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
				ArgsUsage: "NAME [FILE|-]",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "a label K=V (repeatable)"},
					&cli.IntFlag{Name: "max-versions", Usage: "keep at most N data versions, dropping the oldest at each update (0: the cluster's default)"},
				},
				Action: func(c *cli.Context) error {
					name, data, err := nameAndData(c, "create")
					if err != nil {
						return err
					}
					labels, err := parseLabels(c.StringSlice("label"))
					if err != nil {
						return err
					}
					r, err := client(c).CreateSecret(c.Context, api.CreateSecretRequest{Name: name, Labels: labels, Data: data, MaxVersions: c.Int("max-versions")})
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
				Flags:   append(listFlags(secretFields, "id=ID, name=NAME, label=KEY or label=KEY=VALUE"), staleFlag()),
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						return usagef("", "secret ls takes no arguments; to list some, use --filter name=%s", c.Args().First())
					}
					f, err := parseFilters(c.StringSlice("filter"), "id", "name", "label")
					if err != nil {
						return err
					}
					if done, err := secretLsQuiet(c, f); done {
						return err
					}
					list, err := readClient(c).Secrets(c.Context)
					if err != nil {
						return err
					}
					rows := filterRows(secretRows(list), func(r secretRow) bool {
						return f.any("id", func(v string) bool { return strings.HasPrefix(r.ID, v) }) &&
							f.any("name", func(v string) bool { return strings.HasPrefix(r.Name, v) }) &&
							f.labels(r.Labels)
					})
					return secretList.print(c, rows)
				},
			},
			{
				Name:      "inspect",
				Usage:     "show secrets' metadata (never their data)",
				ArgsUsage: "NAME|ID...",
				Flags: []cli.Flag{
					formatFlag(secretFields),
					&cli.BoolFlag{Name: "pretty", Usage: "print in a human-friendly format"},
					&cli.BoolFlag{Name: "no-trunc", Usage: "do not shorten ids in a --format table"},
					staleFlag(),
				},
				Action: func(c *cli.Context) error {
					args, err := refs(c)
					if err != nil {
						return err
					}
					if c.Bool("pretty") && c.IsSet("format") {
						return usagef("", "--pretty and --format do not go together")
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
					rows := secretRows(out)
					switch f := c.String("format"); {
					case c.Bool("pretty"):
						printSecretsPretty(rows)
					case f == "":
						err = printJSON(rows) // [] when none was found, as docker prints
					default:
						err = secretList.printFormat(c, f, rows)
					}
					if err != nil {
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
					args, err := refs(c)
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

// refs returns the NAME|ID arguments.
func refs(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, usagef(fmt.Sprintf("%s NAME|ID...", commandPath), "name the secret")
	}
	return args, nil
}

// printSecretsPretty is inspect --pretty, as `docker secret inspect --pretty`.
func printSecretsPretty(rows []secretRow) {
	for i, r := range rows {
		if i > 0 {
			fmt.Println()
		}
		fmt.Printf("ID:          %s\n", r.ID)
		fmt.Printf("Name:        %s\n", r.Name)
		if len(r.Labels) > 0 {
			fmt.Println("Labels:")
			keys := make([]string, 0, len(r.Labels))
			for k := range r.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Printf(" - %s=%s\n", k, r.Labels[k])
			}
		}
		fmt.Printf("Created at:  %s\n", r.CreatedAt.Local().Format(time.RFC3339))
		fmt.Printf("Updated at:  %s\n", r.UpdatedAt.Local().Format(time.RFC3339))
		fmt.Printf("Version:     %d\n", r.Version)
		fmt.Printf("Size:        %s\n", plural(r.Size, "byte"))
		if r.MaxVersions > 0 {
			fmt.Printf("Keeps:       %s\n", plural(r.MaxVersions, "version"))
		}
		if len(r.Versions) > 0 {
			fmt.Println("Versions:")
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			for _, v := range r.Versions {
				fmt.Fprintf(w, " - v%d\t%s\t%s\n", v.Version, plural(v.Size, "byte"), v.CreatedAt.Local().Format(time.RFC3339))
			}
			w.Flush()
		}
	}
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
	data, err := readData(src, usage)
	if err != nil {
		return "", nil, err
	}
	if err := vault.ValidateData(data); err != nil {
		return "", nil, err
	}
	return name, data, nil
}

// readData reads at most one byte more than a secret may hold from a file
// or stdin ("-"), and refuses more.
func readData(src, usage string) ([]byte, error) {
	var r io.Reader
	what := "stdin"
	if src == "-" {
		if term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, usagef(usage, "no data: give a FILE, or pipe the data to stdin")
		}
		r = os.Stdin
	} else {
		f, err := os.Open(src)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef("secret data is read from a file or stdin, never from the command line: "+usage,
				"%q does not exist", src)
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err == nil && st.IsDir() {
			return nil, usagef(usage, "%q is a directory", src)
		}
		if err == nil && st.Mode().IsRegular() && st.Size() > vault.MaxDataSize {
			return nil, usagef("secrets are for keys, passwords and certificates; keep large data elsewhere",
				"%q is %s, over the %s limit of a secret", src, byteSize(st.Size()), byteSize(vault.MaxDataSize+1))
		}
		r, what = f, fmt.Sprintf("%q", src)
	}
	data, err := io.ReadAll(io.LimitReader(r, vault.MaxDataSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > vault.MaxDataSize {
		return nil, usagef("secrets are for keys, passwords and certificates; keep large data elsewhere",
			"%s holds more than the %s limit of a secret", what, byteSize(vault.MaxDataSize+1))
	}
	return data, nil
}

// byteSize is n in bytes, KiB or MiB, as people read sizes.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return plural(int(n), "byte")
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
