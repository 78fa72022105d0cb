package vault

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/audit"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

// The audit log (docs/access.md "Audit log"; internal/audit has the format).
//
// Configured by daemon flags only (Config.Audit), never through the API.
// The log opens at start without keys; records written while locked are
// chained, and the first seal after unlock covers them. Unlocking gives the
// log keys derived from the keyring's name-index key; locking takes them
// away (and wipes them).
//
// Every request of a caller (root on the local socket, a client on the
// manager API) gets one record, written after the request ran and before
// the answer is sent: time, node, identity (socket peer uid/pid, or the
// client certificate's subject and serial), route, op, secret id, the
// name's HMAC and the result. Peer routes between managers are not
// recorded. Under --audit-fail closed (the default) an answer whose record
// cannot be written is refused, and a request that changes something gets
// a first record ("started") before it runs, which must be written for it
// to run at all — so that nothing is changed unrecorded. Status, lock,
// unlock and unmount are served either way (they give no secret access and
// let an operator see and contain the problem). Under open, requests are
// served, the log counts what it lost, and status, the health check and
// the daemon's log say so.

// auditState is a Node's audit log and its keys.
type auditState struct {
	log  *audit.Log // nil: no audit log configured
	mu   sync.Mutex
	keys *audit.Keys // the log's, while unlocked
}

// auditExempt are routes served even when their record cannot be written.
var auditExempt = map[string]bool{
	"GET /v1/status":    true,
	"POST /v1/lock":     true,
	"POST /v1/unlock":   true,
	"DELETE /v1/mounts": true,
}

// openAudit opens the configured audit log (without keys).
func (n *Node) openAudit(st *statedir.Node) error {
	if n.cfg.Audit == nil || n.cfg.Audit.Path == "" {
		return nil
	}
	c := *n.cfg.Audit
	if st != nil {
		c.Node = st.NodeID
	}
	log := n.log.With("component", "audit")
	c.Logf = func(format string, args ...any) {
		msg := withoutPrefix(fmt.Sprintf(format, args...))
		if strings.Contains(msg, "writable again") {
			log.Info(msg)
			return
		}
		if c.Fail == audit.FailClosed {
			log.Error(msg, "hint", "secret access is refused until the audit log takes writes again (--audit-fail closed)")
		} else {
			log.Warn(msg, "hint", "requests are served without their audit records (--audit-fail open)")
		}
	}
	l, err := audit.Open(&c, nil)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	n.aud.log = l
	log.Info("audit log open", "path", c.Path, "policy", c.Fail.String())
	return nil
}

// withoutPrefix drops the audit package's prefixes and the doubled
// "write FILE: write FILE:" of a failed write.
func withoutPrefix(s string) string {
	s = strings.ReplaceAll(s, "audit: ", "")
	if i := strings.Index(s, ": write "); strings.HasPrefix(s, "write ") && i > 0 && strings.HasPrefix(s[i+2:], s[:i]+": ") {
		s = s[i+2:]
	}
	return s
}

// auditUnlocked gives the audit log its keys, derived from ring.
func (n *Node) auditUnlocked(ring *keys.Keyring) {
	l := n.aud.log
	if l == nil {
		return
	}
	if st := n.identity(); st != nil {
		l.SetNode(st.NodeID)
	}
	k, err := auditKeys(ring)
	if err != nil {
		n.log.Warn("audit log: no keys: records stay unsealed", "err", err)
		return
	}
	n.setAuditKeys(k)
}

// auditLocked takes the audit log's keys away and wipes them.
func (n *Node) auditLocked() {
	if n.aud.log != nil {
		n.setAuditKeys(nil)
	}
}

func (n *Node) setAuditKeys(k *audit.Keys) {
	n.aud.mu.Lock()
	defer n.aud.mu.Unlock()
	if err := n.aud.log.SetKeys(k); err != nil && !errors.Is(err, audit.ErrClosed) {
		n.log.Warn("audit log: sealing with the new keys", "err", err)
	}
	if old := n.aud.keys; old != nil && old != k {
		old.Wipe()
	}
	n.aud.keys = k
}

func auditKeys(ring *keys.Keyring) (*audit.Keys, error) {
	ik, err := ring.IndexKey()
	if err != nil {
		return nil, err
	}
	return audit.DeriveKeys(ik)
}

// closeAudit seals and closes the audit log.
func (n *Node) closeAudit() {
	if l := n.aud.log; l != nil {
		if err := l.Close(); err != nil && !errors.Is(err, audit.ErrClosed) {
			n.log.Warn("audit log: close", "err", err)
		}
	}
}

// ReopenAudit seals the audit log and opens its file again (SIGHUP, after
// logrotate moved it).
func (n *Node) ReopenAudit() error {
	l := n.aud.log
	if l == nil {
		return nil
	}
	if err := l.Reopen(); err != nil {
		n.log.Error("audit log: reopen", "err", withoutPrefix(err.Error()))
		return err
	}
	n.log.Info("audit log reopened", "path", n.cfg.Audit.Path)
	return nil
}

// auditStatus is the log's state for status and health (nil: no log).
func (n *Node) auditStatus() *api.AuditStatus {
	l := n.aud.log
	if l == nil {
		return nil
	}
	s := l.State()
	return &api.AuditStatus{Path: s.Path, Policy: s.Policy, Healthy: s.Healthy, LastError: withoutPrefix(s.LastError), Lost: s.Lost}
}

// socketConnContext carries a local socket connection's peer credentials
// (SO_PEERCRED) into its requests' context.
func socketConnContext(ctx context.Context, c net.Conn) context.Context {
	for {
		switch w := c.(type) {
		case *limitedConn:
			c = w.Conn
			continue
		case interface{ NetConn() net.Conn }:
			c = w.NetConn()
			continue
		}
		break
	}
	if p, err := audit.PeerCred(c); err == nil {
		return audit.WithPeer(ctx, p)
	}
	return ctx
}

// errAuditFailed is the answer to a request refused because its audit
// record cannot be written (closed policy).
func errAuditFailed(err error) *api.Error {
	return api.Errorf(api.CodeUnavailable, "refused: the audit log cannot be written (%s)", withoutPrefix(operatorMessage(err.Error()))).
		WithHint("the daemon runs with --audit-fail closed: make the audit log's file writable again (disk space, permissions); `vault status` shows its state")
}

// auditBefore, under the closed policy, writes a "started" record of a
// request that changes something (any method but GET) before it runs, and
// refuses the request if that record cannot be written: nothing changes
// unrecorded. Its result follows in a second record (auditAfter).
func (n *Node) auditBefore(r *http.Request) *api.Error {
	l := n.aud.log
	if l == nil || l.Policy() != audit.FailClosed || r.Method == http.MethodGet || auditExempt[r.Pattern] {
		return nil
	}
	c := callerOf(r)
	if c == nil {
		return nil
	}
	rec := &audit.Record{Kind: audit.KindRequest, Identity: c.identity, Route: r.Pattern, Op: opOf(r.Pattern), Result: resultStarted}
	if ref := r.PathValue("ref"); ref != "" {
		rec.NameHMAC, _ = l.HashName(ref)
	}
	if err := n.auditWrite(l, rec); err != nil {
		return errAuditFailed(err)
	}
	return nil
}

// resultStarted is the result of the record written before a change runs.
const resultStarted = "started"

// auditAfter writes the request's record; under the closed policy a record
// that cannot be written makes the request's answer an error.
func (n *Node) auditAfter(r *http.Request, out any, err error) error {
	l := n.aud.log
	if l == nil {
		return nil
	}
	c := callerOf(r)
	if c == nil {
		return nil
	}
	rec := &audit.Record{Kind: audit.KindRequest, Identity: c.identity, Route: r.Pattern, Op: opOf(r.Pattern), Result: audit.ResultOK}
	if err != nil {
		rec.Result = audit.ResultError
		rec.Code = operatorError(api.CodeInternal, err).Code
	}
	id, name := secretOf(r, out)
	rec.SecretID = id
	if name != "" {
		rec.NameHMAC, _ = l.HashName(name) // none while locked
	}
	werr := n.auditWrite(l, rec)
	if werr != nil && l.Policy() == audit.FailClosed && !auditExempt[r.Pattern] {
		return errAuditFailed(werr)
	}
	return nil
}

// auditRefusal records a client request refused before it reached a
// route (no certificate admitted, or its role may not use the route).
func (n *Node) auditRefusal(r *http.Request, cert *x509.Certificate, pattern string, e *api.Error) {
	l := n.aud.log
	if l == nil {
		return
	}
	id := &audit.Identity{Kind: audit.IdentityClient}
	if cert != nil {
		id = audit.CertIdentity(audit.IdentityClient, cert)
	}
	op := opOf(pattern)
	if pattern == "" {
		pattern, op = r.Method, "refused"
	}
	_ = n.auditWrite(l, &audit.Record{Kind: audit.KindRequest, Identity: id, Route: pattern, Op: op, Result: audit.ResultError, Code: e.Code})
}

// secretOf is the secret a request named: its id and name from the
// answer, or (when it failed) the reference it was given, as a name.
func secretOf(r *http.Request, out any) (id, name string) {
	switch v := out.(type) {
	case *api.SecretRef:
		if v != nil {
			return v.ID, v.Name
		}
	case *api.Secret:
		if v != nil {
			return v.ID, v.Name
		}
	case *api.RemoveResponse:
		if v != nil {
			return v.ID, v.Name
		}
	}
	return "", r.PathValue("ref")
}

// registerAudit adds the audit routes: the HMAC of a name, to search the
// log, and the seal verification key.
func (n *Node) registerAudit(mux *routeTable) {
	mux.HandleFunc("POST /v1/audit/hash", n.handle(func(r *http.Request) (any, error) {
		var req api.AuditHashRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		k, err := n.runningAuditKeys()
		if err != nil {
			return nil, err
		}
		defer k.Wipe()
		h, err := k.HashName(req.Name)
		return &api.AuditHashResponse{HMAC: h}, err
	}))
	mux.HandleFunc("GET /v1/audit/key", n.handle(func(r *http.Request) (any, error) {
		k, err := n.runningAuditKeys()
		if err != nil {
			return nil, err
		}
		defer k.Wipe()
		return &api.AuditKeyResponse{VerifyKey: k.VerifyKey().String()}, nil
	}))
}

// runningAuditKeys derives the audit keys from the running keyring (with
// or without an audit log on this node); the caller wipes them.
func (n *Node) runningAuditKeys() (*audit.Keys, error) {
	run, err := n.running()
	if err != nil {
		return nil, err
	}
	return auditKeys(run.ring)
}

// auditStarted records a request whose handler takes the connection over
// (exec) before it runs: there is no answer to record a result in. Under
// the closed policy the request is refused if the record cannot be
// written.
func (n *Node) auditStarted(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := n.aud.log
		if c := callerOf(r); l != nil && c != nil {
			rec := &audit.Record{Kind: audit.KindRequest, Identity: c.identity, Route: r.Pattern, Op: opOf(r.Pattern), Result: resultStarted}
			if err := n.auditWrite(l, rec); err != nil && l.Policy() == audit.FailClosed {
				writeError(w, errAuditFailed(err))
				return
			}
		}
		h(w, r)
	}
}

// auditWrite writes rec and counts a failed write (metrics).
func (n *Node) auditWrite(l *audit.Log, rec *audit.Record) error {
	err := l.Write(rec)
	if err != nil {
		if m := n.metrics(); m != nil {
			m.AuditWriteFailed()
		}
	}
	return err
}
