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

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
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

// rawString reads a string of printable ASCII without escapes and returns
// its bytes (a sub-slice of the input).
func (s *Scanner) rawString() []byte {
	if !s.expect('"') {
		return nil
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1]
		case c < 0x20 || c >= 0x7f || c == '\\':
			s.bad = true
			return nil
		}
		s.i++
	}
	s.bad = true
	return nil
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
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	d := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	switch {
	case s.i == d, s.b[d] == '0' && s.i-d > 1:
		s.bad = true
		return nil
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		s.bad = true // encoding/json refuses a fraction for an integer field: let it say so
		return nil
	}
	return s.b[start:s.i]
}

// Int reads an integer that fits in bits.
func (s *Scanner) Int(bits int) int64 {
	n := s.number()
	if s.bad {
		return 0
	}
	v, err := strconv.ParseInt(string(n), 10, bits)
	if err != nil {
		s.bad = true
	}
	return v
}

// Uint reads an unsigned integer that fits in bits.
func (s *Scanner) Uint(bits int) uint64 {
	n := s.number()
	if s.bad {
		return 0
	}
	v, err := strconv.ParseUint(string(n), 10, bits)
	if err != nil {
		s.bad = true
	}
	return v
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
