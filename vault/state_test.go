package vault

import "testing"

func TestOperatorKEKVersion(t *testing.T) {
	for _, c := range []struct{ in, want uint32 }{
		{kekVersionBase + 1, 1},
		{kekVersionBase + 3, 3},
		{kekVersionBase, 0},
		{1, 1}, // not a KEK version of a node: unchanged
		{1<<32 - 1, 1<<31 - 1},
	} {
		if got := OperatorKEKVersion(c.in); got != c.want {
			t.Errorf("OperatorKEKVersion(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
