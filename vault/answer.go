package vault

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/vaultd/vault/api"
)

// jsonContentType is the Content-Type of every JSON answer, one shared
// value (net/http only reads it) rather than a header set per answer.
var jsonContentType = []string{"application/json"}

// answerBufs are the buffers secret inspect answers are built in. An
// answer holds metadata only (names, labels, sizes, times), never data.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeAnswer writes out as one JSON value and a newline, as
// json.Encoder does. A secret's inspect answer, the API's most frequent,
// is built by api.AppendSecret without reflection (same bytes: the api
// package's tests compare them); it falls back to encoding/json when it
// carries grants, which AppendSecret does not write. A create's or
// update's answer is built by api.AppendSecretRef; those routes are
// POSTs, answered through wipeAfter or the hot loop, which write the
// Content-Length first whether the handler set it or not.
func writeAnswer(w http.ResponseWriter, out any) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	// No Date header: no client of the local API reads it, and net/http
	// formats the time for every answer that does not say so.
	h["Date"] = nil
	var bp *[]byte
	var b []byte
	switch v := out.(type) {
	case *api.Secret:
		if v != nil && len(v.Grants) == 0 {
			bp = answerBufs.Get().(*[]byte)
			b = append(api.AppendSecret((*bp)[:0], v), '\n')
		}
	case *api.SecretRef:
		if v != nil {
			bp = answerBufs.Get().(*[]byte)
			b = append(api.AppendSecretRef((*bp)[:0], v), '\n')
		}
	}
	if bp == nil {
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	_, _ = w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		answerBufs.Put(bp)
	}
}
