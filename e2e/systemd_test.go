package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify plays systemd's side of a Type=notify unit: a datagram
// socket named in NOTIFY_SOCKET, the real daemon, READY=1 only once the API
// socket answers, STOPPING=1 on SIGTERM. (No real systemd runs here; see
// docs/containers.md.)
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	for _, abstract := range []bool{false, true} {
		name := "path"
		if abstract {
			name = "abstract"
		}
		t.Run(name, func(t *testing.T) {
			notify := filepath.Join(dir, name+".notify")
			if abstract {
				notify = "@vault-e2e-notify-" + randHex(6)
			}
			conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			addrs := freeAddrs(t, 2)
			sock := filepath.Join(dir, name+".sock")
			cmd := exec.Command(vaultBin, "--socket", sock, "daemon", "--state-dir", filepath.Join(dir, name+"-state"),
				"--listen-addr", addrs[0], "--api-addr", addrs[1], "--docker-plugin-socket", "")
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
			cmd.SysProcAttr = dieWithTest()
			logs := &lockedBuffer{}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			read := func() string {
				t.Helper()
				buf := make([]byte, 4096)
				conn.SetReadDeadline(time.Now().Add(60 * time.Second))
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("no notification: %v\n%s", err, logs)
				}
				return string(buf[:n])
			}
			msg := read()
			if !strings.HasPrefix(msg, "READY=1\n") || !strings.Contains(msg, "STATUS=serving") {
				t.Fatalf("first notification %q", msg)
			}
			// Ready means served: the API answers at once.
			if r := runVault(sock, nil, "status"); r.code != 0 {
				t.Fatalf("READY=1 came before the API served: %s", r)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if msg := read(); msg != "STOPPING=1" {
				t.Fatalf("on SIGTERM: %q", msg)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("daemon exit: %v\n%s", err, logs)
			}
		})
	}
}

// TestUnitFileKeepsTheMonitorSlack runs the daemon under the unit file's
// CapabilityBoundingSet (as root, through setpriv: what systemd leaves a
// root service) and checks that it can still give the Go runtime's monitor
// thread its timer slack (internal/monitorslack), which takes
// CAP_SYS_NICE. The same run without CAP_SYS_NICE must log that it could
// not: that is how the check knows it looks at the right line.
func TestUnitFileKeepsTheMonitorSlack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the unit runs the daemon as root with a bounded capability set")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv is not installed (Debian: apt-get install util-linux)")
	}
	unit, err := os.ReadFile("../deploy/systemd/vault.service")
	if err != nil {
		t.Fatal(err)
	}
	var caps []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			caps = strings.Fields(v)
		}
	}
	if len(caps) == 0 {
		t.Fatal("the unit file sets no CapabilityBoundingSet")
	}
	const (
		set    = "the Go runtime's monitor thread sleeps with a coarser timer slack"
		notSet = "running with the Go runtime's default monitor timing"
	)
	run := func(caps []string) string {
		t.Helper()
		bound := "-all"
		for _, c := range caps {
			bound += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
		dir := t.TempDir()
		addrs := freeAddrs(t, 2)
		cmd := exec.Command(setpriv, "--bounding-set="+bound, "--inh-caps=-all", "--",
			vaultBin, "--socket", filepath.Join(dir, "vault.sock"), "daemon", "--debug", "--state-dir", filepath.Join(dir, "state"),
			"--listen-addr", addrs[0], "--api-addr", addrs[1], "--docker-plugin-socket", "")
		cmd.SysProcAttr = dieWithTest()
		logs := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := logs.String()
			if strings.Contains(s, set) || strings.Contains(s, notSet) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the daemon said nothing about the monitor's timer slack within 30s:\n%s", s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if logs := run(caps); !strings.Contains(logs, set) {
		t.Errorf("under the unit's capabilities %v the daemon could not set the monitor's slack:\n%s", caps, logs)
	}
	var without []string
	for _, c := range caps {
		if c != "CAP_SYS_NICE" {
			without = append(without, c)
		}
	}
	if logs := run(without); !strings.Contains(logs, notSet) {
		t.Errorf("without CAP_SYS_NICE the daemon did not say it runs with the default timing:\n%s", logs)
	}
}
