// Package monitorslack lets the Go runtime's system monitor sleep less
// precisely.
//
// The monitor (runtime.sysmon) is one OS thread without a P that wakes to
// take Ps back from goroutines blocked in system calls, preempt long-running
// goroutines and poll the network when nothing else does. While the process
// is busy it sleeps 20 µs at a time, and a manager is busy in exactly the
// way that keeps it there: its goroutines block in fdatasync, socket writes
// and futexes many thousand times a second. On this project's 2-CPU
// machine the monitor was 14–16 % of a manager's CPU with one client and
// about 8 % with 64, before the P hand-offs it starts when a 100 µs sync
// outlasts a 20 µs sleep.
//
// Linux rounds a thread's sleeps up by its timer slack (50 µs by default).
// Apply gives the monitor thread, and only it, a slack of Slack: its sleeps
// become about a millisecond while the process is busy. Its duties keep
// their own clocks (a goroutine is preempted after 10 ms, the network polled
// after 10 ms without a poll), so what changes is that a P held by a
// goroutine in a system call is taken back after about a millisecond
// instead of tens of microseconds; the other P, and work stealing between
// them, keep the rest running. The whole process's threads at 1 ms slack
// were measured slower on reads (their timers and futex waits got coarser);
// the monitor thread alone was not (docs/PERFORMANCE.md).
//
// Setting another thread's slack (/proc/TID/timerslack_ns) needs
// CAP_SYS_NICE, which a daemon running as root has; without it Apply
// returns the error and nothing changes.
package monitorslack

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Slack is the timer slack Apply gives the monitor thread.
const Slack = time.Millisecond

// Apply sets the monitor thread's timer slack to slack and returns its
// thread id. Call it from package initialization, while the process has
// few threads: the monitor is the first thread the runtime starts after
// the main one (runtime.main starts it before any package's init), and
// Apply finds it as the earliest-started thread that is not the main one.
func Apply(slack time.Duration) (int, error) {
	tid, err := MonitorThread()
	if err != nil {
		return 0, err
	}
	// /proc/TID names any thread of any process; the write needs
	// CAP_SYS_NICE unless TID is the calling thread (never the case here).
	if err := os.WriteFile("/proc/"+strconv.Itoa(tid)+"/timerslack_ns", []byte(strconv.FormatInt(slack.Nanoseconds(), 10)), 0); err != nil {
		return tid, fmt.Errorf("set the runtime monitor's timer slack: %w", err)
	}
	return tid, nil
}

// MonitorThread returns the thread id of the runtime's system monitor: of
// this process's threads other than the main one, the one started first
// (ties, within the kernel's clock tick, go to the lower thread id, which
// the kernel handed out first unless ids wrapped around in between).
func MonitorThread() (int, error) {
	pid := os.Getpid()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, fmt.Errorf("list this process's threads: %w", err)
	}
	type thread struct {
		tid   int
		start uint64
	}
	var ths []thread
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == pid {
			continue
		}
		start, err := startTime(tid)
		if err != nil {
			continue // it ended while we looked
		}
		ths = append(ths, thread{tid, start})
	}
	if len(ths) == 0 {
		return 0, errors.New("no thread but the main one: the runtime's monitor is not running")
	}
	// A thread id below the process id was handed out after the ids
	// wrapped around, so later than every id above it.
	after := func(tid int) int64 {
		d := int64(tid - pid)
		if d < 0 {
			d += 1 << 32
		}
		return d
	}
	sort.Slice(ths, func(i, j int) bool {
		if ths[i].start != ths[j].start {
			return ths[i].start < ths[j].start
		}
		return after(ths[i].tid) < after(ths[j].tid)
	})
	return ths[0].tid, nil
}

// startTime is field 22 of /proc/self/task/TID/stat: when the thread
// started, in clock ticks since boot.
func startTime(tid int) (uint64, error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("thread %d: malformed stat", tid)
	}
	f := strings.Fields(s[i+2:]) // from field 3 on
	if len(f) < 20 {
		return 0, fmt.Errorf("thread %d: short stat", tid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
