package api

import (
	"strconv"

	"github.com/vaultd/vault/internal/jsonfast"
)

// AppendSecretRef appends r, the answer to a secret create or update, as
// encoding/json encodes it.
func AppendSecretRef(b []byte, r *SecretRef) []byte {
	b = append(b, `{"id":`...)
	b = jsonfast.AppendString(b, r.ID)
	b = append(b, `,"name":`...)
	b = jsonfast.AppendString(b, r.Name)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, uint64(r.Version), 10)
	return append(b, '}')
}
