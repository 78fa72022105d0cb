package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
)

// nodeRoleCommand is `vault node promote` (promote true) and `vault node
// demote`. The node joins again in its new role, under a new id: the
// command waits for it and prints both ids.
func nodeRoleCommand(promote bool) *cli.Command {
	name, usage := "promote", "make a worker a manager (it joins again as a manager, under a new id)"
	if !promote {
		name, usage = "demote", "make a manager a worker (it leaves and joins again as a worker, under a new id)"
	}
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("vault node "+name+" ID", "name one node")
			}
			var rc *api.RoleChange
			var err error
			if promote {
				rc, err = client(c).PromoteNode(c.Context, c.Args().First())
			} else {
				rc, err = client(c).DemoteNode(c.Context, c.Args().First())
			}
			if err != nil {
				return err
			}
			fmt.Printf("Node %s is a %s now, as node %s (labels and node grants moved with it).\n", rc.ID, rc.Role, rc.NewID)
			return nil
		},
	}
}
