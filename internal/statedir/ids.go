package statedir

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
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

// sortedEncoding writes idAlphabet's characters in byte order ('2' to
// '7', then 'a' to 'z'), so its strings sort as the bytes they encode.
var sortedEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewSecretID returns a 26-character id of NewID's characters (IsID holds)
// whose first 32 bits are now's Unix time in seconds and the other 96
// random: ids sort in the order they were made, to the second (and to the
// clocks of the managers that made them). The state database keys a
// secret's record and data pointers by its id, so new secrets' keys land
// after older ones instead of all over their key ranges, and its
// compactions stop rewriting old secrets' tables for every new one
// (raftsm's stateTableLimit). Ids made within the same 4 seconds share
// their first 6 characters (within about 2 minutes, their first 5); the
// 12 a table shows hold 28 random bits. What it gives away, the time a
// secret was created, its record holds too.
func NewSecretID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.Unix()))
	if _, err := rand.Read(b[4:]); err != nil {
		panic(err)
	}
	return sortedEncoding.EncodeToString(b[:])
}

// IsID reports whether s reads as an id NewID makes.
func IsID(s string) bool {
	if s == "" || len(s) > 26 {
		return false
	}
	return strings.Trim(s, idAlphabet) == ""
}
