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
