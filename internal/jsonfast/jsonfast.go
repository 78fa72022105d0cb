// Package jsonfast reads and writes the few JSON shapes that a listing of
// every secret moves a million times: a secret's sealed record and the API's
// secret object. encoding/json spends most of a listing's CPU in reflection;
// these hand-written paths do not.
//
// # Invariant
//
// A fast path never decides differently from encoding/json: the Scanner
// accepts only a strict subset of JSON (no escapes, no bytes outside
// printable ASCII in strings, integers only, no null, no unknown or repeated
// keys) and reports anything else as not handled, so that the caller falls
// back to encoding/json. Whatever it does accept, it decodes as
// encoding/json would (fuzz tests in the packages using it compare both).
// AppendString writes what encoding/json writes, or calls it.
package jsonfast

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
)

// Scanner reads one JSON value from a byte slice. After the first input it
// does not handle, every method returns a zero value and OK reports false.
type Scanner struct {
	b   []byte
	i   int
	bad bool
}

// NewScanner returns a Scanner reading b.
func NewScanner(b []byte) *Scanner { return &Scanner{b: b} }

// Reset makes s read b from the start.
func (s *Scanner) Reset(b []byte) { *s = Scanner{b: b} }

// OK reports whether everything so far was handled.
func (s *Scanner) OK() bool { return !s.bad }

// Fail marks the input as not handled (for callers that meet a key or
// value they do not expect).
func (s *Scanner) Fail() { s.bad = true }

// End reports whether the whole input was handled and nothing but
// whitespace follows the value read.
func (s *Scanner) End() bool {
	s.ws()
	return !s.bad && s.i == len(s.b)
}

// ws skips whitespace. Records and objects are written compact, so the
// next byte is most often a token: that test is inlined, the loop is not.
func (s *Scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	s.skipWS()
}

func (s *Scanner) skipWS() {
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	s.i = i
}

func (s *Scanner) expect(c byte) bool {
	s.ws()
	if s.bad || s.i >= len(s.b) || s.b[s.i] != c {
		s.bad = true
		return false
	}
	s.i++
	return true
}

func (s *Scanner) peek(c byte) bool {
	s.ws()
	if !s.bad && s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// Object reads an object, calling f with each key; f must read the key's
// value (or call Fail). The key is valid during f only.
func (s *Scanner) Object(f func(key []byte)) {
	if !s.expect('{') {
		return
	}
	if s.peek('}') {
		return
	}
	for !s.bad {
		k := s.rawString()
		if !s.expect(':') {
			return
		}
		f(k)
		if s.peek(',') {
			continue
		}
		s.expect('}')
		return
	}
}

// Array reads an array, calling f for each element; f must read it.
func (s *Scanner) Array(f func()) {
	if !s.expect('[') {
		return
	}
	if s.peek(']') {
		return
	}
	for !s.bad {
		f()
		if s.peek(',') {
			continue
		}
		s.expect(']')
		return
	}
}

// plain[c] reports whether byte c may stand in a string the Scanner
// handles: printable ASCII other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Word-at-a-time tests of eight bytes (x, read little-endian): each is
// nonzero if any byte of x is below n, above n, or zero. A nonzero result
// says only that some byte is; rawString then goes byte by byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func anyBelow(x, n uint64) uint64 { return (x - ones*n) & ^x & highs }        // n <= 128
func anyAbove(x, n uint64) uint64 { return ((x + ones*(127-n)) | x) & highs } // n <= 127
func anyZero(x uint64) uint64     { return (x - ones) & ^x & highs }
func anyEqual(x, c uint64) uint64 { return anyZero(x ^ (ones * c)) }
func notPlain(x uint64) uint64 {
	return anyBelow(x, 0x20) | anyAbove(x, 0x7e) | anyEqual(x, '"') | anyEqual(x, '\\')
}

// rawString reads a string of printable ASCII without escapes and returns
// its bytes (a sub-slice of the input).
func (s *Scanner) rawString() []byte {
	if !s.expect('"') {
		return nil
	}
	b, i := s.b, s.i
	for i+8 <= len(b) && notPlain(binary.LittleEndian.Uint64(b[i:])) == 0 {
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i == len(b) || b[i] != '"' {
		s.bad = true
		return nil
	}
	start := s.i
	s.i = i + 1
	return b[start:i]
}

// String reads a string.
func (s *Scanner) String() string { return string(s.rawString()) }

// RawString reads a string and returns its bytes without copying them (a
// sub-slice of the input, valid while the input is).
func (s *Scanner) RawString() []byte { return s.rawString() }

// Quoted reads a string and returns it with its quotes (for a type's own
// UnmarshalJSON).
func (s *Scanner) Quoted() []byte {
	s.ws()
	start := s.i
	s.rawString()
	if s.bad {
		return nil
	}
	return s.b[start:s.i]
}

// number returns the bytes of an integer: an optional minus and digits,
// without a leading zero unless it is the only digit.
func (s *Scanner) number() []byte {
	s.ws()
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	d := i
	for i < len(b) && b[i]-'0' < 10 {
		i++
	}
	s.i = i
	switch {
	case i == d, b[d] == '0' && i-d > 1:
		s.bad = true
		return nil
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		s.bad = true // encoding/json refuses a fraction for an integer field: let it say so
		return nil
	}
	return b[start:i]
}

// Int reads an integer that fits in bits.
func (s *Scanner) Int(bits int) int64 {
	n := s.number()
	if s.bad {
		return 0
	}
	neg, d := n[0] == '-', n
	if neg {
		d = n[1:]
	}
	if len(d) > maxDigits {
		v, err := strconv.ParseInt(string(n), 10, bits)
		if err != nil {
			s.bad = true
		}
		return v
	}
	// The magnitude fits in a uint64: the range of bits is left to check
	// (down to -1<<(bits-1), up to 1<<(bits-1) - 1).
	u, limit := digits(d), uint64(1)<<(bits-1)
	if u > limit || u == limit && !neg {
		s.bad = true
		return 0
	}
	if neg {
		return -int64(u) // -1<<63 too: int64(1<<63) is its own negation
	}
	return int64(u)
}

// Uint reads an unsigned integer that fits in bits.
func (s *Scanner) Uint(bits int) uint64 {
	n := s.number()
	if s.bad {
		return 0
	}
	if n[0] != '-' && len(n) <= maxDigits {
		v := digits(n)
		if bits < 64 && v >= 1<<bits {
			s.bad = true
			return 0
		}
		return v
	}
	v, err := strconv.ParseUint(string(n), 10, bits)
	if err != nil {
		s.bad = true
	}
	return v
}

// maxDigits is the most decimal digits Int and Uint add up themselves:
// 10^19 - 1 is below 2^64, so no such value overflows a uint64. Longer
// numbers go to strconv.
const maxDigits = 19

// digits is the value of d, a run of at most maxDigits decimal digits
// (number checked them), eight at a time while eight are left.
func digits(d []byte) uint64 {
	var v uint64
	for ; len(d) >= 8; d = d[8:] {
		v = v*100000000 + eightDigits(binary.LittleEndian.Uint64(d))
	}
	for _, c := range d {
		v = v*10 + uint64(c-'0')
	}
	return v
}

// eightDigits is the value of eight decimal digits read little-endian
// into x (the first digit in the lowest byte): pairs, then fours, then
// the eight, added up in parallel within the word.
func eightDigits(x uint64) uint64 {
	x -= ones * '0'
	x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
	x = (x*100 + x>>16) & 0x0000ffff0000ffff
	return (x*10000 + x>>32) & 0xffffffff
}

// Keys tracks which of up to 64 known keys an object has held, so that a
// repeated key (which encoding/json would merge or overwrite) is not
// handled.
type Keys uint64

// Once reports whether key number i is seen for the first time, and marks
// s not handled if it is not.
func (k *Keys) Once(s *Scanner, i int) bool {
	if *k&(1<<i) != 0 {
		s.bad = true
		return false
	}
	*k |= 1 << i
	return true
}

// AppendString appends v as encoding/json writes a string.
func AppendString(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(v) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}
