package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/backup"
	"github.com/vaultd/vault/internal/statedir"
)

func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "save and inspect snapshot files of the whole cluster",
		Subcommands: []*cli.Command{
			{
				Name:      "save",
				Usage:     "save a consistent snapshot of every group, sealed, to FILE (- for stdout)",
				ArgsUsage: "FILE|-",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key-file", Usage: "autolock off: seal the snapshot for the snapshot key in this file instead of a new one"},
				},
				Action: snapshotSave,
			},
			{
				Name:      "inspect",
				Usage:     "show a snapshot file's cluster, time, groups, counts and key versions, and check its integrity",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "unlock-key-file", Usage: "also check that the key in this file (unlock key, shares one per line, or snapshot key) opens it"},
					&cli.StringFlag{Name: "format", Usage: "json"},
				},
				Action: snapshotInspect,
			},
		},
	}
}

func snapshotSave(c *cli.Context) error {
	const hint = "vault snapshot save FILE|-"
	if c.Args().Len() != 1 {
		return usagef(hint, "give one file to save to (- for stdout)")
	}
	req := api.SnapshotRequest{}
	if f := c.String("key-file"); f != "" {
		key, err := readKey(f)
		if err != nil {
			return err
		}
		req.Key = key
	}
	target := c.Args().First()
	var out *os.File
	var tmp string
	if target == "-" {
		out = os.Stdout
	} else {
		var err error
		out, err = os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-")
		if errors.Is(err, fs.ErrNotExist) {
			return usagef(hint, "the directory of %q does not exist", target)
		}
		if err != nil {
			return err
		}
		tmp = out.Name()
		defer func() {
			if tmp != "" {
				out.Close()
				os.Remove(tmp)
			}
		}()
		if err := out.Chmod(0o600); err != nil {
			return err
		}
	}
	var written atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	var total int64
	n, err := client(c).SaveSnapshot(c.Context, req, func(key string, size int64) error {
		total = size
		if key != "" {
			fmt.Fprintf(os.Stderr, "Snapshot key (autolock is off): %s\n", key)
			fmt.Fprintln(os.Stderr, "It is the only key that opens this snapshot: store it apart from the file. `vault cluster restore --unlock-key-file` takes it.")
		}
		go progress(&written, total, stop, done)
		return nil
	}, &countingWriter{w: out, n: &written})
	if total >= 0 {
		close(stop)
		<-done
	}
	if err != nil {
		return err
	}
	if target == "-" {
		return nil
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		return err
	}
	tmp = ""
	if d, err := os.Open(filepath.Dir(target)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	s, err := openSnapshotFile(target)
	if err != nil {
		return fmt.Errorf("the saved file does not check: %w", err)
	}
	var secrets, versions uint64
	for _, g := range s.Header.Groups {
		secrets += g.Secrets
		versions += g.Versions
	}
	fmt.Fprintf(os.Stderr, "Snapshot of cluster %s saved to %s: %d groups, %d secrets, %d versions, %s.\n",
		s.Header.ClusterID, target, len(s.Header.Groups), secrets, versions, humanBytes(n))
	return nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// progress shows the bytes received on a terminal until stop closes.
func progress(n *atomic.Int64, total int64, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	if !tty {
		<-stop
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	show := func() {
		fmt.Fprintf(os.Stderr, "\rsaving: %s of %s", humanBytes(n.Load()), humanBytes(total))
	}
	for {
		select {
		case <-stop:
			show()
			fmt.Fprintln(os.Stderr)
			return
		case <-t.C:
			show()
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// snapshotFile is an opened snapshot file and its handle.
type snapshotFile struct {
	*backup.Snapshot
	f *os.File
}

func openSnapshotFile(path string) (*snapshotFile, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("give the file `vault snapshot save` wrote", "%q does not exist", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s, err := backup.Open(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, snapshotError(err)
	}
	return &snapshotFile{Snapshot: s, f: f}, nil
}

// snapshotError says what a snapshot error means for the operator.
func snapshotError(err error) error {
	hint := ""
	switch {
	case errors.Is(err, backup.ErrNotSnapshot):
		hint = "give a file `vault snapshot save` wrote"
	case errors.Is(err, backup.ErrTruncated):
		hint = "the file is incomplete (a copy or a save that did not finish): use another copy"
	case errors.Is(err, backup.ErrCorrupt):
		hint = "the file was damaged or modified after it was saved: use another copy"
	case errors.Is(err, backup.ErrOtherCluster):
		hint = "this key is of another cluster: give the key of the snapshot's cluster (`vault snapshot inspect FILE` shows it)"
	case errors.Is(err, backup.ErrWrongKey):
		hint = "give the key the snapshot was sealed for: the unlock key (or shares) at the time of the save, or the snapshot key the save printed"
	default:
		return err
	}
	return &api.Error{Code: api.CodeInvalid, Message: operatorText(err), Hint: hint}
}

func operatorText(err error) string { return withoutPackagePrefix(err.Error()) }

// inspectView is `snapshot inspect --format json`.
type inspectView struct {
	backup.Header
	Size      int64  `json:"Size"`
	SHA256    string `json:"SHA256"`
	Integrity string `json:"Integrity"`
	KeyOpens  *bool  `json:"KeyOpens,omitempty"`
}

func snapshotInspect(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return usagef("vault snapshot inspect FILE [--unlock-key-file F]", "give one snapshot file")
	}
	s, err := openSnapshotFile(c.Args().First())
	if err != nil {
		return err
	}
	defer s.f.Close()
	v := inspectView{Header: s.Header, Size: s.Size(), SHA256: fmt.Sprintf("%x", s.Digest()), Integrity: "checksum ok"}
	if kf := c.String("unlock-key-file"); kf != "" {
		text, err := readKey(kf)
		if err != nil {
			return err
		}
		u, err := backup.ParseKey([]byte(text))
		if err != nil {
			return err
		}
		defer u.Wipe()
		kek, err := s.KEK(u)
		if err != nil {
			return snapshotError(err)
		}
		defer kek.Wipe()
		w, err := s.Unlock(kek)
		if err != nil {
			return snapshotError(err)
		}
		ring, err := w.Unwrap(kek)
		if err != nil {
			return snapshotError(fmt.Errorf("%w: the keyring does not open: %v", backup.ErrCorrupt, err))
		}
		ring.Wipe()
		ok := true
		v.KeyOpens = &ok
		v.Integrity = "checksum and MAC ok; the key opens the keyring"
	}
	if c.String("format") == "json" {
		e := json.NewEncoder(os.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(v)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	h := s.Header
	fmt.Fprintf(w, "Cluster:     %s\n", h.ClusterID)
	fmt.Fprintf(w, "Created:     %s (by node %s)\n", h.Created.Format(time.RFC3339), h.NodeID)
	fmt.Fprintf(w, "Format:      %d\n", h.Format)
	fmt.Fprintf(w, "Size:        %s (%d bytes)\n", humanBytes(v.Size), v.Size)
	fmt.Fprintf(w, "SHA-256:     %s\n", v.SHA256)
	fmt.Fprintf(w, "Sealed for:  %s (autolock %s)\n", keySourceText(h.KeySource), onOff(h.Autolock))
	fmt.Fprintf(w, "KEK version: %d\n", statedir.OperatorKEKVersion(h.KEKVersion))
	var deks []string
	for _, d := range h.DEKs {
		deks = append(deks, fmt.Sprint(d))
	}
	fmt.Fprintf(w, "Data keys:   %s (active %d)\n", strings.Join(deks, ", "), h.ActiveDEK)
	fmt.Fprintf(w, "Integrity:   %s\n", v.Integrity)
	fmt.Fprintf(w, "Groups:      %d (control and %d secret groups)\n", len(h.Groups), h.Shards)
	fmt.Fprintf(w, "  %-6s %-10s %-8s %-8s %-9s %-8s %s\n", "GROUP", "INDEX", "KEY", "SECRETS", "VERSIONS", "RECORDS", "SIZE")
	var secrets, versions uint64
	for _, g := range h.Groups {
		fmt.Fprintf(w, "  %-6d %-10d %-8d %-8d %-9d %-8d %s\n", g.Shard, g.Index, g.KeyVersion, g.Secrets, g.Versions, g.Records, humanBytes(g.Size))
		secrets += g.Secrets
		versions += g.Versions
	}
	fmt.Fprintf(w, "Secrets:     %d (%d versions)\n", secrets, versions)
	return nil
}

func keySourceText(s string) string {
	if s == backup.KeySnapshot {
		return "the snapshot key the save printed"
	}
	return "the cluster's unlock key (or shares)"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func clusterRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "make this fresh node the one manager of a cluster restored from a snapshot file",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "unlock-key-file", Usage: "the key that opens the snapshot: unlock key, shares one per line, or the snapshot key (- or left out: stdin)"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("vault cluster restore --unlock-key-file F FILE", "give one snapshot file")
			}
			// Checked here first: a damaged file or a wrong key is said
			// before anything is sent, and the daemon checks again.
			s, err := openSnapshotFile(c.Args().First())
			if err != nil {
				return err
			}
			defer s.f.Close()
			kf := c.String("unlock-key-file")
			if kf == "-" {
				kf = ""
			}
			key, err := readKey(kf)
			if err != nil {
				return err
			}
			u, err := backup.ParseKey([]byte(key))
			if err != nil {
				return err
			}
			kek, err := s.KEK(u)
			u.Wipe()
			if err != nil {
				return snapshotError(err)
			}
			_, err = s.Unlock(kek)
			kek.Wipe()
			if err != nil {
				return snapshotError(err)
			}
			r, err := client(c).Restore(c.Context, io.NewSectionReader(s.f, 0, s.Size()), s.Size(), key)
			if err != nil {
				return err
			}
			fmt.Printf("Cluster %s restored from the snapshot of %s: this node is %s, its only manager; %d secrets (%d versions) in %d secret groups.\n",
				r.ClusterID, s.Header.Created.Format(time.RFC3339), r.NodeID, r.Secrets, r.Versions, r.Shards)
			fmt.Printf("The snapshot's %d managers are not members: the restored cluster has a new CA and new join tokens.\n", len(r.Removed))
			fmt.Println("To add a manager, run `vault cluster join-token manager` and follow its instructions.")
			return nil
		},
	}
}

func clusterRecoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "recover",
		Usage: "after the quorum is lost for good: make this manager the only member, with everything it applied",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation"}},
		Action: func(c *cli.Context) error {
			cl := client(c)
			plan, err := cl.Recover(c.Context, true)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "This manager (%s) becomes the only member of its cluster. These managers stop being members for good:\n", plan.NodeID)
			for _, id := range plan.Removed {
				fmt.Fprintf(os.Stderr, "  %s\n", id)
			}
			leaders := 0
			for _, g := range plan.Groups {
				fmt.Fprintf(os.Stderr, "  group %d: applied up to index %d\n", g.Shard, g.Applied)
				if g.Leader {
					leaders++
				}
			}
			fmt.Fprintln(os.Stderr, "Writes the others committed that this manager had not applied are lost.")
			if leaders > 0 {
				fmt.Fprintf(os.Stderr, "Warning: %d of %d groups have a leader now: the quorum may not be lost. Recover only if the other managers are gone for good.\n", leaders, len(plan.Groups))
			}
			if !c.Bool("force") {
				if !term.IsTerminal(int(os.Stdin.Fd())) {
					return usagef("vault cluster recover --force", "not asking for confirmation without a terminal")
				}
				fmt.Fprint(os.Stderr, "Type 'recover' to go on: ")
				line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "recover" {
					return errors.New("not recovered")
				}
			}
			r, err := cl.Recover(c.Context, false)
			if err != nil {
				return err
			}
			fmt.Printf("Recovered: %s is the only manager of the cluster; %d managers removed.\n", r.NodeID, len(r.Removed))
			fmt.Println("To add managers, run `vault cluster join-token manager` and follow its instructions.")
			return nil
		},
	}
}
