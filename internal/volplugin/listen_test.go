package volplugin

import (
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestListenRace starts several listeners on one socket at the same instant,
// as daemons started together on one host do: exactly one serves, the others
// are told the socket is in use (not "address already in use"), and the
// socket file left is the winner's.
func TestListenRace(t *testing.T) {
	for round := 0; round < 20; round++ {
		sock := filepath.Join(t.TempDir(), "vault.sock")
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  []net.Listener
			errs []error
		)
		start := make(chan struct{})
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				l, err := Listen(sock)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				won = append(won, l)
			}()
		}
		close(start)
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d listeners won (errors %v)", round, len(won), errs)
		}
		for _, err := range errs {
			if !errors.Is(err, ErrSocketInUse) {
				t.Fatalf("round %d: a losing Listen: %v, want ErrSocketInUse", round, err)
			}
		}
		go func(l net.Listener) {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}(won[0])
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			t.Fatalf("round %d: the winner's socket does not answer: %v", round, err)
		}
		c.Close()
		won[0].Close()
		won[0].Close() // a second Close (http.Server does one) is harmless
		// Closed, its socket may be replaced: the lock went with it.
		l, err := Listen(sock)
		if err != nil {
			t.Fatalf("round %d: Listen after the winner closed: %v", round, err)
		}
		l.Close()
	}
}
