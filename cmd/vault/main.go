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
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/vault/vault.sock"

func main() {
	os.Exit(run(os.Args))
}

// newApp builds the command tree.
func newApp() *cli.App {
	app := &cli.App{
		Name:    "vault",
		Usage:   "an encrypted, Raft-replicated vault for cluster secrets",
		Version: buildVersion(),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "socket", Value: DefaultSocket, EnvVars: []string{"VAULT_SOCKET"}, Usage: "the daemon's API socket"},
		}, remoteFlags()...),
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
			auditCommand(),
			mountCommand(),
			unmountCommand(),
			execCommand(),
			{Name: execChild, Hidden: true, SkipFlagParsing: true, Action: func(c *cli.Context) error {
				return runExecChild(c.String("socket"), c.Args().Slice())
			}},
			mountHolder(),
			secretCommand(),
			snapshotCommand(),
			benchCommand(),
			versionCommand(),
			completionCommand(),
			manCommand(),
		},
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		// --secret source=N,target=F,... carries commas of its own.
		DisableSliceFlagSeparator: true,
	}
	addWorkerCommands(app.Commands)
	app.OnUsageError = onUsageError
	setUsageErrors(app.Commands)
	refuseRemote(app.Commands, "")
	indexCommands(app.Commands, app.Name)
	return app
}

func init() {
	cli.HelpPrinter = printHelp
	cli.VersionPrinter = func(c *cli.Context) { printVersion(c.App.Writer) }
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version and exit"}
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "print this help"}
}

// commandPath is the full path of the command being run ("vault secret
// ls"), for hints.
var commandPath = "vault"

// run runs the command line and returns the exit status.
func run(argv []string) int {
	app := newApp()
	n, err := normalizeArgs(app, argv)
	if err != nil {
		printError(err)
		return 1
	}
	commandPath = n.path
	if err := app.Run(n.argv); err != nil {
		printError(err)
		var ee *exitCodeError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// exitCodeError is an error with an exit status other than 1.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }

// onUsageError turns urfave/cli's usage dump into one error line and a hint
// naming the full command.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := commandPath
	if c.Command != nil && c.Command.Name != "" {
		name = pathOf(c.Command)
	}
	return usagef(fmt.Sprintf("`%s --help` shows the usage", name), "%s", flagMessage(err.Error()))
}

// packagePrefixRE matches this module's package names where an error from
// one of them starts ("keys: share 1 was already added"): they mean
// nothing to an operator, and the line already says "vault: error:".
var packagePrefixRE = regexp.MustCompile(`(^|: )(?:(?:api|audit|backup|ca|credsock|crypto|fuse|keys|keyring|logdb|memfd|metrics|mountkeep|raftnet|raftsm|shamir|snapfile|statedir|vault|volplugin): )+`)

func withoutPackagePrefix(msg string) string {
	return packagePrefixRE.ReplaceAllString(msg, "$1")
}

var badValueRE = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([\w-]+): (.*)$`)

// flagMessage rewrites the Go flag package's messages in the CLI's words,
// naming flags the way they are typed (--format, not -format).
func flagMessage(msg string) string {
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		msg := fmt.Sprintf("invalid value %q for --%s", m[1], m[2])
		if why := strings.TrimPrefix(m[3], "parse error"); why != "" {
			msg += ": " + why
		}
		return msg
	}
	if f, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag: " + dashes(f)
	}
	if f, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "flag needs an argument: " + dashes(f)
	}
	return msg
}

// dashes writes a flag as typed: -q, --format.
func dashes(f string) string {
	name := strings.TrimLeft(f, "-")
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		c.HideHelpCommand = true
		setUsageErrors(c.Subcommands)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// printError is the one place errors reach the operator. A usage error
// without a hint of its own points at the command's help.
func printError(err error) {
	var ae *api.Error
	var ue *usageError
	msg, hint := err.Error(), ""
	switch {
	case errors.As(err, &ae):
		msg, hint = ae.Message, ae.Hint
	case errors.As(err, &ue):
		msg, hint = ue.msg, ue.hint
		if hint == "" {
			hint = fmt.Sprintf("`%s --help` shows the usage", commandPath)
		}
	}
	fmt.Fprintf(os.Stderr, "vault: error: %s\n", withoutPackagePrefix(msg))
	for _, h := range strings.Split(hint, "\n") {
		if h != "" {
			fmt.Fprintf(os.Stderr, "vault: hint: %s\n", h)
		}
	}
}

func client(c *cli.Context) *api.Client {
	if h := remoteHost(c); h != "" {
		return remoteClient(h, tlsDir(c))
	}
	return api.NewClient(c.String("socket"))
}
