// Package shamir splits a secret into shares so that any threshold of them
// recovers it and fewer reveal nothing about it (Shamir's secret sharing).
//
// # Scheme
//
// Every byte of the secret is the constant term of its own random polynomial
// of degree t-1 over GF(2^8), the field of AES (reduction polynomial
// x^8 + x^4 + x^3 + x + 1, 0x11b). Share i is the evaluation of every
// polynomial at x = i, for i = 1..n; x = 0 would be the secret itself and is
// never issued. [Combine] interpolates at x = 0 (Lagrange).
//
// # Security
//
// The coefficients are uniformly random (crypto/rand), so any t-1 shares are
// uniformly distributed whatever the secret is: they carry no information
// about it. The field arithmetic uses no tables and no secret-dependent
// branches, so its timing does not depend on the secret or the shares.
//
// Shares are not authenticated. Combining fewer than t shares, shares of
// different splits or a corrupted share yields a wrong secret without an
// error; callers put a checksum inside the secret to detect that (package
// keys does).
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Share is one point of every polynomial: the x coordinate shared by all
// bytes and one y value per byte of the secret.
type Share struct {
	X byte
	Y []byte
}

// Errors returned by [Split] and [Combine]; returned errors wrap them.
var (
	ErrInvalidParams  = errors.New("shamir: invalid parameters")
	ErrEmptySecret    = errors.New("shamir: empty secret")
	ErrTooFewShares   = errors.New("shamir: too few shares")
	ErrZeroX          = errors.New("shamir: share with x = 0")
	ErrDuplicateX     = errors.New("shamir: duplicate share")
	ErrUnequalLengths = errors.New("shamir: shares of unequal length")
)

// Split divides secret into n shares, any t of which recover it with
// [Combine]; 2 <= t <= n <= 255. Share i (0-based) has X = i+1.
func Split(secret []byte, n, t int) ([]Share, error) {
	return split(rand.Reader, secret, n, t)
}

// split is Split with the coefficients read from r, in the order
// byte 0's a1..a(t-1), byte 1's a1..a(t-1), and so on.
func split(r io.Reader, secret []byte, n, t int) ([]Share, error) {
	if t < 2 || t > n || n > 255 {
		return nil, fmt.Errorf("%w: want 2 <= threshold <= shares <= 255, got threshold %d of %d shares",
			ErrInvalidParams, t, n)
	}
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	deg := t - 1
	coeffs := make([]byte, len(secret)*deg)
	defer clear(coeffs)
	if _, err := io.ReadFull(r, coeffs); err != nil {
		return nil, fmt.Errorf("shamir: reading randomness: %w", err)
	}
	shares := make([]Share, n)
	for i := range shares {
		x := byte(i + 1)
		y := make([]byte, len(secret))
		for j, s := range secret {
			c := coeffs[j*deg : (j+1)*deg]
			var acc byte // Horner: ((a(t-1) x + a(t-2)) x + ... + a1) x + s
			for k := deg - 1; k >= 0; k-- {
				acc = mul(acc, x) ^ c[k]
			}
			y[j] = mul(acc, x) ^ s
		}
		shares[i] = Share{X: x, Y: y}
	}
	return shares, nil
}

// Combine recovers the secret from shares of one split. With at least the
// threshold of genuine shares the result is the secret; otherwise it is an
// unrelated value (see the package doc). The shares are not modified.
func Combine(shares []Share) ([]byte, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("%w: have %d, need at least 2", ErrTooFewShares, len(shares))
	}
	size := len(shares[0].Y)
	if size == 0 {
		return nil, ErrEmptySecret
	}
	for i, s := range shares {
		if s.X == 0 {
			return nil, ErrZeroX
		}
		if len(s.Y) != size {
			return nil, fmt.Errorf("%w: share %d has %d bytes, share %d has %d",
				ErrUnequalLengths, s.X, len(s.Y), shares[0].X, size)
		}
		for _, o := range shares[:i] {
			if o.X == s.X {
				return nil, fmt.Errorf("%w: two shares have x = %d", ErrDuplicateX, s.X)
			}
		}
	}
	secret := make([]byte, size)
	for i, si := range shares {
		// Lagrange basis polynomial i at 0: prod over j != i of x_j / (x_j - x_i);
		// subtraction is xor in GF(2^8). The x coordinates are public.
		num, den := byte(1), byte(1)
		for j, sj := range shares {
			if j != i {
				num = mul(num, sj.X)
				den = mul(den, sj.X^si.X)
			}
		}
		l := mul(num, inv(den))
		for k, y := range si.Y {
			secret[k] ^= mul(l, y)
		}
	}
	return secret, nil
}

// mul multiplies in GF(2^8) mod 0x11b in constant time.
func mul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= -(b & 1) & a
		b >>= 1
		a = a<<1 ^ 0x1b&-(a>>7)
	}
	return p
}

// inv returns the multiplicative inverse a^254 (a^255 = 1), and 0 for 0,
// in constant time.
func inv(a byte) byte {
	r := a
	for range 6 { // exponent 1 -> 3 -> 7 -> ... -> 127
		r = mul(mul(r, r), a)
	}
	return mul(r, r) // 254
}
