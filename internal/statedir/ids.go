package statedir

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// NewID returns a random 26-character id (node and cluster ids).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return idEncoding.EncodeToString(b[:])
}

// IsID reports whether s reads as an id NewID makes.
func IsID(s string) bool {
	if s == "" || len(s) > 26 {
		return false
	}
	return strings.Trim(s, idAlphabet) == ""
}
