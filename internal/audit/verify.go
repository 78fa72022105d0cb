package audit

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// VerifyError names the first bad record found by [Verify] and why it is
// bad. Err is one of ErrMalformed, ErrEdited, ErrDeleted, ErrReordered,
// ErrTruncated, ErrBadSeal, ErrWrongKey.
type VerifyError struct {
	File   string // the input's name
	Line   int    // 1-based line in File
	Seq    uint64 // the bad record's sequence number, 0 if unknown
	Err    error
	Detail string
}

func (e *VerifyError) Error() string {
	rec := ""
	if e.Seq != 0 {
		rec = fmt.Sprintf(" (record %d)", e.Seq)
	}
	return fmt.Sprintf("%s:%d%s: %s: %s", e.File, e.Line, rec, e.Err.Error(), e.Detail)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Result is what [Verify] found in a log that verifies.
type Result struct {
	Records  uint64 // records read, seals included
	First    uint64 // sequence number of the first record
	Last     uint64 // sequence number of the last record
	Seals    int    // seals verified
	LastSeal uint64 // sequence number of the last seal (0: none)
	// Unsealed counts the records after the last seal. The chain links
	// them, but nothing signed covers them: an edit of the last of them,
	// or a cut that removed records after them, cannot be detected.
	Unsealed uint64
	// Anchored is true when the chain starts at record 1. Otherwise the
	// input continues a chain from an earlier file not given, whose last
	// record hashes to StartPrev.
	Anchored  bool
	StartPrev string
}

// Input is one file (or stream) to verify, in chain order.
type Input struct {
	Name string
	R    io.Reader
}

// VerifyFiles is [Verify] over files, oldest first (Path.N, ..., Path.1,
// Path).
func VerifyFiles(key VerifyKey, paths ...string) (*Result, error) {
	var in []Input
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			for _, i := range in {
				i.R.(*os.File).Close()
			}
			return nil, err
		}
		in = append(in, Input{Name: p, R: f})
	}
	defer func() {
		for _, i := range in {
			i.R.(*os.File).Close()
		}
	}()
	return Verify(key, in...)
}

// line is one line of the inputs.
type line struct {
	file    string
	no      int
	b       []byte
	partial bool // no newline at the end of its input
}

// lines iterates over the lines of several inputs.
type lines struct {
	in      []Input
	cur     int
	br      *bufio.Reader
	no      int
	pending *line // a line read by peek
}

// peek returns the next record's sequence number without consuming it, or 0
// when there is none or it does not parse.
func (ls *lines) peek() (uint64, error) {
	l, err := ls.next()
	if err == io.EOF {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	ls.pending = &l
	if l.partial {
		return 0, nil
	}
	r, err := ParseRecord(l.b)
	if err != nil {
		return 0, nil
	}
	return r.Seq, nil
}

func (ls *lines) next() (line, error) {
	if l := ls.pending; l != nil {
		ls.pending = nil
		return *l, nil
	}
	for ls.cur < len(ls.in) {
		if ls.br == nil {
			ls.br = bufio.NewReaderSize(ls.in[ls.cur].R, 64<<10)
			ls.no = 0
		}
		b, err := ls.br.ReadBytes('\n')
		if len(b) > 0 {
			ls.no++
			l := line{file: ls.in[ls.cur].Name, no: ls.no}
			if b[len(b)-1] == '\n' {
				l.b = b[:len(b)-1]
			} else {
				l.b, l.partial = b, true
			}
			return l, nil
		}
		if err == io.EOF {
			ls.cur++
			ls.br = nil
			continue
		}
		if err != nil {
			return line{}, err
		}
	}
	return line{}, io.EOF
}

// Verify reads the inputs as one chain and checks every link and every seal
// under key. It returns the first bad record as a [*VerifyError]; a chain
// that verifies returns a Result, whose Unsealed field counts the records
// that no seal covers. I/O errors are returned as they are.
func Verify(key VerifyKey, inputs ...Input) (*Result, error) {
	ls := &lines{in: inputs}
	res := &Result{}
	var prev line
	var prevHash [32]byte
	var expected uint64
	for {
		l, err := ls.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		bad := func(seq uint64, e error, format string, args ...any) error {
			return &VerifyError{File: l.file, Line: l.no, Seq: seq, Err: e, Detail: fmt.Sprintf(format, args...)}
		}
		if l.partial {
			return nil, bad(0, ErrTruncated, "the input ends in the middle of a record (%d bytes without a newline)", len(l.b))
		}
		r, err := ParseRecord(l.b)
		if err != nil {
			return nil, bad(0, ErrMalformed, "%s", strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "))
		}
		h := lineHash(l.b)
		if res.Records == 0 {
			res.First = r.Seq
			if r.Seq == 1 {
				if r.Prev != zeroHash {
					return nil, bad(r.Seq, ErrEdited, "record 1 names a record before it")
				}
				res.Anchored = true
			} else {
				res.StartPrev = r.Prev
			}
		} else {
			hexPrev := hex.EncodeToString(prevHash[:])
			switch {
			case r.Seq != expected && r.Prev == hexPrev:
				// Linked to the record before: either its number was
				// edited, or records were deleted and the chain
				// recomputed. The next record tells which.
				next, err := ls.peek()
				if err != nil {
					return nil, err
				}
				if r.Seq > expected && next == r.Seq+1 {
					return nil, bad(r.Seq, ErrDeleted, "records %d to %d are missing before it, and the chain was recomputed over the gap", expected, r.Seq-1)
				}
				return nil, bad(r.Seq, ErrEdited, "its sequence number was changed: it follows record %d", expected-1)
			case r.Seq < expected:
				return nil, bad(r.Seq, ErrReordered, "record %d appears after record %d", r.Seq, expected-1)
			case r.Seq > expected:
				found, err := findAhead(ls, expected, r.Seq)
				if err != nil {
					return nil, err
				}
				if found != 0 {
					return nil, bad(r.Seq, ErrReordered, "record %d appears before record %d", r.Seq, found)
				}
				if r.Seq == expected+1 {
					return nil, bad(r.Seq, ErrDeleted, "record %d is missing before it", expected)
				}
				return nil, bad(r.Seq, ErrDeleted, "records %d to %d are missing before it", expected, r.Seq-1)
			case r.Prev != hexPrev:
				return nil, &VerifyError{File: prev.file, Line: prev.no, Seq: expected - 1, Err: ErrEdited,
					Detail: fmt.Sprintf("its bytes are not those that record %d (%s:%d) names", r.Seq, l.file, l.no)}
			}
		}
		if r.Kind == KindSeal {
			if r.Key != key.ID() {
				return nil, bad(r.Seq, ErrWrongKey, "sealed under key %s, not under the given key %s", r.Key, key.ID())
			}
			msg, err := r.sealMessage()
			if err != nil {
				return nil, bad(r.Seq, ErrMalformed, "%v", err)
			}
			sig, err := hex.DecodeString(r.Sig)
			if err != nil || !key.verify(msg, sig) {
				return nil, bad(r.Seq, ErrBadSeal, "the signature does not match: the seal was forged, or a record it covers was changed and the chain recomputed")
			}
			res.Seals++
			res.LastSeal = r.Seq
			res.Unsealed = 0
		} else {
			res.Unsealed++
		}
		res.Records++
		res.Last = r.Seq
		expected = r.Seq + 1
		prev, prevHash = l, h
	}
	return res, nil
}

// findAhead reads the rest of the input for a record numbered in [lo, hi)
// and returns the first such number found, or 0.
func findAhead(ls *lines, lo, hi uint64) (uint64, error) {
	for {
		l, err := ls.next()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if l.partial {
			continue
		}
		r, err := ParseRecord(l.b)
		if err != nil {
			continue
		}
		if r.Seq >= lo && r.Seq < hi {
			return r.Seq, nil
		}
	}
}

// FirstSeq returns the sequence number of the first record in r (0 if it
// has none), for ordering rotated files.
func FirstSeq(r io.Reader) uint64 {
	b, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil {
		return 0
	}
	rec, err := ParseRecord(bytes.TrimSuffix(b, []byte{'\n'}))
	if err != nil {
		return 0
	}
	return rec.Seq
}
