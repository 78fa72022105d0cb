package raftsm

import (
	"fmt"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// TestSecretPages: reading page after page visits every secret once, in id
// order, whatever the page size, and ids that are prefixes of others are
// neither skipped nor repeated.
func TestSecretPages(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	var cmds []*Command
	var want []string
	for i := range 37 {
		id := fmt.Sprintf("%02x", i)
		if i%5 == 0 {
			id += "z" // "00" and "00z": one id a prefix of another's key
			cmds = append(cmds, create(id[:2], fmt.Sprintf("p%d", i), int64(i)))
			want = append(want, id[:2])
		}
		cmds = append(cmds, create(id, fmt.Sprintf("n%d", i), int64(i)))
		want = append(want, id)
	}
	n.apply(t, 1, cmds...)
	for _, limit := range []int{1, 2, 7, 36, 45, 46, 1000} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			out, err := n.sm.Lookup(QuerySecretPage{After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			p := out.(*SecretPage)
			for _, s := range p.Secrets {
				got = append(got, s.ID)
				if string(s.Sealed) != "rec-"+s.ID {
					t.Fatalf("%s: record %q", s.ID, s.Sealed)
				}
				if cap(s.Sealed) != len(s.Sealed) {
					// Records share blocks: an append to one must not
					// write over the next.
					t.Fatalf("%s: record of %d bytes with room for %d", s.ID, len(s.Sealed), cap(s.Sealed))
				}
			}
			if !p.More {
				break
			}
			if len(p.Secrets) != limit || pages > len(want) {
				t.Fatalf("limit %d: a page of %d with more to come", limit, len(p.Secrets))
			}
			after = p.Secrets[len(p.Secrets)-1].ID
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d:\n got %v\nwant %v", limit, got, want)
		}
	}
}
