package vault

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// TestSecretKeysList: the keys-only list holds every secret's id and name,
// as the whole list does, across a page opened in parts on several
// goroutines; a bad ?keys= is refused with what to send instead.
func TestSecretKeysList(t *testing.T) {
	n, c := startSingleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const count = 3*listPart + 7 // more than one part per core on 2 cores
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < count; i += 8 {
				req := api.CreateSecretRequest{Name: fmt.Sprintf("s-%04d", count-i), Data: []byte("v")}
				if i%3 == 0 {
					req.Labels = map[string]string{"env": "prod", "i": fmt.Sprint(i)}
				}
				if _, err := c.CreateSecret(ctx, req); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	whole, err := c.Secrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.SecretKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != count || len(keys) != count {
		t.Fatalf("%d secrets: whole list %d, keys-only list %d", count, len(whole), len(keys))
	}
	for i := range whole {
		if keys[i] != (api.SecretKey{ID: whole[i].ID, Name: whole[i].Name}) {
			t.Fatalf("element %d: keys-only %+v, whole %s %s", i, keys[i], whole[i].ID, whole[i].Name)
		}
		if i > 0 && whole[i-1].Name >= whole[i].Name {
			t.Fatalf("not sorted by name at %d: %s, %s", i, whole[i-1].Name, whole[i].Name)
		}
		if want := fmt.Sprintf("s-%04d", i+1); whole[i].Name != want {
			t.Fatalf("element %d: %s, want %s", i, whole[i].Name, want)
		}
	}
	stale, err := c.StaleReads().SecretKeys(ctx)
	if err != nil || len(stale) != count {
		t.Fatalf("stale keys-only list: %d, %v", len(stale), err)
	}

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.cfg.SocketPath)
	}}}
	resp, err := hc.Get("http://vault/v1/secrets?keys=yes")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "want keys=true") {
		t.Fatalf("?keys=yes: %d %s", resp.StatusCode, body)
	}
}
