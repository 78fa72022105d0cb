package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// scrapeInterval is how often the bench scrapes a manager's /metrics when
// it compares vault with and without metrics (--vs vault-metrics): a
// Prometheus scraping every second, more often than the usual 15 s, so that
// the scrapes' own cost shows.
const scrapeInterval = time.Second

// startScraper scrapes every member's /metrics every scrapeInterval until
// the cluster closes. A first scrape must succeed on each: a run that
// measured metrics which were not served would mislead.
func (c *vaultCluster) startScraper(ctx context.Context) error {
	cl := &http.Client{Timeout: 5 * time.Second}
	get := func(addr string) error {
		resp, err := cl.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/metrics on %s: %s", addr, resp.Status)
		}
		return nil
	}
	for _, m := range c.members {
		if err := get(m.metricsAddr); err != nil {
			return err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	c.scrape = cancel
	var failed atomic.Int64
	for _, m := range c.members {
		go func() {
			t := time.NewTicker(scrapeInterval)
			defer t.Stop()
			for {
				select {
				case <-sctx.Done():
					return
				case <-t.C:
				}
				if err := get(m.metricsAddr); err != nil && sctx.Err() == nil && failed.Add(1) == 1 {
					fmt.Fprintf(c.log, "vault-bench: scraping %s: %v\n", m.p.name, err)
				}
			}
		}()
	}
	return nil
}
