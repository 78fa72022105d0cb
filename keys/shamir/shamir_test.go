package shamir

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// xtime multiplies by x (0x02) the way FIPS-197 section 4.2.1 defines it.
func xtime(a byte) byte {
	if a&0x80 != 0 {
		return a<<1 ^ 0x1b
	}
	return a << 1
}

// slowMul is the textbook definition: carry-less product, then reduction
// by 0x11b. It shares no code with mul.
func slowMul(a, b byte) byte {
	var p uint16
	for i := range 8 {
		if b&(1<<i) != 0 {
			p ^= uint16(a) << i
		}
	}
	for i := 15; i >= 8; i-- {
		if p&(1<<i) != 0 {
			p ^= 0x11b << (i - 8)
		}
	}
	return byte(p)
}

func TestMulKnownValues(t *testing.T) {
	tests := []struct{ a, b, want byte }{
		{0x57, 0x83, 0xc1}, // FIPS-197 4.2
		{0x57, 0x13, 0xfe}, // FIPS-197 4.2.1
		{0x57, 0x02, 0xae},
		{0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8e},
		{0x57, 0x10, 0x07},
		{0x53, 0xca, 0x01}, // inverse pair used in the AES S-box derivation
		{0x00, 0xff, 0x00},
		{0x01, 0xff, 0xff},
		{0x80, 0x02, 0x1b},
	}
	for _, tt := range tests {
		if got := mul(tt.a, tt.b); got != tt.want {
			t.Errorf("mul(%#02x, %#02x) = %#02x, want %#02x", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestMulMatchesReference(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			x, y := byte(a), byte(b)
			if got, want := mul(x, y), slowMul(x, y); got != want {
				t.Fatalf("mul(%#02x, %#02x) = %#02x, reference %#02x", x, y, got, want)
			}
			if mul(x, y) != mul(y, x) {
				t.Fatalf("mul not commutative at %#02x, %#02x", x, y)
			}
		}
		if got, want := mul(byte(a), 2), xtime(byte(a)); got != want {
			t.Fatalf("mul(%#02x, 2) = %#02x, xtime %#02x", a, got, want)
		}
	}
}

// TestLogTables builds the exp/log tables of generator 0x03 (the tables
// published for AES) and checks that mul agrees with them.
func TestLogTables(t *testing.T) {
	var exp [255]byte
	var log [256]int
	seen := map[byte]bool{}
	e := byte(1)
	for i := range exp {
		if seen[e] {
			t.Fatalf("0x03 has order %d, not 255", i)
		}
		seen[e] = true
		exp[i] = e
		log[e] = i
		e = xtime(e) ^ e // e * 0x03
	}
	if e != 1 {
		t.Fatalf("0x03^255 = %#02x, want 1", e)
	}
	// Spot values of the published tables (log 0x02 = 25, 0x03^-1 = 0xf6).
	for _, c := range []struct {
		i    int
		want byte
	}{{1, 0x03}, {2, 0x05}, {3, 0x0f}, {8, 0x1a}, {25, 0x02}, {254, 0xf6}} {
		if exp[c.i] != c.want {
			t.Errorf("exp[%d] = %#02x, want %#02x", c.i, exp[c.i], c.want)
		}
	}
	for a := 1; a < 256; a++ {
		for b := 1; b < 256; b++ {
			want := exp[(log[a]+log[b])%255]
			if got := mul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%#02x, %#02x) = %#02x, tables say %#02x", a, b, got, want)
			}
		}
	}
}

func TestInverse(t *testing.T) {
	known := map[byte]byte{0x00: 0x00, 0x01: 0x01, 0x02: 0x8d, 0x03: 0xf6, 0x53: 0xca, 0xca: 0x53, 0xff: 0x1c}
	for a, want := range known {
		if got := inv(a); got != want {
			t.Errorf("inv(%#02x) = %#02x, want %#02x", a, got, want)
		}
	}
	for a := 1; a < 256; a++ {
		if got := mul(byte(a), inv(byte(a))); got != 1 {
			t.Fatalf("%#02x * inv(%#02x) = %#02x, want 1", a, a, got)
		}
	}
}

func TestDistributive(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			c := byte(a*7 + b*13 + 1)
			if mul(byte(a), byte(b)^c) != mul(byte(a), byte(b))^mul(byte(a), c) {
				t.Fatalf("distributivity fails at %d, %d, %d", a, b, c)
			}
			if mul(mul(byte(a), byte(b)), c) != mul(byte(a), mul(byte(b), c)) {
				t.Fatalf("associativity fails at %d, %d, %d", a, b, c)
			}
		}
	}
}

// subsets calls f with every subset of shares of size k or more.
func subsets(shares []Share, k int, f func([]Share)) {
	for mask := 1; mask < 1<<len(shares); mask++ {
		var s []Share
		for i := range shares {
			if mask&(1<<i) != 0 {
				s = append(s, shares[i])
			}
		}
		if len(s) >= k {
			f(s)
		}
	}
}

func TestSplitCombine(t *testing.T) {
	tests := []struct {
		n, t   int
		secret []byte
	}{
		{2, 2, []byte{0x42}},
		{3, 2, []byte("a secret")},
		{5, 3, bytes.Repeat([]byte{0xa5, 0x00, 0xff}, 14)},
		{7, 7, []byte("every share is needed")},
		{10, 4, make([]byte, 40)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-of-%d", tt.t, tt.n), func(t *testing.T) {
			orig := bytes.Clone(tt.secret)
			shares, err := Split(tt.secret, tt.n, tt.t)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tt.secret, orig) {
				t.Fatal("Split modified the secret")
			}
			if len(shares) != tt.n {
				t.Fatalf("got %d shares, want %d", len(shares), tt.n)
			}
			for i, s := range shares {
				if s.X != byte(i+1) || len(s.Y) != len(tt.secret) {
					t.Fatalf("share %d: x = %d, %d bytes", i, s.X, len(s.Y))
				}
			}
			count := 0
			subsets(shares, tt.t, func(s []Share) {
				count++
				got, err := Combine(s)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.secret) {
					t.Fatalf("%d shares did not reconstruct the secret", len(s))
				}
				// Order does not matter.
				rev := make([]Share, len(s))
				for i := range s {
					rev[len(s)-1-i] = s[i]
				}
				if got, _ := Combine(rev); !bytes.Equal(got, tt.secret) {
					t.Fatal("reversed order did not reconstruct the secret")
				}
			})
			if count == 0 {
				t.Fatal("no subsets tried")
			}
		})
	}
}

func TestMaxShares(t *testing.T) {
	secret := []byte("two hundred and fifty-five")
	shares, err := Split(secret, 255, 255)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Combine(shares)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Combine(255 shares) = %x, %v", got, err)
	}
	got, err = Combine(shares[:254])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, secret) {
		t.Fatal("254 of 255 shares reconstructed the secret") // probability 2^-208
	}
}

func TestKnownVector(t *testing.T) {
	// secret 0x42, a1 = 0x01: y = 0x42 ^ x.
	shares, err := split(bytes.NewReader([]byte{0x01}), []byte{0x42}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x43, 0x40, 0x41}
	for i, s := range shares {
		if s.Y[0] != want[i] {
			t.Errorf("share %d = %#02x, want %#02x", s.X, s.Y[0], want[i])
		}
	}
	// secret 0x00, a1 = 0x00, a2 = 0x57: y = 0x57 * x^2; x = 2 -> 0x57 * 4 = 0x47,
	// x = 3 -> 0x57 * 5 = 0x47 ^ 0x57 = 0x10.
	shares, err = split(bytes.NewReader([]byte{0x00, 0x57}), []byte{0x00}, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := []byte{shares[0].Y[0], shares[1].Y[0], shares[2].Y[0]}; !bytes.Equal(got, []byte{0x57, 0x47, 0x10}) {
		t.Errorf("shares = %x, want 574710", got)
	}
}

// TestThresholdMinusOneIsIndependent checks perfect secrecy exhaustively for
// one byte: over all coefficient choices, the t-1 shares (and so anything
// computed from them, such as Combine's output) have the same distribution
// whatever the secret is — here exactly uniform.
func TestThresholdMinusOneIsIndependent(t *testing.T) {
	for _, secret := range []byte{0x00, 0x01, 0x5a, 0xff} {
		// t = 2: one share.
		var single [256]int
		for a1 := range 256 {
			s, err := split(bytes.NewReader([]byte{byte(a1)}), []byte{secret}, 2, 2)
			if err != nil {
				t.Fatal(err)
			}
			single[s[1].Y[0]]++
		}
		for y, c := range single {
			if c != 1 {
				t.Fatalf("t=2 secret %#02x: share value %#02x occurs %d times, want 1", secret, y, c)
			}
		}
		// t = 3: two shares, and Combine of those two.
		pairs := make([]int, 1<<16)
		var combined [256]int
		for a := range 1 << 16 {
			s, err := split(bytes.NewReader([]byte{byte(a), byte(a >> 8)}), []byte{secret}, 3, 3)
			if err != nil {
				t.Fatal(err)
			}
			pairs[int(s[0].Y[0])<<8|int(s[2].Y[0])]++
			got, err := Combine([]Share{s[0], s[2]})
			if err != nil {
				t.Fatal(err)
			}
			combined[got[0]]++
		}
		for p, c := range pairs {
			if c != 1 {
				t.Fatalf("t=3 secret %#02x: share pair %#04x occurs %d times, want 1", secret, p, c)
			}
		}
		for v, c := range combined {
			if c != 256 {
				t.Fatalf("t=3 secret %#02x: Combine of 2 shares gives %#02x %d times, want 256", secret, v, c)
			}
		}
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		n, t   int
		want   error
	}{
		{"threshold 1", []byte{1}, 3, 1, ErrInvalidParams},
		{"threshold 0", []byte{1}, 3, 0, ErrInvalidParams},
		{"threshold above n", []byte{1}, 3, 4, ErrInvalidParams},
		{"256 shares", []byte{1}, 256, 2, ErrInvalidParams},
		{"negative", []byte{1}, -1, -2, ErrInvalidParams},
		{"empty secret", nil, 3, 2, ErrEmptySecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Split(tt.secret, tt.n, tt.t); !errors.Is(err, tt.want) {
				t.Fatalf("Split error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCombineErrors(t *testing.T) {
	y := []byte{1, 2, 3}
	tests := []struct {
		name   string
		shares []Share
		want   error
	}{
		{"none", nil, ErrTooFewShares},
		{"one", []Share{{1, y}}, ErrTooFewShares},
		{"zero x", []Share{{1, y}, {0, y}}, ErrZeroX},
		{"duplicate x", []Share{{1, y}, {2, y}, {1, y}}, ErrDuplicateX},
		{"unequal lengths", []Share{{1, y}, {2, y[:2]}}, ErrUnequalLengths},
		{"empty", []Share{{1, nil}, {2, nil}}, ErrEmptySecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Combine(tt.shares); !errors.Is(err, tt.want) {
				t.Fatalf("Combine error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCombineDoesNotModifyShares(t *testing.T) {
	shares, err := Split([]byte("secret"), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	before := [][]byte{bytes.Clone(shares[0].Y), bytes.Clone(shares[1].Y)}
	if _, err := Combine(shares[:2]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before[0], shares[0].Y) || !bytes.Equal(before[1], shares[1].Y) {
		t.Fatal("Combine modified its input")
	}
}

// FuzzShamirCombine feeds arbitrary shares to Combine (it must not panic and
// must reject malformed sets) and checks that a split of the fuzzed secret
// combines back from its first t shares.
func FuzzShamirCombine(f *testing.F) {
	f.Add([]byte{1, 2, 0xaa, 0xbb, 2, 2, 0xcc, 0xdd}, uint8(3), uint8(2))
	f.Add([]byte{0, 1, 0xaa, 1, 1, 0xbb}, uint8(2), uint8(2))
	f.Add([]byte("vault secret"), uint8(255), uint8(254))
	f.Fuzz(func(t *testing.T, data []byte, n, k uint8) {
		// data: repeated (x, len, y[len]) records.
		var shares []Share
		for rest := data; len(rest) >= 2; {
			x, l := rest[0], int(rest[1])
			rest = rest[2:]
			l = min(l, len(rest))
			shares = append(shares, Share{X: x, Y: rest[:l]})
			rest = rest[l:]
		}
		got, err := Combine(shares)
		if err == nil && (len(shares) < 2 || len(got) != len(shares[0].Y)) {
			t.Fatalf("Combine accepted %d shares and returned %d bytes", len(shares), len(got))
		}

		secret := data
		if len(secret) > 16 {
			secret = secret[:16]
		}
		ss, err := Split(secret, int(n), int(k))
		if err != nil {
			if len(secret) > 0 && k >= 2 && k <= n {
				t.Fatalf("Split(%d bytes, %d, %d): %v", len(secret), n, k, err)
			}
			return
		}
		got, err = Combine(ss[len(ss)-int(k):])
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
