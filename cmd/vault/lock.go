package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vaultd/vault/api"
)

func shareFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "key-shares", Usage: "split the unlock key into N Shamir shares (with --key-threshold)"},
		&cli.IntFlag{Name: "key-threshold", Usage: "how many shares unlock a manager"},
	}
}

func clusterUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:  "update",
		Usage: "change cluster settings",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "autolock", Usage: "managers need the unlock key after a restart; --autolock=false: each keeps its KEK on disk"},
			&cli.DurationFlag{Name: "dek-max-age", Usage: "rotate the data key automatically when it is this old (0: default 720h)"},
			&cli.Uint64Flag{Name: "dek-max-seals", Usage: "rotate the data key automatically after this many seals (0: default 2^30)"},
			&cli.IntFlag{Name: "max-versions", Usage: "secrets without their own limit keep at most N data versions, dropping the oldest at their next update (0: all)"},
		}, shareFlags()...),
		Action: func(c *cli.Context) error {
			if a := c.Args().First(); a == "true" || a == "false" {
				return usagef(fmt.Sprintf("vault cluster update --autolock=%s", a), "%q is not an argument: join it to the flag with =", a)
			}
			if c.Args().Present() {
				return usagef("vault cluster update --autolock[=true|false]", "cluster update takes no arguments")
			}
			if c.IsSet("max-versions") {
				if err := client(c).SetVersionPolicy(c.Context, api.VersionPolicy{MaxVersions: c.Int("max-versions")}); err != nil {
					return err
				}
				fmt.Println("Version limit updated.")
				if !c.IsSet("autolock") && !c.IsSet("dek-max-age") && !c.IsSet("dek-max-seals") {
					return nil
				}
			}
			if c.IsSet("dek-max-age") || c.IsSet("dek-max-seals") {
				err := client(c).SetRotationPolicy(c.Context, api.RotationPolicy{
					MaxAge: c.Duration("dek-max-age"), SetMaxAge: c.IsSet("dek-max-age"),
					MaxSeals: c.Uint64("dek-max-seals"), SetMaxSeals: c.IsSet("dek-max-seals"),
				})
				if err != nil {
					return err
				}
				fmt.Println("Automatic data key rotation updated.")
				if !c.IsSet("autolock") {
					return nil
				}
			}
			if !c.IsSet("autolock") {
				return usagef("vault cluster update --autolock[=true|false], --dek-max-age D, --dek-max-seals N, --max-versions N", "nothing to update")
			}
			enable := c.Bool("autolock")
			r, err := client(c).SetAutolock(c.Context, api.AutolockRequest{Enable: enable, KeyShares: c.Int("key-shares"), KeyThreshold: c.Int("key-threshold"), Prepare: true})
			if err != nil {
				return err
			}
			cmd := "vault cluster update --autolock=" + c.String("autolock")
			if _, err := runKEKChange(c, r, false, cmd); err != nil {
				return err
			}
			if !enable {
				fmt.Println("Autolock is off.")
				fmt.Fprintln(os.Stderr, "vault: warning: every manager stores its KEK on its own disk again: a copy of any manager's disk now opens every secret. This protects nothing against a disk image.")
				return nil
			}
			fmt.Println("Autolock is on.")
			return nil
		},
	}
}

func printUnlockKey(r *api.UnlockKeyResponse) {
	if len(r.Shares) > 0 {
		fmt.Printf("The unlock key is split into %d shares; any %d of them unlock a manager\n", len(r.Shares), r.Threshold)
		fmt.Printf("(run `vault unlock` once per share):\n\n")
		for i, s := range r.Shares {
			fmt.Printf("    share %d: %s\n", i+1, s)
		}
		fmt.Printf("\nGive each share to a different key holder and store them offline. Once the change is\ndone, the whole key is kept nowhere and these shares are not shown again.\n")
		return
	}
	fmt.Printf("To unlock a manager after it restarts, run `vault unlock` and give this key:\n\n    %s\n\n", r.Key)
	fmt.Printf("Store it offline (a password manager, a safe): without it a restarted manager cannot\nread its own data. `vault unlock-key` shows it again on an unlocked manager.\n")
}

// runKEKChange shows the key of a prepared KEK change, then (and only
// then) commits it: no manager depends on the new key before it was shown.
func runKEKChange(c *cli.Context, r *api.UnlockKeyResponse, quiet bool, cmd string) (*api.UnlockKeyResponse, error) {
	if r.Resumed && !quiet {
		fmt.Printf("Continuing the KEK change started %s (KEK version %d, %s).\n",
			time.Unix(0, r.Started).UTC().Format(time.RFC3339), r.KEKVersion, r.Phase)
	}
	if r.Autolock {
		if quiet {
			printKeyQuiet(r)
		} else {
			printUnlockKey(r)
			fmt.Println()
		}
	}
	if r.ChangeID == "" {
		return r, nil // a daemon that changed it in one call
	}
	done, err := client(c).CommitKEKChange(c.Context, r.ChangeID)
	if err != nil {
		if r.Autolock {
			fmt.Fprintf(os.Stderr, "vault: warning: the change is not finished; the key shown above is recorded and unlocks the managers that switched to it: run `%s` again to finish it (it shows the same key)\n", cmd)
		} else {
			fmt.Fprintf(os.Stderr, "vault: warning: the change is not finished: run `%s` again to finish it\n", cmd)
		}
		return nil, err
	}
	return done, nil
}

func printKeyQuiet(r *api.UnlockKeyResponse) {
	if r.Key != "" {
		fmt.Println(r.Key)
	}
	for _, s := range r.Shares {
		fmt.Println(s)
	}
}

func unlockKeyCommand() *cli.Command {
	return &cli.Command{
		Name:  "unlock-key",
		Usage: "show the current unlock key, or rotate it",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "rotate", Usage: "make a new unlock key and a new data key; the old key stops working after a restart (run again to finish an interrupted rotation)"},
			&cli.BoolFlag{Name: "abort", Usage: "undo a KEK change that has not started switching managers"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print the key only"},
		}, shareFlags()...),
		Action: func(c *cli.Context) error {
			var r *api.UnlockKeyResponse
			var err error
			if c.Bool("abort") {
				if c.Bool("rotate") {
					return usagef("vault unlock-key --abort", "--abort and --rotate do not go together")
				}
				r, err := client(c).AbortKEKChange(c.Context)
				if err != nil {
					return err
				}
				fmt.Printf("Aborted the KEK change to KEK version %d: nothing used its key, the current key stays.\n", r.KEKVersion)
				return nil
			}
			if c.Bool("rotate") {
				r, err = client(c).RotateUnlockKey(c.Context, api.UnlockKeyRequest{KeyShares: c.Int("key-shares"), KeyThreshold: c.Int("key-threshold"), Prepare: true})
				if err != nil {
					return err
				}
				done, err := runKEKChange(c, r, c.Bool("quiet"), "vault unlock-key --rotate")
				if err != nil {
					return err
				}
				if !c.Bool("quiet") {
					fmt.Printf("Rotated the unlock key (KEK version %d) and activated data key v%d.\n", done.KEKVersion, done.DEKVersion)
				}
				return nil
			} else {
				if c.IsSet("key-shares") || c.IsSet("key-threshold") {
					return usagef("vault unlock-key --rotate --key-shares N --key-threshold T", "--key-shares and --key-threshold go with --rotate")
				}
				r, err = client(c).UnlockKey(c.Context)
			}
			if err != nil {
				return err
			}
			if c.Bool("quiet") {
				printKeyQuiet(r)
				if p := r.Pending; p != nil {
					printKeyQuiet(p)
				}
				return nil
			}
			if r.Key != "" || len(r.Shares) > 0 {
				printUnlockKey(r)
			}
			if p := r.Pending; p != nil {
				fmt.Printf("\nAn unlock-key change to KEK version %d is in progress (%s, started %s): a manager\nrestarted now may need its new key. Run `vault unlock-key --rotate` to finish it.\n\n",
					p.KEKVersion, p.Phase, time.Unix(0, p.Started).UTC().Format(time.RFC3339))
				printUnlockKey(p)
			}
			return nil
		},
	}
}

func unlockCommand() *cli.Command {
	return &cli.Command{
		Name:  "unlock",
		Usage: "unlock this manager with the unlock key, or one Shamir share at a time",
		Flags: []cli.Flag{&cli.StringFlag{Name: "key-file", Usage: "read the key (or a share) from this file"}},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("vault unlock [--key-file F], or pipe the key to stdin", "the key is never taken from the command line")
			}
			key, err := readKey(c.String("key-file"))
			if err != nil {
				return err
			}
			r, err := client(c).Unlock(c.Context, key)
			if err != nil {
				return err
			}
			if !r.Unlocked {
				fmt.Printf("Unlock progress: %d of %d shares.\n", r.SharesGiven, r.SharesNeeded)
				return nil
			}
			fmt.Println("This manager is unlocked.")
			return nil
		},
	}
}

// readKey reads a key from a file, the terminal (without echo) or stdin.
func readKey(file string) (string, error) {
	var b []byte
	var err error
	switch {
	case file != "":
		b, err = os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return "", usagef("give the file the key was saved in, or pipe the key to stdin", "%q does not exist", file)
		}
	case term.IsTerminal(int(os.Stdin.Fd())):
		fmt.Fprint(os.Stderr, "Unlock key (or share): ")
		b, err = term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
	default:
		b, err = io.ReadAll(io.LimitReader(bufio.NewReader(os.Stdin), 4096))
	}
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", usagef("the key starts with VLTKEY-1- (a share with VLTSHR-)", "no key given")
	}
	return key, nil
}

func lockCommand() *cli.Command {
	return &cli.Command{
		Name:  "lock",
		Usage: "lock this manager now: stop its replicas and wipe its keys from memory",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "lock even if the cluster loses its quorum"}},
		Action: func(c *cli.Context) error {
			if err := client(c).Lock(c.Context, c.Bool("force")); err != nil {
				return err
			}
			fmt.Println("This manager is locked; `vault unlock` brings it back.")
			return nil
		},
	}
}
