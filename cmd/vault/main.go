// Command vault is the vault daemon and its command-line client.
//
// Every command but `daemon` and `dev` talks to the local daemon over its Unix
// socket. Diagnostics go to stderr as "vault: error: ..." and "vault: hint: ...";
// stdout carries only results.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/vault/vault.sock"

func main() {
	app := &cli.App{
		Name:  "vault",
		Usage: "an encrypted, Raft-replicated vault for cluster secrets",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Value: DefaultSocket, EnvVars: []string{"VAULT_SOCKET"}, Usage: "the daemon's API socket"},
		},
		Commands: []*cli.Command{
			daemonCommand(),
			devCommand(),
			statusCommand(),
			clusterCommand(),
			nodeCommand(),
			unlockCommand(),
			lockCommand(),
			unlockKeyCommand(),
			keyCommand(),
			mountCommand(),
			unmountCommand(),
			execCommand(),
			{Name: execChild, Hidden: true, SkipFlagParsing: true, Action: func(c *cli.Context) error {
				return runExecChild(c.String("socket"), c.Args().Slice())
			}},
			secretCommand(),
			benchCommand(),
		},
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		// --secret source=N,target=F,... carries commas of its own.
		DisableSliceFlagSeparator: true,
	}
	app.OnUsageError = onUsageError
	setUsageErrors(app.Commands)
	if err := app.Run(os.Args); err != nil {
		printError(err)
		os.Exit(1)
	}
}

// onUsageError turns urfave/cli's usage dump into one error line and a hint.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "vault"
	if c.Command != nil && c.Command.FullName() != "" {
		name = "vault " + c.Command.FullName()
	}
	return usagef(fmt.Sprintf("`%s --help` shows the usage", name), "%v", err)
}

func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		setUsageErrors(c.Subcommands)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// printError is the one place errors reach the operator.
func printError(err error) {
	var ae *api.Error
	var ue *usageError
	switch {
	case errors.As(err, &ae):
		fmt.Fprintf(os.Stderr, "vault: error: %s\n", ae.Message)
		if ae.Hint != "" {
			fmt.Fprintf(os.Stderr, "vault: hint: %s\n", ae.Hint)
		}
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "vault: error: %s\n", ue.msg)
		if ue.hint != "" {
			fmt.Fprintf(os.Stderr, "vault: hint: %s\n", ue.hint)
		}
	default:
		fmt.Fprintf(os.Stderr, "vault: error: %v\n", err)
	}
}

func client(c *cli.Context) *api.Client {
	return api.NewClient(c.String("socket"))
}
