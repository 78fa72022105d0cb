package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/vault"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "create, join and leave a cluster",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create a cluster with this node as its first manager",
				Flags: []cli.Flag{shardsFlag()},
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						return usagef("", "cluster init takes no arguments")
					}
					if err := checkShards(c); err != nil {
						return err
					}
					r, err := client(c).Init(c.Context, api.InitRequest{Shards: c.Int("shards")})
					if err != nil {
						return err
					}
					fmt.Printf("Cluster %s initialized; this node is %s; %d secret groups.\n", r.ClusterID, r.NodeID, r.Shards)
					fmt.Println("To add a manager, run `vault cluster join-token manager` and follow its instructions.")
					return nil
				},
			},
			clusterUpdateCommand(),
			clientCommand(),
			clusterRestoreCommand(),
			clusterRecoverCommand(),
			{
				Name:      "join",
				Usage:     "join this fresh node to a cluster as a manager or a worker (the token decides)",
				ArgsUsage: "MANAGER_API_ADDR",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "token", Usage: "a join token, as 'vault cluster join-token manager' prints it (visible to other users in ps: prefer --token-file)"},
					&cli.StringFlag{Name: "token-file", Usage: "read the join token from this file, or from stdin with -"},
				},
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return usagef("vault cluster join --token-file FILE MANAGER_API_ADDR", "give one manager address")
					}
					token, err := joinToken(c)
					if err != nil {
						return err
					}
					r, err := client(c).Join(c.Context, api.JoinRequest{Token: token, ManagerAddr: c.Args().First()})
					if err != nil {
						return err
					}
					role := "manager"
					if r.Role != "" {
						role = r.Role
					}
					fmt.Printf("This node joined cluster %s as %s %s.\n", r.ClusterID, role, r.NodeID)
					return nil
				},
			},
			{
				Name:      "join-token",
				Usage:     "print (or rotate) the token to join as a manager or worker",
				ArgsUsage: "manager|worker",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "rotate", Usage: "replace the token; the old one stops working"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the token only"},
				},
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return usagef("vault cluster join-token manager|worker", "name the role")
					}
					r, err := client(c).JoinToken(c.Context, c.Args().First(), c.Bool("rotate"))
					if err != nil {
						return err
					}
					if c.Bool("quiet") {
						fmt.Println(r.Token)
						return nil
					}
					st, err := client(c).Status(c.Context)
					if err != nil {
						return err
					}
					if r.Rotated {
						fmt.Printf("Rotated the %s join token; the old one no longer works.\n\n", r.Role)
					}
					fmt.Printf("To add a %s to this cluster, run on a fresh node (its daemon running):\n\n", r.Role)
					fmt.Printf("    vault cluster join --token %s %s\n\n", r.Token, st.APIAddr)
					return nil
				},
			},
			{
				Name:  "leave",
				Usage: "take this node out of the cluster and wipe its cluster state",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "leave even if this breaks quorum or ends the cluster"}},
				Action: func(c *cli.Context) error {
					if err := client(c).Leave(c.Context, c.Bool("force")); err != nil {
						return err
					}
					fmt.Println("This node left the cluster.")
					return nil
				},
			},
		},
	}
}

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "list and remove managers",
		Subcommands: []*cli.Command{
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list the managers: state and how many groups each leads",
				Flags:   listFlags(nodeFields, "id=ID, name=NAME, role=manager, state=ready|locked|unreachable"),
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						return usagef("", "node ls takes no arguments")
					}
					f, err := parseFilters(c.StringSlice("filter"), "id", "name", "role", "state")
					if err != nil {
						return err
					}
					nodes, err := client(c).Nodes(c.Context)
					if err != nil {
						return err
					}
					rows := filterRows(nodeRows(nodes), func(r nodeRow) bool {
						return f.any("id", func(v string) bool { return strings.HasPrefix(r.ID, v) }) &&
							f.any("name", func(v string) bool { return strings.HasPrefix(r.Name, v) }) &&
							f.any("role", func(v string) bool { return r.Role == v }) &&
							f.any("state", func(v string) bool { return r.State == v })
					})
					return nodeList.print(c, rows)
				},
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "remove a dead manager from every group",
				ArgsUsage: "ID",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "remove even a reachable node, or one whose removal breaks quorum"}},
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return usagef("vault node rm ID", "give one node id")
					}
					n, err := client(c).RemoveNode(c.Context, c.Args().First(), c.Bool("force"))
					if err != nil {
						return err
					}
					fmt.Println(n.ID)
					return nil
				},
			},
		},
	}
}

// joinToken reads the join token from --token or --token-file (a file, or
// stdin with -), never both.
func joinToken(c *cli.Context) (string, error) {
	const hint = "vault cluster join --token-file FILE MANAGER_API_ADDR (- reads stdin)"
	switch {
	case c.IsSet("token") && c.IsSet("token-file"):
		return "", usagef(hint, "give --token or --token-file, not both")
	case c.IsSet("token"):
		return c.String("token"), nil
	case !c.IsSet("token-file"):
		return "", usagef(hint, "no join token: give --token-file FILE, or --token TOKEN")
	}
	var b []byte
	var err error
	if file := c.String("token-file"); file == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		b, err = os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return "", usagef(hint, "%q does not exist", file)
		}
	}
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", usagef("`vault cluster join-token manager` on a manager prints the token", "the join token is empty")
	}
	return token, nil
}

// shardsFlag is --shards of `cluster init` and `dev`: left unset, the
// daemon picks vault.DefaultShards for its machine.
func shardsFlag() cli.Flag {
	return &cli.IntFlag{Name: "shards", Usage: "secret groups, fixed for the cluster's life; the default is one per 4 CPUs, 1 to 4",
		DefaultText: fmt.Sprintf("%d on this machine", vault.DefaultShards())}
}

// checkShards refuses an explicit --shards outside 1..MaxShards.
func checkShards(c *cli.Context) error {
	if n := c.Int("shards"); c.IsSet("shards") && (n < 1 || n > vault.MaxShards) {
		return usagef("leave --shards out for this machine's default", "--shards %d: want 1 to %d secret groups", n, vault.MaxShards)
	}
	return nil
}
