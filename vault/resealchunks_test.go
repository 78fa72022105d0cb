package vault

import (
	"testing"

	"github.com/vaultd/vault/raftsm"
)

// resealChunks keeps every candidate, in order, and cuts batches that stay
// under the count and byte bounds (a single oversized candidate goes
// alone).
func TestResealChunks(t *testing.T) {
	small := raftsm.ResealCandidate{Sealed: make([]byte, 100), Data: []raftsm.DataVersion{{Version: 1, Data: make([]byte, 1000)}}}
	big := raftsm.ResealCandidate{Sealed: make([]byte, 100), Data: []raftsm.DataVersion{{Version: 1, Data: make([]byte, resealBatchBytes)}}}
	half := raftsm.ResealCandidate{Sealed: make([]byte, resealBatchBytes/2)}
	for name, tc := range map[string]struct {
		cands []raftsm.ResealCandidate
		sizes []int
	}{
		"none":         {nil, nil},
		"one":          {[]raftsm.ResealCandidate{small}, []int{1}},
		"by count":     {repeat(small, 2*resealBatchSecrets+1), []int{resealBatchSecrets, resealBatchSecrets, 1}},
		"oversized":    {[]raftsm.ResealCandidate{small, big, small}, []int{1, 1, 1}},
		"by bytes":     {[]raftsm.ResealCandidate{half, half, half}, []int{1, 1, 1}},
		"small filled": {append([]raftsm.ResealCandidate{half}, repeat(small, 3)...), []int{4}},
	} {
		chunks := resealChunks(tc.cands)
		var sizes []int
		total := 0
		for _, c := range chunks {
			sizes = append(sizes, len(c))
			total += len(c)
		}
		if total != len(tc.cands) || len(sizes) != len(tc.sizes) {
			t.Fatalf("%s: chunks %v, want %v", name, sizes, tc.sizes)
		}
		for i := range sizes {
			if sizes[i] != tc.sizes[i] {
				t.Fatalf("%s: chunks %v, want %v", name, sizes, tc.sizes)
			}
		}
	}
}

func repeat(c raftsm.ResealCandidate, n int) []raftsm.ResealCandidate {
	out := make([]raftsm.ResealCandidate, n)
	for i := range out {
		out[i] = c
	}
	return out
}
