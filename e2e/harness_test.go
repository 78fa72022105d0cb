// Package e2e runs the real vault binary as separate processes, the way an
// operator does, and checks what it prints, what it keeps, and what it leaves
// on disk.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var vaultBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vault-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vaultBin = filepath.Join(dir, "vault")
	// The vaulttest tag adds a debug endpoint that exports raw keys, so the
	// disk scans can look for key bytes; nothing else differs.
	build := exec.Command("go", "build", "-tags", "vaulttest", "-o", vaultBin, "../cmd/vault")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vault:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// daemon is one `vault daemon` process.
type daemon struct {
	t        *testing.T
	stateDir string
	socket   string
	addr     string // Raft
	apiAddr  string // manager API
	extra    []string
	cmd      *exec.Cmd
	logs     *lockedBuffer
	earlier  []string // logs of this daemon's earlier runs
	exited   chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// givenPorts are the ports freeAddrs handed out in this test binary: a
// daemon binds its API port only once it is in a cluster, so a port chosen
// for one daemon is still free when the next one chooses.
var givenPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freeAddrs returns n distinct free loopback addresses: all n are held
// open while choosing, so one daemon's Raft and API ports never coincide,
// and none was handed out before.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	givenPorts.Lock()
	defer givenPorts.Unlock()
	var addrs []string
	for len(addrs) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if p := l.Addr().(*net.TCPAddr).Port; !givenPorts.m[p] {
			givenPorts.m[p] = true
			addrs = append(addrs, l.Addr().String())
		}
	}
	return addrs
}

// newDaemon prepares (does not start) a daemon with its own state dir,
// socket and Raft address.
func newDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	addrs := freeAddrs(t, 2)
	d := &daemon{t: t, stateDir: filepath.Join(dir, "state"), socket: filepath.Join(dir, "vault.sock"), addr: addrs[0], apiAddr: addrs[1], extra: extra}
	t.Cleanup(func() {
		d.dumpIfFailed()
		d.kill()
		d.keepIfFailed()
	})
	return d
}

// keepIfFailed copies the daemon's state dir, when the test failed, under
// $VAULT_E2E_KEEP (a failure that shows once in many runs is then there to
// read with vault-rafttool; the test's own dirs are removed).
func (d *daemon) keepIfFailed() {
	keep := os.Getenv("VAULT_E2E_KEEP")
	if keep == "" || !d.t.Failed() {
		return
	}
	dst := filepath.Join(keep, strings.ReplaceAll(d.t.Name(), "/", "_"), strings.ReplaceAll(d.addr, ":", "_"))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err == nil {
		err = exec.Command("cp", "-a", d.stateDir, dst).Run()
		d.t.Logf("state dir of %s kept at %s (err %v)", d.addr, dst, err)
	}
}

// dumpIfFailed logs the tail of the daemon's output, from every run of it,
// when the test failed: the daemon's side of a failure is otherwise lost.
func (d *daemon) dumpIfFailed() {
	if !d.t.Failed() || d.logs == nil {
		return
	}
	state := "running"
	if d.cmd == nil {
		state = "stopped by the test"
	} else {
		select {
		case <-d.exited:
			state = "exited on its own: " + d.cmd.ProcessState.String()
		default:
		}
	}
	all := strings.Join(append(d.earlier, d.logs.String()), "--- restarted ---\n")
	if strings.TrimSpace(all) == "" {
		return // a node that logs to a file dumps that itself
	}
	lines := strings.Split(strings.TrimRight(all, "\n"), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	d.t.Logf("daemon %s (%s), last %d log lines:\n%s", d.addr, state, len(lines), strings.Join(lines, "\n"))
}

func (d *daemon) start() {
	d.t.Helper()
	// The Docker volume plugin is served only when a test asks for it in
	// extra (the last --docker-plugin-socket wins): a daemon killed with
	// the default socket would leave a file dockerd then waits on. Mounts
	// outlive a daemon only where a test asks (--keep-mounts).
	args := append([]string{"--socket", d.socket, "daemon", "--state-dir", d.stateDir, "--listen-addr", d.addr, "--api-addr", d.apiAddr, "--docker-plugin-socket", "", "--keep-mounts", "0"}, d.extra...)
	d.cmd = exec.Command(vaultBin, args...)
	d.cmd.SysProcAttr = dieWithTest()
	if d.logs != nil {
		d.earlier = append(d.earlier, d.logs.String())
	}
	d.logs = &lockedBuffer{}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r := d.vault("status"); r.code == 0 {
			return
		}
		select {
		case <-d.exited:
			d.t.Fatalf("daemon exited at start:\n%s", d.logs)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon did not serve within 60s:\n%s", d.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to go.
func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.cmd = nil
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("daemon did not stop on SIGTERM:\n%s", d.logs)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Fatalf("daemon exited %d on SIGTERM:\n%s", code, d.logs)
	}
	d.cmd = nil
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// vault runs the CLI against this daemon's socket.
func (d *daemon) vault(args ...string) result {
	return runVault(d.socket, nil, args...)
}

// vaultIn runs the CLI with stdin.
func (d *daemon) vaultIn(stdin []byte, args ...string) result {
	return runVault(d.socket, stdin, args...)
}

func runVault(socket string, stdin []byte, args ...string) result {
	return runCommand("VAULT_SOCKET="+socket, stdin, vaultBin, args...)
}

// runCommand runs name with args, env added to the test's environment and
// stdin (nil: none), for at most a minute, and returns what it printed and
// its exit code (-1: it did not run or was killed).
func runCommand(env string, stdin []byte, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// must fails the test unless r succeeded.
func must(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("command failed: %s", r)
	}
	return r
}

// mustFail fails the test unless r failed with stderr containing want, on
// one "vault: error:" line.
func mustFail(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("command succeeded, want failure: %s", r)
	}
	if !strings.HasPrefix(r.stderr, "vault: error: ") {
		t.Fatalf("stderr does not start with 'vault: error: ': %s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr lacks %q: %s", w, r)
		}
	}
}

// runVaultHTTP GETs a path from the daemon's socket and returns the body.
func runVaultHTTP(t *testing.T, d *daemon, path string) result {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.socket)
	}}}
	resp, err := c.Get("http://vault" + path)
	if err != nil {
		return result{stderr: err.Error(), code: 1}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return result{stderr: string(b), code: 1}
	}
	return result{stdout: string(b)}
}

// canaries are byte strings that must never appear in any file on disk.
type canaries map[string][]byte

// add records s and its common encodings.
func (c canaries) add(label string, s []byte) {
	c[label] = s
	c[label+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(s))
	c[label+" (hex)"] = []byte(hex.EncodeToString(s))
}

// scanControl fails the test unless some file under root holds want: proof
// that the scan reads what the node writes (the Raft address is stored in
// plaintext by design).
func scanControl(t *testing.T, root string, want string) {
	t.Helper()
	found := false
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(want)) {
				found = true
			}
		}
		return nil
	})
	if !found {
		t.Fatalf("control: %q not found under %s; the canary scan would miss plaintext too", want, root)
	}
}

// scan reads every byte of every regular file under the roots, and what
// the Pebble databases among them hold once decoded (diskContents: values of
// compressed tables, batches of logs), and fails the test if a canary is
// found. It returns how many files and bytes it read as stored.
func (c canaries) scan(t *testing.T, roots ...string) (files int, size int64) {
	t.Helper()
	return c.scanFiles(t, false, roots...)
}

// scanLive is scan over state dirs whose daemons may be running: files that
// vanish while it reads (compactions) are skipped.
func (c canaries) scanLive(t *testing.T, roots ...string) (files int, size int64) {
	t.Helper()
	return c.scanFiles(t, true, roots...)
}

func (c canaries) scanFiles(t *testing.T, live bool, roots ...string) (files int, size int64) {
	t.Helper()
	for _, root := range roots {
		if _, err := os.Stat(root); err != nil && !live {
			t.Fatal(err)
		}
		diskContents(t, root, func(place string, decoded bool, b []byte) {
			if !decoded {
				files++
				size += int64(len(b))
			}
			for label, s := range c {
				if bytes.Contains(b, s) {
					t.Errorf("canary %s found in %s", label, place)
				}
			}
		})
	}
	return files, size
}

// dieWithTest makes a daemon get SIGKILL when the test binary dies, so a
// killed `go test` leaves no daemons behind to load the machine.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
