package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
)

// addWorkerCommands adds the commands of grants and node labels to the
// secret and node commands.
func addWorkerCommands(cmds []*cli.Command) {
	for _, c := range cmds {
		switch c.Name {
		case "secret":
			c.Subcommands = append(c.Subcommands, grantCommand(false), grantCommand(true))
		case "node":
			c.Usage = "list, inspect, label, promote, demote and remove nodes"
			c.Subcommands = append(c.Subcommands, nodeInspectCommand(), nodeUpdateCommand(), nodeRoleCommand(true), nodeRoleCommand(false))
		}
	}
}

// grantCommand is `vault secret grant` (revoke false) and `vault secret
// revoke`.
func grantCommand(revoke bool) *cli.Command {
	name, usage := "grant", "let a node, or nodes with a label, receive a secret"
	if revoke {
		name, usage = "revoke", "remove a grant: covered workers drop the secret"
	}
	path := "vault secret " + name
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "NAME|ID",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "node", Usage: "a node id (repeatable)"},
			&cli.StringSliceFlag{Name: "node-label", Usage: "a node label KEY=VALUE: every node carrying it (repeatable)"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef(path+" NAME --node ID | --node-label KEY=VALUE", "name one secret")
			}
			var reqs []api.GrantRequest
			for _, id := range c.StringSlice("node") {
				reqs = append(reqs, api.GrantRequest{NodeID: id})
			}
			for _, l := range c.StringSlice("node-label") {
				reqs = append(reqs, api.GrantRequest{Label: l})
			}
			if len(reqs) == 0 {
				return usagef(path+" NAME --node ID | --node-label KEY=VALUE", "say whom: give --node ID or --node-label KEY=VALUE")
			}
			ref := c.Args().First()
			for _, req := range reqs {
				var s *api.Secret
				var err error
				if revoke {
					s, err = client(c).RevokeSecret(c.Context, ref, req)
				} else {
					s, err = client(c).GrantSecret(c.Context, ref, req)
				}
				if err != nil {
					return err
				}
				target := "node=" + req.NodeID
				if req.Label != "" {
					target = "node.label=" + req.Label
				}
				if revoke {
					fmt.Printf("Revoked %s from %s (%d grants left).\n", s.Name, target, len(s.Grants))
				} else {
					fmt.Printf("Granted %s to %s.\n", s.Name, target)
				}
			}
			return nil
		},
	}
}

func nodeInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show nodes: role, state, labels and the secrets each may receive",
		ArgsUsage: "ID...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "pretty", Usage: "print in a human-friendly format"},
		},
		Action: func(c *cli.Context) error {
			if !c.Args().Present() {
				return usagef("vault node inspect ID...", "name the node")
			}
			var out []api.NodeInspect
			var errs []error
			for _, id := range c.Args().Slice() {
				n, err := client(c).InspectNode(c.Context, id)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out = append(out, *n)
			}
			if c.Bool("pretty") {
				printNodesPretty(out)
			} else if out == nil {
				if err := printJSON([]api.NodeInspect{}); err != nil {
					return err
				}
			} else if err := printJSON(out); err != nil {
				return err
			}
			return firstAfterPrinting(errs)
		},
	}
}

func printNodesPretty(nodes []api.NodeInspect) {
	for i, n := range nodes {
		if i > 0 {
			fmt.Println()
		}
		fmt.Printf("ID:          %s\n", n.ID)
		fmt.Printf("Role:        %s\n", n.Role)
		fmt.Printf("State:       %s\n", n.Status)
		if n.Addr != "" {
			fmt.Printf("Address:     %s\n", n.Addr)
		}
		keys := make([]string, 0, len(n.Labels))
		for k := range n.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			fmt.Println("Labels:")
			for _, k := range keys {
				fmt.Printf(" - %s=%s\n", k, n.Labels[k])
			}
		}
		if len(n.Grants) == 0 {
			fmt.Println("May receive: nothing (no grant names this node or its labels)")
			continue
		}
		fmt.Println("May receive:")
		for _, g := range n.Grants {
			via := "node=" + g.NodeID
			if g.Label != "" {
				via = "node.label=" + g.Label
			}
			fmt.Printf(" - %s (%s)\n", g.Name, via)
		}
	}
}

func nodeUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change a node's labels (grants by label follow at once)",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "label-add", Usage: "add or change a label KEY=VALUE (repeatable)"},
			&cli.StringSliceFlag{Name: "label-rm", Usage: "remove a label by its key (repeatable)"},
		},
		Action: func(c *cli.Context) error {
			const hint = "vault node update --label-add KEY=VALUE --label-rm KEY ID"
			if c.Args().Len() != 1 {
				return usagef(hint, "give one node id")
			}
			req := api.NodeUpdateRequest{LabelAdd: c.StringSlice("label-add"), LabelRm: c.StringSlice("label-rm")}
			for _, k := range req.LabelRm {
				if strings.Contains(k, "=") {
					return usagef(hint, "--label-rm takes a key, not %q", k)
				}
			}
			if len(req.LabelAdd) == 0 && len(req.LabelRm) == 0 {
				return usagef(hint, "nothing to update: give --label-add or --label-rm")
			}
			n, err := client(c).UpdateNode(c.Context, c.Args().First(), req)
			if err != nil {
				return err
			}
			fmt.Println(n.ID)
			return nil
		},
	}
}

// printWorkerStatus is `vault status` on a worker: its stream and how
// stale what it serves may be.
func printWorkerStatus(s *api.Status) error {
	w := s.Worker
	fmt.Printf("Initialized:  true\nRole:         worker\nLocked:       %v\nNode ID:      %s\nCluster ID:   %s\n", s.Locked, s.NodeID, s.ClusterID)
	switch {
	case s.Removed:
		fmt.Println("Removed:      this worker was removed from the cluster; it holds nothing")
	case w.Connected:
		fmt.Printf("Manager:      %s (streaming)\n", w.Manager)
	case w.LastContact.IsZero():
		fmt.Println("Manager:      none reached yet")
	default:
		fmt.Printf("Manager:      none reachable; serving what it held %s ago (stale)\n", w.Stale)
	}
	fmt.Printf("Managers:     %s\nSecrets:      %d held in memory\n", strings.Join(w.Managers, ", "), w.Secrets)
	if w.Error != "" && !w.Connected {
		fmt.Printf("Last error:   %s\n", w.Error)
	}
	if w.UnlockedBuffers > 0 {
		fmt.Fprintf(os.Stderr, "vault: warning: %d secrets could not be locked into RAM: raise the daemon's RLIMIT_MEMLOCK (LimitMEMLOCK= in its unit)\n", w.UnlockedBuffers)
	}
	if s.Locked {
		fmt.Fprintln(os.Stderr, "vault: hint: a locked worker holds nothing; restart its daemon to fetch its secrets again")
	}
	return nil
}
