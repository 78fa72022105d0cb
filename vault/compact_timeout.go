package vault

import (
	"net/http"
	"time"

	"github.com/vaultd/vault/api"
)

// Compaction gets longer than other requests. One manager's compaction
// (snapshot every group, flush the Raft log database, compact the log and
// state databases) grows with the secrets it holds: at 100,000 secrets on
// a loaded two-core machine a peer's took over 30 seconds, handlerTimeout,
// and compacting every manager had to fit in that too, so `vault key
// rotate --full` failed at its compaction step every time it was run again
// (each run starting the compaction over), and never finished.
const (
	// compactTimeout bounds one manager's compaction (POST
	// /v1/peer/compact, and the caller's wait for it).
	compactTimeout = 3 * time.Minute
	// compactAllTimeout bounds compacting every manager (POST
	// /v1/keys/compact), all at once: one manager's worth and the calls.
	compactAllTimeout = compactTimeout + time.Minute
	// slowWriteMargin is the time a slow request's answer has to be
	// written after its work's limit.
	slowWriteMargin = 15 * time.Second
)

// peerOnlyTimeout is peerOnly with a limit of d on the request's work.
func (n *Node) peerOnlyTimeout(d time.Duration, f func(r *http.Request) (any, error)) http.HandlerFunc {
	h := n.handleTimeout(d, f)
	return func(w http.ResponseWriter, r *http.Request) {
		if e := n.checkPeerRequest(r); e != nil {
			api.WriteError(w, e)
			return
		}
		h(w, r)
	}
}
