package vault

import "net/http/pprof"

// registerPprof serves Go's profiles on the local socket when the daemon
// runs with --pprof, e.g.
//
//	curl --unix-socket /run/vault/vault.sock -o cpu.pprof 'http://vault/debug/pprof/profile?seconds=10'
//	go tool pprof -top bin/vault cpu.pprof
func (n *Node) registerPprof(mux *routeTable) {
	if !n.cfg.Pprof {
		return
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
