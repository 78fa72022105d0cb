package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vaultd/vault/api"
)

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "data keys: status, rotation, retirement",
		Subcommands: []*cli.Command{
			{
				Name:  "status",
				Usage: "every data key version, its state, and what is still sealed under it on every manager",
				Flags: []cli.Flag{objectFormatFlag(".DEKs, .Unreachable, .MaxAge, .MaxSeals, .Rotation")},
				Action: func(c *cli.Context) error {
					ks, err := client(c).KeyStatus(c.Context)
					if err != nil {
						return err
					}
					if f := c.String("format"); f != "" && f != "table" {
						return printFormatted(f, ks)
					}
					printKeyStatus(ks)
					return nil
				},
			},
			{
				Name:  "rotate",
				Usage: "make a new data key the active one (--full: also re-seal everything and compact)",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "full", Usage: "re-seal every stored value under the new key, then snapshot and compact every group"},
					&cli.IntFlag{Name: "batch", Value: 0, Usage: "at most this many secrets re-sealed per step on each manager (--full; 0: as many as it re-seals in 2 seconds)"},
				},
				Action: func(c *cli.Context) error {
					if !c.Bool("full") {
						r, err := client(c).RotateKey(c.Context, false)
						if err != nil {
							return err
						}
						fmt.Printf("Data key v%d is active. Old keys still open what they sealed; `vault key rotate --full` re-seals it.\n", r.Version)
						return nil
					}
					return fullRotation(c)
				},
			},
			{
				Name:      "retire",
				Usage:     "remove an old data key, once nothing on any manager is sealed under it",
				ArgsUsage: "VERSION",
				Action: func(c *cli.Context) error {
					if c.Args().Len() != 1 {
						return usagef("vault key retire VERSION (e.g. 1 or v1)", "give one version")
					}
					v, err := strconv.ParseUint(strings.TrimPrefix(c.Args().First(), "v"), 10, 32)
					if err != nil {
						return usagef("vault key status lists the versions", "bad version %q", c.Args().First())
					}
					if err := client(c).RetireKey(c.Context, uint32(v)); err != nil {
						return err
					}
					fmt.Printf("Data key v%d is retired: no manager holds it any more.\n", v)
					return nil
				},
			},
		},
	}
}

func printKeyStatus(ks *api.KeyStatus) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "VERSION\tSTATE\tCREATED\tSEALS\tVALUES\tLOG ENTRIES\tSNAPSHOTS")
	for _, d := range ks.DEKs {
		fmt.Fprintf(w, "v%d\t%s\t%s\t%d\t%d\t%d\t%d\n", d.Version, d.State, ago(d.CreatedAt), d.Seals, d.Values, d.LogEntries, d.Snapshots)
	}
	w.Flush()
	if ks.Rotation != 0 {
		fmt.Printf("\nA full rotation to v%d is in progress: run `vault key rotate --full` to continue it.\n", ks.Rotation)
	}
	if len(ks.Unreachable) > 0 {
		fmt.Printf("\nNot counted (unreachable): %s\n", strings.Join(ks.Unreachable, ", "))
	}
}

// fullRotation drives a full rotation step by step: rotate (or resume),
// re-seal in batches with progress, compact every manager, verify.
// Interrupted at any point (Ctrl-C, a leader change, a crash), running it
// again continues.
func fullRotation(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cl := client(c)
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	r, err := cl.RotateKey(ctx, true)
	if err != nil {
		return err
	}
	if r.Resumed {
		fmt.Printf("Resuming the full rotation to data key v%d.\n", r.Version)
	} else {
		fmt.Printf("Data key v%d is active; re-sealing everything under it.\n", r.Version)
	}
	for attempt := 0; ; attempt++ {
		if err := resealAll(ctx, cl, c.Int("batch"), tty); err != nil {
			return interrupted(ctx, err)
		}
		fmt.Println("Compacting every group on every manager...")
		if _, err := cl.Compact(ctx); err != nil {
			return interrupted(ctx, err)
		}
		ks, err := finishRotation(ctx, cl)
		if err == nil {
			fmt.Printf("Full rotation to v%d done: nothing on any manager is sealed under an older key.\n", r.Version)
			printKeyStatus(ks)
			fmt.Println("\nRetire old versions with `vault key retire VERSION`.")
			return nil
		}
		if !api.IsCode(err, api.CodeConflict) || attempt == 3 {
			return interrupted(ctx, err)
		}
		fmt.Printf("Writes sealed under an old key arrived meanwhile (%v); another pass.\n", err)
	}
}

// finishRotation asks the cluster to check that nothing is sealed under an
// older key and to end the rotation. Right after the compaction every
// manager's groups have restarted and are electing, and at 100,000 secrets on
// a busy machine that took longer than one request's wait: an answer that the
// managers or their groups are unavailable is asked again, for up to two
// minutes (the check only reads, and ending the rotation twice is harmless).
func finishRotation(ctx context.Context, cl *api.Client) (*api.KeyStatus, error) {
	deadline := time.Now().Add(finishWait)
	told := false
	for {
		ks, err := cl.FinishRotation(ctx)
		if err == nil || !api.IsCode(err, api.CodeUnavailable) || time.Now().After(deadline) {
			return ks, err
		}
		if !told {
			fmt.Printf("Waiting for the managers' groups to elect after the compaction (%v)...\n", err)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// finishWait bounds finishRotation's asking again.
var finishWait = 2 * time.Minute

func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return usagef("run `vault key rotate --full` again to continue where it stopped", "interrupted")
	}
	if ae, ok := err.(*api.Error); ok && ae.Hint == "" {
		ae.Hint = "run `vault key rotate --full` again: it continues where it stopped"
	}
	return err
}

// resealStall is how long re-sealing may go without re-sealing anything
// (every candidate changing under it) before the command gives up.
const resealStall = time.Minute

func resealAll(ctx context.Context, cl *api.Client, batch int, tty bool) error {
	start := time.Now()
	done, total := 0, -1
	lastLine, lastProgress := time.Time{}, time.Now()
	for {
		p, err := cl.Reseal(ctx, batch)
		if err != nil {
			return err
		}
		done += p.Resealed
		if total < 0 {
			total = p.Resealed + p.Remaining
		}
		total = max(total, done+p.Remaining)
		if p.Remaining == 0 {
			total = done // a manager says 1 left until its count says none
		}
		rate := float64(done) / time.Since(start).Seconds()
		eta := "-"
		if rate > 0 {
			eta = (time.Duration(float64(p.Remaining)/rate) * time.Second).Round(time.Second).String()
		}
		if tty {
			width := 30
			filled := width
			if total > 0 {
				filled = width * done / total
			}
			fmt.Printf("\r[%s%s] %d/%d re-sealed  %.0f/s  ETA %s   ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, rate, eta)
		} else if time.Since(lastLine) > time.Second || p.Remaining == 0 {
			fmt.Printf("re-sealed %d/%d (%.0f/s, ETA %s)\n", done, total, rate, eta)
			lastLine = time.Now()
		}
		if p.Remaining == 0 {
			if tty {
				fmt.Println()
			}
			return nil
		}
		if p.Resealed > 0 {
			lastProgress = time.Now()
		} else if time.Since(lastProgress) > resealStall {
			if tty {
				fmt.Println()
			}
			return fmt.Errorf("re-sealing made no progress for %s: the managers count %d secrets left and re-sealed none of them "+
				"(values written under an older key faster than the managers re-seal them?); run `vault key rotate --full` again, and if it stops "+
				"here again, keep the daemon logs and `vault key status --format json`", resealStall, p.Remaining)
		}
		if p.Resealed == 0 {
			// Everything left changed under us; give writers a moment.
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}
