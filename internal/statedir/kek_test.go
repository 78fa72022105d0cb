package statedir

import "testing"

func TestOperatorKEKVersion(t *testing.T) {
	for _, c := range []struct{ in, want uint32 }{
		{KEKVersionBase + 1, 1},
		{KEKVersionBase + 3, 3},
		{KEKVersionBase, 0},
		{1, 1}, // not a KEK version of a node: unchanged
		{1<<32 - 1, 1<<31 - 1},
	} {
		if got := OperatorKEKVersion(c.in); got != c.want {
			t.Errorf("OperatorKEKVersion(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
