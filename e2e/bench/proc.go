package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is one server process the bench started and owns.
type proc struct {
	name string
	bin  string
	args []string
	log  string // stdout and stderr go here, appended across restarts
	// external is the pid of a server the bench measures but did not
	// start (dockerd, for --vs swarm): never started nor stopped.
	external int

	cmd    *exec.Cmd
	exited chan struct{}
}

// start starts the process. It dies with the bench (PR_SET_PDEATHSIG) if
// the bench is killed before it can clean up.
func (p *proc) start() error {
	f, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); close(p.exited) }()
	return nil
}

func (p *proc) pid() int {
	if p.external != 0 {
		return p.external
	}
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// alive reports whether the process was started and has not exited.
func (p *proc) alive() bool {
	if p.external != 0 {
		return procAlive(p.external)
	}
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to timeout for the process to exit, then
// kills it. It reports how long the process took to exit.
func (p *proc) stop(timeout time.Duration) (time.Duration, error) {
	if p.external != 0 {
		return 0, fmt.Errorf("%s: not stopped, the bench did not start it", p.name)
	}
	if !p.alive() {
		return 0, nil
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return time.Since(start), nil
	case <-t.C:
		p.kill()
		return time.Since(start), fmt.Errorf("%s did not exit within %s of SIGTERM; killed it", p.name, timeout)
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *proc) kill() {
	if p.external != 0 || !p.alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// tail returns the last lines of the process's log, for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// cpuTime returns the utime+stime of a live process, all threads included.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it don't.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// cpuOf sums the CPU time of processes; a process that is not running
// counts as zero.
func cpuOf(ps []*proc) time.Duration {
	var sum time.Duration
	for _, p := range ps {
		if p.alive() {
			if d, err := cpuTime(p.pid()); err == nil {
				sum += d
			}
		}
	}
	return sum
}

// selfCPU is the bench process's own utime+stime.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss returns a process's resident set size (VmRSS) in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: odd VmRSS line %q", pid, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// diskUsage is what du reports for a tree: allocated blocks, not apparent
// sizes (a preallocated WAL counts in full, a sparse file does not).
func diskUsage(root string) (int64, error) {
	var sum int64
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk: a compaction
			}
			return err
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			sum += st.Blocks * 512
		}
		return nil
	})
	return sum, err
}

// freeAddrs returns n distinct free loopback addresses.
func freeAddrs(n int) ([]string, error) {
	// Hold every listener until all are chosen, so no port repeats.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// machineCPU returns how long the machine's CPUs were busy (user, nice,
// system, irq, softirq) and how long the hypervisor stole them, since boot,
// from /proc/stat.
func machineCPU() (busy, steal time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseUint(f[i], 10, 64)
		return time.Duration(n) * time.Second / clockTicks
	}
	// user nice system idle iowait irq softirq steal
	return tick(1) + tick(2) + tick(3) + tick(6) + tick(7), tick(8)
}
