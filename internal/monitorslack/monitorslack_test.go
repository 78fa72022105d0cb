package monitorslack

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestApplyReachesTheMonitor starts a process that calls Apply at
// initialization, as vault does, then asks
// gdb which of its threads runs runtime.sysmon: that thread, and no other,
// must have the new slack.
func TestApplyReachesTheMonitor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: setting another thread's timer slack takes CAP_SYS_NICE, and gdb attaches to the helper")
	}
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("gdb is not installed (Debian: apt-get install gdb)")
	}
	// A binary of its own, with the symbols gdb needs (go test leaves
	// them out of the test binary).
	helper := filepath.Join(t.TempDir(), "helper")
	if out, err := exec.Command("go", "build", "-o", helper, "./testdata/helper").CombinedOutput(); err != nil {
		t.Fatalf("build the helper: %v\n%s", err, out)
	}
	cmd := exec.Command(helper)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v (%q)", err, line)
	}
	tid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper: %q", line)
	}
	pid := cmd.Process.Pid

	out, err := exec.Command(gdb, "-p", strconv.Itoa(pid), "-batch", "-ex", "thread apply all bt 16").CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	// "Thread 2 (LWP 1234 "name"):" or "Thread 2 (Thread 0x7f... (LWP 1234) ...":
	// each thread's trace starts so.
	head := regexp.MustCompile(`(?m)^Thread \d+ \(.*?LWP (\d+)`)
	locs := head.FindAllSubmatchIndex(out, -1)
	var sysmon []int
	for i, loc := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if strings.Contains(string(out[loc[0]:end]), "runtime.sysmon") {
			n, _ := strconv.Atoi(string(out[loc[2]:loc[3]]))
			sysmon = append(sysmon, n)
		}
	}
	if len(sysmon) != 1 || sysmon[0] != tid {
		t.Fatalf("Apply set thread %d; gdb finds runtime.sysmon on %v:\n%s", tid, sysmon, out)
	}

	want := strconv.FormatInt(Slack.Nanoseconds(), 10)
	def, err := os.ReadFile("/proc/self/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/timerslack_ns")
		if err != nil {
			continue // the thread ended
		}
		got := strings.TrimSpace(string(b))
		switch {
		case e.Name() == strconv.Itoa(tid) && got != want:
			t.Errorf("monitor thread %d: slack %s ns, want %s", tid, got, want)
		case e.Name() != strconv.Itoa(tid) && got != strings.TrimSpace(string(def)):
			t.Errorf("thread %s: slack %s ns, want it left at %s", e.Name(), got, strings.TrimSpace(string(def)))
		}
	}
}

// TestMonitorThreadIsNotTheMainThread checks the choice in this process
// without needing privileges.
func TestMonitorThreadIsNotTheMainThread(t *testing.T) {
	tid, err := MonitorThread()
	if err != nil {
		t.Fatal(err)
	}
	if tid == os.Getpid() {
		t.Fatalf("chose the main thread %d", tid)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err != nil {
		t.Fatalf("chose %d, not a thread of this process: %v", tid, err)
	}
}
