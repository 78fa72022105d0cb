package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

func decryptCommand() *cli.Command {
	return &cli.Command{
		Name:      "decrypt",
		Usage:     "write a decrypted copy of the node's logs and state, for forensics",
		UsageText: progName + " decrypt -o DIR [--redact]",
		Description: "DIR receives every shard's Raft log and state as JSON, received snapshot streams, and " +
			"the data of every secret version as a file under secrets/NAME/vN. It is written through a " +
			"temporary directory and renamed into place; an existing DIR is never overwritten. Unless " +
			"--redact is given, DIR holds plaintext secrets.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output-dir", Aliases: []string{"o"}, Required: true, Usage: "the new directory to write"},
			redactFlag(),
		},
		Action: decrypt,
	}
}

// decryptReadme heads the output directory.
const decryptReadme = `This directory is a decrypted copy of a vault node's state, made by
vault-rafttool decrypt for forensics.

    node.json            the node's identity
    wal/shard-N.json     shard N's Raft log, every entry decoded (dump-wal --format json)
    state/shard-N.json   shard N's state now: its state database with the committed log
                         applied (as dump-object sees it)
    snapshots/           snapshot streams received from peers, decoded
    secrets/NAME/vN      the data of version N of each secret
    problems.json        records that could not be read, if any

`

// secretNameRE is vault's rule for secret names: such a name is a safe
// file name.
var secretNameRE = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)

func decrypt(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("give the directory with -o DIR", "decrypt takes no arguments, got %q", c.Args().First())
	}
	dst := filepath.Clean(c.String("output-dir"))
	if _, err := os.Lstat(dst); err == nil {
		return withHint(fmt.Errorf("%s already exists: refusing to overwrite it", dst), "give a directory that does not exist yet")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	redact := c.Bool("redact")
	s, err := open(c)
	if err != nil {
		return err
	}
	defer s.close()
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return fmt.Errorf("make the output directory: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if redact {
		fmt.Fprintf(s.stderr, "%s: note: secret data is redacted in %s\n", progName, dst)
	} else {
		warnf(s.stderr, "%s will hold decrypted secrets in plaintext: keep it on an encrypted disk and delete it when done", dst)
	}
	if err := s.writeDecrypted(tmp, redact); err != nil {
		return err
	}
	if err := renameNoReplace(tmp, dst); err != nil {
		return fmt.Errorf("move the output into place: %w", err)
	}
	fmt.Fprintln(s.stdout, dst)
	return s.done()
}

// renameNoReplace renames a directory, failing if the target exists, so a
// directory made meanwhile is not replaced.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("%s already exists", to)
		}
		return os.Rename(from, to)
	}
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s was created meanwhile: refusing to overwrite it", to)
	}
	return err
}

func (s *session) writeDecrypted(dir string, redact bool) error {
	write := func(rel string, b []byte) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o600)
	}
	writeJSON := func(rel string, v any) error {
		var b strings.Builder
		if err := printJSON(&b, v); err != nil {
			return err
		}
		return write(rel, []byte(b.String()))
	}
	readme := decryptReadme + fmt.Sprintf("Made %s from %s (node %s, cluster %s).\n",
		time.Now().UTC().Format(time.RFC3339), s.dir.Path, s.dir.Node.NodeID, s.dir.Node.ClusterID)
	if redact {
		readme += "Secret data, the CA key, join tokens and unlock key are redacted.\n"
	} else {
		readme += "IT HOLDS SECRETS IN PLAINTEXT. Delete it when done.\n"
	}
	if err := write("README", []byte(readme)); err != nil {
		return err
	}
	if err := writeJSON("node.json", s.dir.Node); err != nil {
		return err
	}
	v := s.newViewer(redact)
	for _, shard := range s.allShards() {
		// The log first: its records teach the viewer names and DEKs.
		if l := s.logs[shard]; l != nil {
			lv := &shardLogView{Shard: shard, Term: l.state.Term, Vote: l.state.Vote, Commit: l.state.Commit, LastIndex: l.maxIdx, Entries: []*entryView{}}
			if l.hasSnap {
				lv.Snapshot = l.snap.Index
			}
			if err := s.walkLog(l, 0, 0, func(ev *entryView) { lv.Entries = append(lv.Entries, ev) }, v); err != nil {
				s.problem(l.place, err)
			}
			if err := writeJSON(fmt.Sprintf("wal/shard-%d.json", shard), lv); err != nil {
				return err
			}
		}
		// The state as it stands: what the state database holds, with the
		// committed entries it had not applied yet applied on top.
		st, err := s.storeState(v, shard, true)
		if err != nil {
			s.problem(s.storePlace(shard, "state"), err)
		}
		if st != nil {
			if err := writeJSON(fmt.Sprintf("state/shard-%d.json", shard), &shardSnapshotView{Shard: shard, Members: raftMembers(s.logs[shard]), State: st, Files: []*snapshotFile{}}); err != nil {
				return err
			}
			if err := writeSecretFiles(write, st.Secrets, redact); err != nil {
				return err
			}
		}
		for _, f := range s.snapshotFiles(shard) {
			sf := s.readSnapshotFile(v, shard, f)
			if sf.Stream {
				if err := writeJSON(fmt.Sprintf("snapshots/shard-%d/snapshot-%d.json", shard, sf.Index), sf); err != nil {
					return err
				}
			}
		}
	}
	if len(s.problems) > 0 {
		return writeJSON("problems.json", s.problems)
	}
	return nil
}

// writeSecretFiles writes each data version as secrets/NAME/vN.
func writeSecretFiles(write func(string, []byte) error, secrets []*objectView, redact bool) error {
	if redact {
		return nil
	}
	for _, o := range secrets {
		dir := o.ID
		if o.Secret != nil && len(o.Secret.Name) <= 64 && secretNameRE.MatchString(o.Secret.Name) {
			dir = o.Secret.Name
		}
		for _, d := range o.Data {
			if d.Data == nil {
				continue
			}
			if err := write(filepath.Join("secrets", dir, fmt.Sprintf("v%d", d.Version)), d.Data); err != nil {
				return err
			}
		}
	}
	return nil
}
