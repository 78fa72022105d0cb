package raftsm

import (
	"crypto/subtle"
	"slices"
)

// Handover is a pending or finished change of a node's role (`vault node
// promote` / `vault node demote`). A node changes role by joining again
// under a new id through the normal join path: the handover's one-time
// Secret lets it join with the role asked for, and the join moves the old
// id's labels and node grants to the new id. It lives in the sealed cluster
// record, like the join tokens.
type Handover struct {
	From    string `json:"from"`         // the node id before the change
	Role    string `json:"role"`         // the role it changes to
	Secret  []byte `json:"secret"`       // one-time join token secret; secret
	To      string `json:"to,omitempty"` // the node id after the change ("": not yet)
	Created int64  `json:"created"`      // unix nanoseconds
}

// Handover returns the pending handover of a node, or nil.
func (f *Fleet) Handover(from string) *Handover {
	for i := range f.Handovers {
		if f.Handovers[i].From == from {
			return &f.Handovers[i]
		}
	}
	return nil
}

// HandoverBySecret returns the pending (not yet taken) handover a token
// secret is for, or nil.
func (f *Fleet) HandoverBySecret(secret []byte) *Handover {
	for i := range f.Handovers {
		h := &f.Handovers[i]
		if h.To == "" && len(h.Secret) == len(secret) && subtle.ConstantTimeCompare(h.Secret, secret) == 1 {
			return h
		}
	}
	return nil
}

// SetHandover records a handover of h.From, replacing an earlier one, and
// drops finished ones older than before (unix nanoseconds).
func (f *Fleet) SetHandover(h Handover, before int64) {
	f.Handovers = slices.DeleteFunc(f.Handovers, func(o Handover) bool {
		return o.From == h.From || (o.To != "" && o.Created < before)
	})
	f.Handovers = append(f.Handovers, h)
}

// DropHandover forgets a node's handover.
func (f *Fleet) DropHandover(from string) {
	f.Handovers = slices.DeleteFunc(f.Handovers, func(o Handover) bool { return o.From == from })
}

// TakeHandover completes the handover of from: the node joined again as
// to. Its labels and the grants naming it move to the new id, its worker
// entry (if it was one) goes, and the secret is forgotten (it is one-time).
func (f *Fleet) TakeHandover(from, to string) bool {
	h := f.Handover(from)
	if h == nil || h.To != "" {
		return false
	}
	h.To, h.Secret = to, nil
	f.Workers = slices.DeleteFunc(f.Workers, func(w Worker) bool { return w.NodeID == from })
	if l, ok := f.NodeLabels[from]; ok {
		f.NodeLabels[to] = l
		delete(f.NodeLabels, from)
	}
	for i := range f.Grants {
		if f.Grants[i].NodeID == from {
			f.Grants[i].NodeID = to
		}
	}
	return true
}
