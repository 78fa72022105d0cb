package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Measure is one workload run against one system.
type Measure struct {
	Ops        int     `json:"ops"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	// Latencies of successful operations, in milliseconds.
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MeanMs float64 `json:"mean_ms"`
	MaxMs  float64 `json:"max_ms"`
	// ServerCPU is the utime+stime the system's server processes used
	// during the workload, in seconds; ServerCores is that over the wall
	// time, CPUPerOpUs per successful operation, in microseconds.
	ServerCPU   float64 `json:"server_cpu_s"`
	ServerCores float64 `json:"server_cores"`
	CPUPerOpUs  float64 `json:"cpu_per_op_us"`
	// ClientCPU is the load generator's own CPU over the same time.
	ClientCPU float64 `json:"client_cpu_s"`
	// MachineCores is how busy the whole machine was (all processes, the
	// kernel included); StealCores how much CPU the hypervisor took away.
	// What they exceed the servers and the client by is outside load.
	MachineCores float64 `json:"machine_cores"`
	StealCores   float64 `json:"steal_cores"`
	// Rounds is how many alternating slices the figures add up.
	Rounds int `json:"rounds"`

	raw *sample // what the figures are computed from
}

// sample is what a run records, before any figure is computed, so that
// several rounds of a workload add up to one Measure.
type sample struct {
	lats                         []time.Duration // successful operations
	errs                         int
	firstErr                     string
	elapsed, cpu, self, busy, st time.Duration
	rounds                       int
}

// add returns the sum of the rounds' samples as one Measure.
func add(ms ...*Measure) *Measure {
	sum := &sample{}
	for _, m := range ms {
		r := m.raw
		sum.lats = append(sum.lats, r.lats...)
		sum.errs += r.errs
		if sum.firstErr == "" {
			sum.firstErr = r.firstErr
		}
		sum.elapsed += r.elapsed
		sum.cpu += r.cpu
		sum.self += r.self
		sum.busy += r.busy
		sum.st += r.st
		sum.rounds += r.rounds
	}
	return sum.measure()
}

// op is one request of worker w. seq counts that worker's requests from 0,
// or, when the run has a limit, numbers the run's requests from 0.
type op func(ctx context.Context, w, seq int) error

// runLoad runs op on workers concurrent closed-loop workers for dur, or, if
// limit > 0, until limit operations have been started. servers are the
// processes whose CPU is charged to the run.
func runLoad(ctx context.Context, workers int, dur time.Duration, limit int, servers []*proc, do op) *Measure {
	return runLoadUntil(ctx, workers, dur, limit, nil, servers, do)
}

// runLoadUntil is runLoad; with a stop channel, it runs until stop is
// closed instead of for dur.
func runLoadUntil(ctx context.Context, workers int, dur time.Duration, limit int, stop <-chan struct{}, servers []*proc, do op) *Measure {
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	lats := make([][]time.Duration, workers)
	errs := make([]int, workers)
	var firstErr error
	var errOnce sync.Once
	var next struct {
		sync.Mutex
		n int
	}
	// take returns the number of the next request, or false when the
	// limit is reached.
	take := func(seq int) (int, bool) {
		if limit <= 0 {
			return seq, true
		}
		next.Lock()
		defer next.Unlock()
		if next.n >= limit {
			return 0, false
		}
		next.n++
		return next.n - 1, true
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			deadline := time.Now().Add(dur)
			for seq := 0; ctx.Err() == nil && (limit > 0 || stop != nil || time.Now().Before(deadline)) && (stop == nil || !stopped()); seq++ {
				n, ok := take(seq)
				if !ok {
					return
				}
				octx, cancel := context.WithTimeout(ctx, opTimeout)
				t0 := time.Now()
				err := do(octx, w, n)
				d := time.Since(t0)
				cancel()
				if err != nil {
					errs[w]++
					errOnce.Do(func() { firstErr = err })
					continue
				}
				lats[w] = append(lats[w], d)
			}
		}()
	}
	cpu0, self0 := cpuOf(servers), selfCPU()
	busy0, steal0 := machineCPU()
	t0 := time.Now()
	close(start)
	wg.Wait()
	r := &sample{elapsed: time.Since(t0), rounds: 1}
	r.cpu, r.self = cpuOf(servers)-cpu0, selfCPU()-self0
	busy, steal := machineCPU()
	r.busy, r.st = busy-busy0, steal-steal0
	r.lats = slices.Concat(lats...)
	for _, e := range errs {
		r.errs += e
	}
	if firstErr != nil {
		r.firstErr = firstErr.Error()
	}
	return r.measure()
}

// measure computes the figures.
func (r *sample) measure() *Measure {
	slices.Sort(r.lats)
	m := &Measure{Ops: len(r.lats), Errors: r.errs, FirstError: r.firstErr, Seconds: r.elapsed.Seconds(), Rounds: r.rounds, raw: r}
	m.ServerCPU, m.ClientCPU = r.cpu.Seconds(), r.self.Seconds()
	if r.elapsed > 0 {
		sec := r.elapsed.Seconds()
		m.OpsPerSec = float64(m.Ops) / sec
		m.ServerCores = r.cpu.Seconds() / sec
		m.MachineCores = r.busy.Seconds() / sec
		m.StealCores = r.st.Seconds() / sec
	}
	if m.Ops > 0 {
		m.CPUPerOpUs = r.cpu.Seconds() * 1e6 / float64(m.Ops)
		var sum time.Duration
		for _, d := range r.lats {
			sum += d
		}
		m.P50Ms = ms(percentile(r.lats, 0.50))
		m.P99Ms = ms(percentile(r.lats, 0.99))
		m.MeanMs = ms(sum / time.Duration(len(r.lats)))
		m.MaxMs = ms(r.lats[len(r.lats)-1])
	}
	return m
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
