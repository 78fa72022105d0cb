package jsonfast

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

// intInputs are integers around every boundary Int and Uint check: each
// width's limits and one past them, the largest numbers added up without
// strconv (19 digits) and the first that are not (20), and forms
// encoding/json refuses for an integer.
func intInputs() []string {
	in := []string{"0", "-0", "1", "-1", "00", "01", "-01", "-", "", "1.5", "1e3", "1E3", "12345678", "123456789",
		"9999999999999999999", "-9999999999999999999", "10000000000000000000", "-10000000000000000000",
		"99999999999999999999", "18446744073709551615", "18446744073709551616", "-18446744073709551616"}
	for _, bits := range []int{8, 16, 32, 64} {
		for _, d := range []int64{-1, 0, 1} {
			in = append(in,
				strconv.FormatUint(uint64(1)<<(bits-1)+uint64(d), 10),
				"-"+strconv.FormatUint(uint64(1)<<(bits-1)+uint64(d), 10),
			)
			if bits < 64 {
				in = append(in, strconv.FormatUint(uint64(1)<<bits+uint64(d), 10))
			}
		}
	}
	return append(in, strconv.FormatUint(math.MaxUint64, 10), strconv.FormatInt(math.MinInt64, 10), strconv.FormatInt(math.MaxInt64, 10))
}

// TestIntUint: Int and Uint read what encoding/json reads into an integer
// of each width and refuse what it refuses.
func TestIntUint(t *testing.T) {
	for _, in := range intInputs() {
		for _, bits := range []int{8, 16, 32, 64} {
			var s Scanner
			s.Reset([]byte(in))
			got := s.Int(bits)
			ok := s.End()
			want, err := jsonInts[bits](in)
			if ok != (err == nil) || ok && got != want {
				t.Errorf("Int(%d) of %q: %d, handled %v; encoding/json: %d, %v", bits, in, got, ok, want, err)
			}
			s.Reset([]byte(in))
			ugot := s.Uint(bits)
			ok = s.End()
			uwant, err := jsonUints[bits](in)
			if ok != (err == nil) || ok && ugot != uwant {
				t.Errorf("Uint(%d) of %q: %d, handled %v; encoding/json: %d, %v", bits, in, ugot, ok, uwant, err)
			}
		}
	}
}

// jsonInts and jsonUints decode as encoding/json does into an integer of
// each width.
var (
	jsonInts = map[int]func(string) (int64, error){
		8: viaJSON[int8, int64], 16: viaJSON[int16, int64], 32: viaJSON[int32, int64], 64: viaJSON[int64, int64],
	}
	jsonUints = map[int]func(string) (uint64, error){
		8: viaJSON[uint8, uint64], 16: viaJSON[uint16, uint64], 32: viaJSON[uint32, uint64], 64: viaJSON[uint64, uint64],
	}
)

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func viaJSON[T, R integer](in string) (R, error) {
	var x T
	err := json.Unmarshal([]byte(in), &x)
	return R(x), err
}

// TestStringEachByte: a string is handled exactly when every byte of it is
// printable ASCII other than the quote and the backslash, whichever
// position it holds in the eight bytes read at a time, and handled strings
// read back as encoding/json reads them.
func TestStringEachByte(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for pos := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				in := `"` + string(b) + `"`
				var s Scanner
				s.Reset([]byte(in))
				got := s.String()
				ok := s.End()
				if want := c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; ok != want {
					t.Fatalf("%q: handled %v, want %v", in, ok, want)
				}
				if ok {
					var want string
					if err := json.Unmarshal([]byte(in), &want); err != nil || got != want {
						t.Fatalf("%q: %q; encoding/json: %q, %v", in, got, want, err)
					}
				}
			}
		}
	}
}

// FuzzScanner reads an integer and a string with the Scanner and with
// encoding/json: whatever the Scanner handles, encoding/json accepts and
// reads the same.
func FuzzScanner(f *testing.F) {
	for _, in := range intInputs() {
		f.Add(in)
	}
	f.Add(`"abcdefghijklmnop"`)
	f.Add(`"abc\"def"`)
	f.Add("\"abcdefg\x7f\"")
	f.Fuzz(func(t *testing.T, in string) {
		var s Scanner
		s.Reset([]byte(in))
		i := s.Int(64)
		if s.End() {
			var want int64
			if err := json.Unmarshal([]byte(in), &want); err != nil || want != i {
				t.Fatalf("Int of %q: %d; encoding/json: %d, %v", in, i, want, err)
			}
		}
		s.Reset([]byte(in))
		u := s.Uint(32)
		if s.End() {
			var want uint32
			if err := json.Unmarshal([]byte(in), &want); err != nil || uint64(want) != u {
				t.Fatalf("Uint(32) of %q: %d; encoding/json: %d, %v", in, u, want, err)
			}
		}
		s.Reset([]byte(in))
		str := s.String()
		if s.End() {
			var want string
			if err := json.Unmarshal([]byte(in), &want); err != nil || want != str {
				t.Fatalf("String of %q: %q; encoding/json: %q, %v", in, str, want, err)
			}
		}
	})
}
