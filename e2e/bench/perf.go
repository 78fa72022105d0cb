package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfRecord starts `perf record` with call graphs on the server processes,
// writing dir/name.data, and returns the function that stops it. The
// profile shows where a system's CPU goes during one workload; `perf report
// -i FILE --no-children` reads it. Go binaries keep frame pointers and
// symbols, so the stacks resolve without further setup.
func perfRecord(ctx context.Context, dir, name string, servers []*proc) (stop func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var pids []string
	for _, p := range servers {
		pids = append(pids, strconv.Itoa(p.pid()))
	}
	out := filepath.Join(dir, name+".data")
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strings.Join(pids, ","), "-o", out)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("perf record (install perf, or run without --profile): %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); log.Close() }()
	// perf writes the file's header once it has attached.
	err = poll(ctx, 30*time.Second, "perf record to attach", func(context.Context) error {
		select {
		case <-exited:
			return errExited{&proc{name: "perf record", log: log.Name()}}
		default:
		}
		if st, err := os.Stat(out); err != nil || st.Size() == 0 {
			return fmt.Errorf("no %s yet", out)
		}
		return nil
	})
	if err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return func() error {
		cmd.Process.Signal(syscall.SIGINT)
		return <-exited
	}, nil
}
