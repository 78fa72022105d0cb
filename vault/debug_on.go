//go:build vaulttest

package vault

import (
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/vaultd/vault/crypto"
)

// registerDebug exports the node's raw keys, for tests that scan disks for
// key bytes. It is compiled only with -tags vaulttest, never into a release.
func (n *Node) registerDebug(mux *routeTable) {
	mux.HandleFunc("GET /v1/debug/keys", n.handle(func(r *http.Request) (any, error) {
		n.mu.RLock()
		kek, ring := n.kek, n.ring
		n.mu.RUnlock()
		if kek == nil || ring == nil {
			return nil, errLocked()
		}
		out := map[string]string{}
		add := func(name string, k *crypto.Key) {
			if b, err := crypto.ExportKey(k); err == nil {
				out[name] = hex.EncodeToString(b)
			}
		}
		add("kek", kek)
		if ik, err := ring.IndexKey(); err == nil {
			add("index", ik)
		}
		for _, v := range ring.Versions() {
			if k, err := ring.Key(v); err == nil {
				add("dek-v"+strconv.FormatUint(uint64(v), 10), k)
			}
		}
		return out, nil
	}))
}
