package vault

import (
	"testing"

	"github.com/vaultd/vault/internal/statedir"
)

func TestOperatorKEKVersion(t *testing.T) {
	for _, c := range []struct{ in, want uint32 }{
		{statedir.KEKVersionBase + 1, 1},
		{statedir.KEKVersionBase + 3, 3},
		{statedir.KEKVersionBase, 0},
		{1, 1}, // not a KEK version of a node: unchanged
		{1<<32 - 1, 1<<31 - 1},
	} {
		if got := statedir.OperatorKEKVersion(c.in); got != c.want {
			t.Errorf("statedir.OperatorKEKVersion(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
