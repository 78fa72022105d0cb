package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
)

// maxBody bounds a JSON request body (a secret's data is not JSON: see
// readSecretData).
const maxBody = 2 << 20

// serve listens on the Unix socket (mode 0600) and serves the API.
func (n *Node) serve() error {
	p := n.cfg.SocketPath
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("socket dir: %w", err)
	}
	if c, err := net.Dial("unix", p); err == nil {
		c.Close()
		return fmt.Errorf("another daemon is listening on %s", p)
	}
	_ = os.Remove(p) // stale socket of a daemon that died
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", p)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", p, err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		return err
	}
	n.ln = ln
	rt := n.routes()
	mux := rt.ServeMux
	n.srv = &http.Server{Handler: n.countRequests(mux, n.refuseByPhase(mux)), ConnContext: socketConnContext}
	gated := limitLocalServer(n.srv, ln).(*gate)
	hot := newHotListener(n.srv, gated, rt.hot, n.hotPhase, n.metrics) // net/http serves what the hot loop hands it
	go func() {
		if err := n.srv.Serve(hot); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("API server stopped", "err", err)
		}
	}()
	n.log.Info("serving the API", "socket", p)
	return nil
}

// routeTable is the local API's mux, which remembers every pattern
// registered on it (for the test that asks each of them while locked).
type routeTable struct {
	*http.ServeMux
	patterns []string
	hot      hotRoutes // the handlers of the hot routes, for the hot loop
}

// HandleFunc registers handler for pattern.
func (t *routeTable) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	t.patterns = append(t.patterns, pattern)
	t.ServeMux.HandleFunc(pattern, handler)
}

// servedWhileLocked are the only routes a locked node serves: a locked node
// holds no key, and answers nothing about the secrets or mounts it had.
var servedWhileLocked = map[string]bool{
	"GET /v1/status":  true,
	"POST /v1/unlock": true,
}

// servedWhileUninitialized are the only routes a node that is not part of
// a cluster serves: it has nothing else to answer about.
var servedWhileUninitialized = map[string]bool{
	"GET /v1/status":        true,
	"POST /v1/cluster/init": true,
	"POST /v1/cluster/join": true,
	"POST /v1/unlock":       true, // says there is nothing to unlock
}

// refuseByPhase answers "locked" to every request of a locked node but
// those of servedWhileLocked, and "not part of a cluster" to every request
// of an uninitialized node but those of servedWhileUninitialized.
func (n *Node) refuseByPhase(mux *http.ServeMux) http.Handler {
	// The route is looked up here only when the phase may refuse it: a
	// running manager serves every route, and mux.ServeHTTP routes the
	// request again anyway (net/http has no way to reuse the match).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.worker() != nil {
			if _, pattern := mux.Handler(r); !servedOnWorker[pattern] {
				writeError(w, errWorkerRoute())
				return
			}
			mux.ServeHTTP(w, r)
			return
		}
		switch n.phase() {
		case phaseLocked:
			if _, pattern := mux.Handler(r); !servedWhileLocked[pattern] {
				writeError(w, errLocked())
				return
			}
		case phaseUninitialized:
			if _, pattern := mux.Handler(r); !servedWhileUninitialized[pattern] {
				writeError(w, errNotInitialized())
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// routes is the local API.
func (n *Node) routes() *routeTable {
	mux := &routeTable{ServeMux: http.NewServeMux()}
	mux.HandleFunc("GET /v1/status", n.handle(func(r *http.Request) (any, error) { return n.Status(), nil }))
	mux.HandleFunc("POST /v1/cluster/init", n.handle(func(r *http.Request) (any, error) {
		var req api.InitRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.Init(r.Context(), req.Shards)
	}))
	mux.HandleFunc("POST /v1/cluster/join", n.handle(func(r *http.Request) (any, error) {
		var req api.JoinRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.Join(r.Context(), req.Token, req.ManagerAddr)
	}))
	mux.HandleFunc("GET /v1/cluster/join-token/{role}", n.handle(func(r *http.Request) (any, error) {
		return n.JoinToken(r.Context(), r.PathValue("role"), false)
	}))
	mux.HandleFunc("POST /v1/cluster/join-token/{role}", n.handle(func(r *http.Request) (any, error) {
		return n.JoinToken(r.Context(), r.PathValue("role"), true)
	}))
	mux.HandleFunc("POST /v1/cluster/leave", n.handle(func(r *http.Request) (any, error) {
		return struct{}{}, n.Leave(r.Context(), r.URL.Query().Get("force") == "true")
	}))
	mux.HandleFunc("GET /v1/nodes", n.handle(func(r *http.Request) (any, error) { return n.NodeList(r.Context()) }))
	mux.HandleFunc("DELETE /v1/nodes/{id}", n.handle(func(r *http.Request) (any, error) {
		return n.RemoveNode(r.Context(), r.PathValue("id"), r.URL.Query().Get("force") == "true")
	}))
	mux.HandleFunc("POST /v1/cluster/autolock", n.handle(func(r *http.Request) (any, error) {
		var req api.AutolockRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.SetAutolock(r.Context(), &req)
	}))
	mux.HandleFunc("GET /v1/unlock-key", n.handle(func(r *http.Request) (any, error) { return n.ShowUnlockKey(r.Context()) }))
	mux.HandleFunc("POST /v1/unlock-key/rotate", n.handle(func(r *http.Request) (any, error) {
		var req api.UnlockKeyRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.RotateUnlockKey(r.Context(), &req)
	}))
	mux.HandleFunc("POST /v1/kek-change/commit", n.handle(func(r *http.Request) (any, error) {
		var req api.KEKChangeRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.CommitKEKChange(r.Context(), req.ID)
	}))
	mux.HandleFunc("POST /v1/kek-change/abort", n.handle(func(r *http.Request) (any, error) {
		return n.AbortKEKChange(r.Context())
	}))
	mux.HandleFunc("POST /v1/unlock", n.handle(func(r *http.Request) (any, error) {
		var req api.UnlockRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.Unlock(r.Context(), req.Key)
	}))
	mux.HandleFunc("POST /v1/lock", n.handle(func(r *http.Request) (any, error) {
		var req api.LockRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, n.Lock(r.Context(), req.Force)
	}))
	mux.HandleFunc("GET /v1/keys", n.handle(func(r *http.Request) (any, error) { return n.KeyStatus(r.Context()) }))
	mux.HandleFunc("POST /v1/keys/rotate", n.handle(func(r *http.Request) (any, error) {
		var req api.RotateRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		if req.Full {
			return n.StartFullRotation(r.Context())
		}
		v, err := n.RotateDEK(r.Context(), "requested")
		return &api.RotateResponse{Version: v}, err
	}))
	mux.HandleFunc("POST /v1/keys/reseal", n.handle(func(r *http.Request) (any, error) {
		var req api.ResealRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.ResealStep(r.Context(), req.Limit)
	}))
	mux.HandleFunc("POST /v1/keys/compact", n.handleTimeout(compactAllTimeout, func(r *http.Request) (any, error) { return n.CompactAll(r.Context()) }))
	mux.HandleFunc("POST /v1/keys/rotate/finish", n.handle(func(r *http.Request) (any, error) { return n.FinishFullRotation(r.Context()) }))
	// Retiring compacts every manager again: the compaction's limit.
	mux.HandleFunc("POST /v1/keys/retire", n.handleTimeout(compactAllTimeout, func(r *http.Request) (any, error) {
		var req api.RetireRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, n.RetireDEK(r.Context(), req.Version)
	}))
	mux.HandleFunc("POST /v1/cluster/rotation", n.handle(func(r *http.Request) (any, error) {
		var req api.RotationPolicy
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, n.SetRotationPolicy(r.Context(), &req)
	}))
	mux.HandleFunc("GET /v1/mounts", n.handle(func(r *http.Request) (any, error) { return n.Mounts(), nil }))
	mux.HandleFunc("POST /v1/mounts", n.handle(func(r *http.Request) (any, error) {
		var req api.MountRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.Mount(r.Context(), &req)
	}))
	mux.HandleFunc("DELETE /v1/mounts", n.handle(func(r *http.Request) (any, error) {
		return struct{}{}, n.Unmount(r.URL.Query().Get("path"))
	}))
	mux.HandleFunc("POST /v1/exec", n.auditStarted(n.handleExec))
	mux.HandleFunc("POST /v1/snapshot", n.auditStarted(n.handleSnapshot))
	mux.HandleFunc("POST /v1/cluster/restore", n.auditStarted(n.handleRestore))
	mux.HandleFunc("POST /v1/cluster/recover", n.auditStarted(n.handleRecover))
	// The list streams page by page past n.handle; it writes its own
	// audit record before its first byte.
	mux.HandleFunc("GET /v1/secrets", n.serveSecretList)
	mux.HandleFunc("POST /v1/cluster/versions", n.handle(func(r *http.Request) (any, error) {
		var req api.VersionPolicy
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, n.SetVersionPolicy(r.Context(), &req)
	}))
	// The hot routes: served on the local socket by the hot loop too
	// (localhttp.go), with these handlers.
	mux.hot.create = n.handle(func(r *http.Request) (any, error) {
		spec, err := api.ParseSecretQuery(r.URL.Query())
		if err != nil {
			return nil, err
		}
		data, err := readSecretData(r)
		if err != nil {
			return nil, err
		}
		spec.Data = data
		return n.CreateSecret(r.Context(), spec)
	})
	mux.hot.inspect = n.handleRead(func(r *http.Request) (any, error) {
		return n.InspectSecret(readContext(r), r.PathValue("ref"))
	})
	mux.hot.update = n.handle(func(r *http.Request) (any, error) {
		data, err := readSecretData(r)
		if err != nil {
			return nil, err
		}
		return n.UpdateSecret(r.Context(), r.PathValue("ref"), data)
	})
	mux.HandleFunc(patternCreate, wipeAfter(mux.hot.create))
	mux.HandleFunc(patternInspect, mux.hot.inspect)
	mux.HandleFunc(patternUpdate, wipeAfter(mux.hot.update))
	mux.HandleFunc("DELETE /v1/secrets/{ref}", n.handle(func(r *http.Request) (any, error) {
		return n.RemoveSecret(r.Context(), r.PathValue("ref"), r.URL.Query().Get("force") == "true")
	}))
	n.registerAudit(mux)
	n.registerClients(mux)
	n.registerWorkerRoutes(mux)
	n.registerDebug(mux)
	n.registerPprof(mux)
	return mux
}

// decode reads a request body into v: one JSON object, and nothing after
// it but white space. Bodies carry secret data and unlock keys: the body is
// read into one buffer, wiped once decoded. (Copies this cannot reach
// remain: the connection's read buffer and the JSON decoder's own.)
func decode(r *http.Request, v any) error {
	body, err := readBody(http.MaxBytesReader(nil, r.Body, maxBody), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return api.Errorf(api.CodeInvalid, "request body over %d bytes", maxBody)
		}
		return api.Errorf(api.CodeInvalid, "bad request body: %s", operatorMessage(err.Error()))
	}
	return decodeBody(body, v)
}

// readBody reads rd to its end into one buffer, sized by length when known;
// a buffer outgrown is wiped before it is dropped.
func readBody(rd io.Reader, length int64) ([]byte, error) {
	size := 4096
	if length >= 0 && length < maxBody {
		size = int(length) + 1 // room to see the end without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), 2*cap(buf))
			copy(grown, buf)
			statedir.Wipe(buf)
			buf = grown
		}
		k, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			statedir.Wipe(buf)
			return nil, err
		}
	}
}

// decodeBody decodes body, one JSON object, into v and wipes body.
func decodeBody(body []byte, v any) error {
	defer statedir.Wipe(body)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return api.Errorf(api.CodeInvalid, "bad request body: %s", operatorMessage(err.Error()))
	}
	// One object and nothing after it: a second one would be dropped unread.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return api.Errorf(api.CodeInvalid, "bad request body: data after the JSON object")
	}
	return nil
}

// handle adapts f to HTTP: JSON out, errors as api.Error bodies. f runs
// under a 30 s timeout.
func (n *Node) handle(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return n.handleTimeout(handlerTimeout, f)
}

// handleRead is handle for a read whose every wait is bounded by
// withRetry (requestTimeout, and attemptTimeout per attempt): it makes no
// timer of its own, which a stale read would otherwise make for nothing.
func (n *Node) handleRead(f func(r *http.Request) (any, error)) http.HandlerFunc {
	return n.handleTimeout(0, f)
}

// handleTimeout is handle with a limit of d on the request's work (handle:
// handlerTimeout; 0: none of its own); a longer one also moves the answer's
// write deadline.
func (n *Node) handleTimeout(d time.Duration, f func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d > handlerTimeout {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + slowWriteMargin))
		}
		if e := n.auditBefore(r); e != nil {
			writeError(w, e)
			return
		}
		fr := r
		if d > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			fr = r.WithContext(ctx)
		}
		out, err := f(fr)
		if aerr := n.auditAfter(r, out, err); aerr != nil {
			out, err = nil, aerr
		}
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) {
				n.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err) // the path can hold a secret name
			}
			writeError(w, err)
			return
		}
		writeAnswer(w, out)
	}
}

// writeError answers err as an api.Error body (CodeInternal when it is
// not one).
func writeError(w http.ResponseWriter, err error) {
	api.WriteError(w, operatorError(api.CodeInternal, err))
}

// readContext is the request's context, marked for stale reads when the
// request asked for them with ?stale=true.
func readContext(r *http.Request) context.Context {
	// Most reads carry no query: parsing one into a map costs an
	// allocation or more per read.
	if r.URL.RawQuery != "" && r.URL.Query().Get("stale") == "true" {
		return WithStaleReads(r.Context())
	}
	return r.Context()
}
