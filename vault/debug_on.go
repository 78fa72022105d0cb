//go:build vaulttest

package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/raftsm"
)

// poisonKeyVersion is the DEK version of entries /v1/debug/poison commits:
// no keyring ever holds it.
const poisonKeyVersion = 0xfffff

// registerDebug exports the node's raw keys, for tests that scan disks for
// key bytes. It is compiled only with -tags vaulttest, never into a release.
func (n *Node) registerDebug(mux *routeTable) {
	mux.HandleFunc("GET /v1/debug/keys", n.handle(func(r *http.Request) (any, error) {
		run := n.current()
		if run == nil {
			return nil, errLocked()
		}
		kek, ring := run.currentKEK(), run.ring
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
	// Commits a harmless entry (the removal of a secret that does not exist)
	// to a group, sealed under a DEK no manager holds, or with dek=N under
	// this manager's DEK vN: for tests of what a replica does with an entry
	// it cannot open.
	mux.HandleFunc("POST /v1/debug/poison", n.handle(func(r *http.Request) (any, error) {
		shard, err := strconv.ParseUint(r.URL.Query().Get("shard"), 10, 64)
		if err != nil {
			return nil, api.Errorf(api.CodeInvalid, "shard: %v", err)
		}
		run, err := n.running()
		if err != nil {
			return nil, err
		}
		nh, ring := run.host(), run.ring
		var k *crypto.Key
		if d := r.URL.Query().Get("dek"); d != "" {
			v, err := strconv.ParseUint(d, 10, 32)
			if err != nil {
				return nil, api.Errorf(api.CodeInvalid, "dek: %v", err)
			}
			if k, err = ring.Key(uint32(v)); err != nil {
				return nil, err
			}
		} else {
			if k, err = crypto.GenerateKey(poisonKeyVersion); err != nil {
				return nil, err
			}
			defer k.Wipe()
		}
		reqID, nameMAC := make([]byte, 16), make([]byte, 32)
		rand.Read(reqID)
		rand.Read(nameMAC)
		b, err := raftsm.SealCommand(k, shard, &raftsm.Command{Op: raftsm.OpSecretRemove, RequestID: reqID, Time: time.Now().UnixNano(),
			Secret: &raftsm.SecretWrite{ID: hex.EncodeToString(reqID), NameMAC: nameMAC}})
		if err != nil {
			return nil, err
		}
		res, err := nh.SyncPropose(r.Context(), nh.GetNoOPSession(shard), b)
		if errors.Is(err, dragonboat.ErrShardClosed) && r.URL.Query().Get("dek") == "" {
			// The entry was committed and this replica stopped at it
			// before the proposal's result came back: what was asked.
			return map[string]any{"result": 0, "dek_version": k.Version()}, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"result": res.Value, "dek_version": k.Version()}, nil
	}))
	// Drops DEK vN from this manager's keys in memory (as if it had never
	// unwrapped it), until it applies the next keyring or restarts.
	mux.HandleFunc("POST /v1/debug/forget-dek", n.handle(func(r *http.Request) (any, error) {
		v, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 32)
		if err != nil {
			return nil, api.Errorf(api.CodeInvalid, "version: %v", err)
		}
		run, err := n.running()
		if err != nil {
			return nil, err
		}
		ring := run.ring
		w, _, err := n.controlKeyring(r.Context())
		if err != nil {
			return nil, err
		}
		if err := w.Retire(uint32(v)); err != nil {
			return nil, err
		}
		return struct{}{}, ring.Update(w, nil)
	}))
}
