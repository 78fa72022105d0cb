package vault

import "time"

// every calls f each interval d until stop is closed: the shape of the
// running phase's background loops (leadership balance, removal probe,
// health log, automatic rotation).
func every(stop <-chan struct{}, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		f()
	}
}
