package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickstartMark, on the line before a ```sh block of README.md, marks the
// block as part of the quick start, which TestReadmeQuickStart runs.
const quickstartMark = "<!-- quickstart -->"

// readmeLine is one shell line of README.md and where it is.
type readmeLine struct {
	n    int // 1-based line number in README.md
	text string
}

// readmeBlocks returns the README's first ```sh block (the one that starts
// `vault dev`) and its quick-start blocks, in order. A command continued
// with a trailing backslash is one line, numbered where it starts.
func readmeBlocks(readme string) (first []readmeLine, quick [][]readmeLine, err error) {
	lines := strings.Split(readme, "\n")
	marked := false
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == quickstartMark {
			marked = true
			continue
		}
		if l != "```sh" {
			if l != "" {
				marked = false
			}
			continue
		}
		var block []readmeLine
		for i++; ; i++ {
			if i == len(lines) {
				return nil, nil, fmt.Errorf("README.md:%d: the ```sh block does not end", len(lines))
			}
			if strings.TrimSpace(lines[i]) == "```" {
				break
			}
			rl := readmeLine{n: i + 1, text: lines[i]}
			for strings.HasSuffix(rl.text, `\`) && i+1 < len(lines) {
				i++
				rl.text += "\n" + lines[i]
			}
			block = append(block, rl)
		}
		if first == nil {
			first = block
		}
		if marked {
			quick = append(quick, block)
		}
		marked = false
	}
	if first == nil || len(quick) == 0 {
		return nil, nil, fmt.Errorf("README.md has no ```sh block, or none marked %s", quickstartMark)
	}
	return first, quick, nil
}

// copyCheckout copies the repository's files, as a fresh clone would have
// them (tracked and not ignored: no bin/, no build output), to dst.
func copyCheckout(t *testing.T, root, dst string) {
	t.Helper()
	var files []string
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err == nil {
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
	} else {
		// Not a git checkout (an exported tree): everything but bin/.
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if e.IsDir() && (rel == "bin" || rel == ".git") {
				return filepath.SkipDir
			}
			if e.Type().IsRegular() {
				files = append(files, rel)
			}
			return nil
		})
	}
	n := 0
	for _, f := range files {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if _, err := os.Stat(filepath.Join(dst, "README.md")); err != nil || n < 20 {
		t.Fatalf("copied %d files and no README.md from %s", n, root)
	}
}

var exportSocketRE = regexp.MustCompile(`(?m)^export VAULT_SOCKET=(\S+)$`)

// TestReadmeQuickStart runs the README's quick start as written, on a fresh
// copy of the repository: it starts `vault dev` as the README's first block
// says, pastes the export line it prints, and runs the blocks marked
// quickstartMark line by line with bash (set -euo pipefail). A failure names
// the README line. The first block's other line (`go test -race ./...`) is
// what runs this test, and is not run again.
func TestReadmeQuickStart(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "vault")
	copyCheckout(t, root, repo)
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	first, quick, err := readmeBlocks(string(readme))
	if err != nil {
		t.Fatal(err)
	}

	// Nothing of the test's environment leaks into the README's commands:
	// no socket, and temporary directories (vault dev's state) in tmp.
	env := []string{"TMPDIR=" + tmp}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_SOCKET=") && !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}

	// The first block's first command: `go run ./cmd/vault dev ...`. The
	// test builds what `go run` would and runs it, so that the daemon is a
	// process the test can stop (and that dies with it).
	dev := first[0]
	f := strings.Fields(strings.SplitN(dev.text, "#", 2)[0])
	if len(f) < 4 || f[0] != "go" || f[1] != "run" || f[3] != "dev" {
		t.Fatalf("README.md:%d: the first command is %q, want `go run ./cmd/vault dev`", dev.n, dev.text)
	}
	devBin := filepath.Join(tmp, "vault-dev")
	build := exec.Command("go", "build", "-o", devBin, f[2])
	build.Dir, build.Env = repo, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("README.md:%d: building %s: %v\n%s", dev.n, f[2], err, out)
	}
	cmd := exec.Command(devBin, f[3:]...)
	cmd.Dir, cmd.Env = repo, env
	cmd.SysProcAttr = dieWithTest()
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}()
	var export string
	deadline := time.Now().Add(2 * time.Minute)
	for export == "" {
		if m := exportSocketRE.FindString(stdout.String()); m != "" {
			export = m
			break
		}
		select {
		case <-exited:
			t.Fatalf("README.md:%d: vault dev exited: %s\nstdout:\n%s\nstderr:\n%s", dev.n, cmd.ProcessState, stdout, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("README.md:%d: vault dev printed no `export VAULT_SOCKET=` line within 2m\nstdout:\n%s\nstderr:\n%s", dev.n, stdout, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// One bash, like one terminal: the pasted export line, then every
	// quick-start line, each preceded by its README line number.
	failed := filepath.Join(tmp, "failed-line")
	var script strings.Builder
	fmt.Fprintf(&script, "set -euo pipefail\n__line=0\ntrap 'echo $__line > %s' ERR\n%s\n", strconv.Quote(failed), export)
	var all []readmeLine
	for _, b := range quick {
		for _, l := range b {
			if strings.TrimSpace(l.text) == "" || strings.HasPrefix(strings.TrimSpace(l.text), "#") {
				continue
			}
			fmt.Fprintf(&script, "__line=%d\n%s\n", l.n, l.text)
			all = append(all, l)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", script.String())
	sh.Dir, sh.Env = repo, env
	sh.SysProcAttr = dieWithTest()
	out, err := sh.CombinedOutput()
	if err != nil {
		n, _ := os.ReadFile(failed)
		at, _ := strconv.Atoi(strings.TrimSpace(string(n)))
		line := "(before the first quick-start line)"
		for _, l := range all {
			if l.n == at {
				line = l.text
			}
		}
		t.Fatalf("README.md:%d: %s\nfailed: %v\noutput:\n%s\nvault dev's stderr:\n%s", at, line, err, out, stderr)
	}
	t.Logf("ran %d quick-start lines:\n%s", len(all), out)

	// "deletes it on Ctrl-C": vault dev stops on SIGINT and leaves nothing
	// in the temporary directory.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("README.md:%d: vault dev did not stop on Ctrl-C (SIGINT)\nstderr:\n%s", dev.n, stderr)
	}
	if !cmd.ProcessState.Success() {
		t.Errorf("README.md:%d: vault dev exited %s on Ctrl-C\nstderr:\n%s", dev.n, cmd.ProcessState, stderr)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "vault-dev-*"))
	if len(left) > 0 {
		t.Errorf("README.md:%d: vault dev left %v behind after Ctrl-C", dev.n, left)
	}
}

// TestReadmeBlocks checks the README parser on a small document.
func TestReadmeBlocks(t *testing.T) {
	doc := strings.Join([]string{
		"# x", // 1
		"```sh",
		"go run ./cmd/vault dev", // 3
		"```",
		quickstartMark,
		"```sh",
		"a \\", // 7
		"  b",
		"c", // 9
		"```",
		"```sh",
		"not run", // 12
		"```",
		quickstartMark,
		"",
		"```sh",
		"d", // 17
		"```",
	}, "\n")
	first, quick, err := readmeBlocks(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(first, quick)
	want := "[{3 go run ./cmd/vault dev}] [[{7 a \\\n  b} {9 c}] [{17 d}]]"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if _, _, err := readmeBlocks("```sh\nx\n```\n"); err == nil {
		t.Fatal("a README without a quick-start block was accepted")
	}
}
