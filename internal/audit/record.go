package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Record kinds.
const (
	KindRequest = "request" // one API request (or delivery, or mount)
	KindOpen    = "open"    // the log was opened or a new file begun
	KindSeal    = "seal"    // a signature over the chain head
	KindLost    = "lost"    // records dropped under the open policy
)

// Identity kinds.
const (
	IdentitySocket  = "socket"  // the local root socket
	IdentityManager = "manager" // a manager's certificate
	IdentityWorker  = "worker"  // a worker's certificate
	IdentityClient  = "client"  // a remote client's certificate
)

// Results.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// Record is one line of the audit log. The writer fills Seq, Prev and Time
// (and Node); the caller fills the rest. Names never appear: only their HMAC
// ([Keys.HashName]).
type Record struct {
	Seq      uint64    `json:"seq"`
	Prev     string    `json:"prev"` // hex SHA-256 of the previous record's line
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Node     string    `json:"node,omitempty"`
	Identity *Identity `json:"identity,omitempty"`
	Route    string    `json:"route,omitempty"`     // "POST /v1/secrets"
	Op       string    `json:"op,omitempty"`        // "secret.create"
	SecretID string    `json:"secret_id,omitempty"` // the secret's id
	NameHMAC string    `json:"name_hmac,omitempty"` // [Keys.HashName] of the secret's name
	Result   string    `json:"result,omitempty"`    // ResultOK or ResultError
	Code     string    `json:"code,omitempty"`      // the api error code when Result is ResultError
	Lost     uint64    `json:"lost,omitempty"`      // KindLost: how many records were dropped
	Note     string    `json:"note,omitempty"`      // KindOpen, KindLost: why
	Key      string    `json:"key,omitempty"`       // KindSeal: the VerifyKey.ID
	Sig      string    `json:"sig,omitempty"`       // KindSeal: hex Ed25519 signature
}

// Identity says who made a request.
type Identity struct {
	Kind string `json:"kind"` // IdentitySocket, IdentityManager, IdentityWorker, IdentityClient
	// Peer is the socket peer's credentials (SO_PEERCRED) for IdentitySocket.
	Peer *Peer `json:"peer,omitempty"`
	// Cert is the client certificate for the other kinds.
	Cert *Cert `json:"cert,omitempty"`
}

// Peer is a Unix socket peer.
type Peer struct {
	UID uint32 `json:"uid"`
	PID int32  `json:"pid"`
}

// Cert names a certificate.
type Cert struct {
	Subject string `json:"subject"`
	Serial  string `json:"serial"` // hex
}

// marshal returns the record's canonical line, without the newline.
func (r *Record) marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// sealMessage is what a seal's signature covers: a label and the seal
// record's canonical line with Sig empty. The line holds Prev, the hash of
// the record before, which holds the hash of the one before it, so the
// signature covers every record back to the start of the chain.
func (r *Record) sealMessage() ([]byte, error) {
	c := *r
	c.Sig = ""
	b, err := c.marshal()
	if err != nil {
		return nil, err
	}
	return append([]byte(sealLabel), b...), nil
}

// ParseRecord reads one line (without its newline) as a record. It accepts
// only the canonical form the writer produces: known fields, in order,
// encoded as the writer encodes them, so that any edit of the bytes either
// fails here or changes the record's hash.
func ParseRecord(line []byte) (*Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the record", ErrMalformed)
	}
	c, err := r.marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(c, line) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Record) validate() error {
	if r.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrMalformed)
	}
	if len(r.Prev) != 2*sha256.Size {
		return fmt.Errorf("%w: prev is not a SHA-256 hash", ErrMalformed)
	}
	if _, err := hex.DecodeString(r.Prev); err != nil {
		return fmt.Errorf("%w: prev is not a SHA-256 hash", ErrMalformed)
	}
	switch r.Kind {
	case KindRequest, KindOpen, KindLost:
	case KindSeal:
		if r.Key == "" || r.Sig == "" {
			return fmt.Errorf("%w: seal without key or sig", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrMalformed, r.Kind)
	}
	return nil
}

// lineHash is the chain hash of a record's line (without the newline).
func lineHash(line []byte) [sha256.Size]byte { return sha256.Sum256(line) }

// zeroHash is Prev of the first record of a new chain.
var zeroHash = hex.EncodeToString(make([]byte, sha256.Size))
