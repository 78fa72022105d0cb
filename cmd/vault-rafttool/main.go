// Command vault-rafttool reads a vault node's state directory offline:
// it decrypts and prints the Raft log of every shard, the state a snapshot
// holds, the current form of an object, writes a decrypted copy for
// forensics, and verifies everything that is sealed.
//
//	vault-rafttool [-d STATE_DIR] [--unlock-key-file FILE | --unlock-share-file FILE...] COMMAND
//
//	dump-wal       every Raft log entry, decrypted, in index order
//	dump-snapshot  each shard's members and the objects of its state
//	dump-object    one object as it stands now (snapshot + log)
//	decrypt -o DIR a decrypted copy of the state dir, for forensics
//	verify         check every entry, snapshot and value; report key use
//
// # Running against a live node
//
// The daemon holds its databases open. The tool never opens them: it takes
// a private, consistent copy of each (hard links for immutable tables,
// copies of the rest; see internal/checkpoint) in a temporary directory,
// opens the copy read-only and removes it on exit. It writes nothing under
// the state dir.
//
// # Keys
//
// While autolock is off the node's KEK file opens the keyring. A locked
// node (no KEK file, or one that no longer opens the keyring) needs the
// unlock key: --unlock-key-file, a prompt on a terminal, or --unlock-key.
// A mistyped key is reported as a typo, a key of another cluster as such,
// and a key that does not open the keyring as wrong, before anything is
// read. A key split into Shamir shares is given as its shares:
// --unlock-share-file FILE for each (- once for stdin; one share a line).
// Shares made for the KEK name the split that opens a keyring, so a share
// of a previous split is refused as such before any are combined; a typo,
// a duplicate, a share of another split and a corrupt or forged share are
// each named with the file it came from.
//
// # Output
//
// stdout carries the requested output only (text, or JSON with --format
// json); diagnostics go to stderr as "vault-rafttool: error: ..." and
// "vault-rafttool: hint: ...". Secret data and other secrets (the CA key,
// join tokens, the unlock key the cluster record keeps while autolock is
// on) are printed unless --redact is given. Damaged records are
// reported with their place on stderr as "vault-rafttool: warning: ...";
// the tool goes on with the rest.
//
// Exit status: 0 when everything was read, 1 on an error that stopped the
// command, 2 when the command finished but found damaged or unreadable
// records.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

const (
	progName = "vault-rafttool"
	// DefaultStateDir is where a packaged daemon keeps its state.
	DefaultStateDir = "/var/lib/vault"
)

// Exit codes.
const (
	exitError    = 1
	exitProblems = 2
)

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program, with its streams, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	var notFound error
	app.CommandNotFound = func(_ *cli.Context, name string) {
		notFound = usagef("commands: dump-wal, dump-snapshot, dump-object, decrypt, verify", "unknown command %q", name)
	}
	err := app.Run(args)
	if err == nil {
		err = notFound
	}
	if err == nil {
		return 0
	}
	var pe *problemsError
	if errors.As(err, &pe) {
		printError(stderr, err)
		return exitProblems
	}
	printError(stderr, err)
	return exitError
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      progName,
		Usage:     "decrypt and inspect a vault node's Raft logs, snapshots and state, offline",
		UsageText: progName + " [-d STATE_DIR] [--unlock-key-file FILE | --unlock-share-file FILE...] COMMAND [OPTIONS]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Aliases: []string{"d"}, Value: DefaultStateDir, Usage: "the node's state directory (the daemon's --state-dir)"},
			&cli.StringFlag{Name: "unlock-key", Usage: "the unlock key of a locked node (prefer --unlock-key-file: flags show in ps)"},
			&cli.StringFlag{Name: "unlock-key-file", Usage: "read the unlock key from `FILE` (- for stdin)"},
			&cli.StringSliceFlag{Name: "unlock-share-file", Usage: "read Shamir shares of the unlock key from `FILE`, one a line (repeat for each; - once for stdin)"},
			&cli.StringFlag{Name: "temp-dir", Usage: "where the private copy of the databases goes (default $TMPDIR; the state dir's file system avoids copying)"},
		},
		Commands: []*cli.Command{
			dumpWALCommand(),
			dumpSnapshotCommand(),
			dumpObjectCommand(),
			decryptCommand(),
			verifyCommand(),
		},
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
	}
	app.OnUsageError = onUsageError
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: "text", Usage: "text or json"}
}

func redactFlag() cli.Flag {
	return &cli.BoolFlag{Name: "redact", Usage: "replace secret data (and the CA key, join tokens and unlock key) with a placeholder"}
}

func shardFlag() cli.Flag {
	return &cli.Uint64Flag{Name: "shard", Usage: "only this shard (1 is the control shard; default: all)"}
}

// checkFormat returns whether JSON was asked for.
func checkFormat(c *cli.Context) (bool, error) { return parseFormat(c.String("format")) }

func parseFormat(f string) (bool, error) {
	switch f {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, usagef("--format is text or json", "unknown --format %q", f)
	}
}

// onUsageError turns urfave/cli's usage dump into one error line and a hint.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := progName
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return usagef(fmt.Sprintf("`%s --help` shows the usage", name), "%v", err)
}

// hintError is an error with advice on what to do about it.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

func usagef(hint, format string, args ...any) error {
	return withHint(fmt.Errorf(format, args...), hint)
}

// problemsError ends a command that finished but found damaged records.
type problemsError struct{ n int }

func (e *problemsError) Error() string {
	if e.n == 1 {
		return "1 record could not be read (see the warning above)"
	}
	return fmt.Sprintf("%d records could not be read (see the warnings above)", e.n)
}

// printError is the one place errors reach the operator.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "%s: error: %v\n", progName, err)
	var he *hintError
	if errors.As(err, &he) && he.hint != "" {
		fmt.Fprintf(w, "%s: hint: %s\n", progName, he.hint)
	}
}

func warnf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s: warning: %s\n", progName, fmt.Sprintf(format, args...))
}
