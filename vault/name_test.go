package vault

import (
	"regexp"
	"testing"
)

// validName accepts exactly what the name pattern accepts.
func TestValidNameMatchesPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`)
	names := []string{"", "a", "-", ".", "_", "a-", "-a", "a.b", "a..b", "db/password", "db password",
		"A_b-c.9", "é", "aéb", "a\x00b", "a\nb", "0", "a:b", "a@b", "a[b", "a`b", "a{b", "a~b", "abc\xff"}
	for c := 0; c < 256; c++ {
		for _, f := range []string{"%c", "a%c", "%ca", "a%cb"} {
			names = append(names, fmtByte(f, byte(c)))
		}
	}
	for _, n := range names {
		if got, want := validName(n), re.MatchString(n); got != want {
			t.Errorf("validName(%q) = %v, the pattern says %v", n, got, want)
		}
	}
}

func fmtByte(f string, c byte) string {
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && i+1 < len(f) && f[i+1] == 'c' {
			out = append(out, c)
			i++
			continue
		}
		out = append(out, f[i])
	}
	return string(out)
}
