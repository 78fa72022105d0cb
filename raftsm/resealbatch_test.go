package raftsm

import (
	"bytes"
	"strings"
	"testing"
)

// A secret.reseal-batch is refused when empty, too long, too large, mixed
// with a single secret, or carrying a write that is not a valid re-seal;
// the other ops refuse a batch.
func TestResealBatchValidate(t *testing.T) {
	req := bytes.Repeat([]byte{9}, 16)
	mac := bytes.Repeat([]byte{3}, 32)
	w := func() *SecretWrite { return &SecretWrite{ID: "x", NameMAC: mac, ExpectGen: 2, Record: []byte("r")} }
	many := make([]*SecretWrite, MaxResealBatch+1)
	for i := range many {
		many[i] = w()
	}
	big := w()
	big.Resealed = []DataVersion{{Version: 1, Data: make([]byte, MaxResealBatchBytes)}}
	noGen := w()
	noGen.ExpectGen = 0
	withData := w()
	withData.Version, withData.Data = 3, []byte("d")
	for name, c := range map[string]*Command{
		"empty":        {Op: OpSecretResealBatch},
		"too many":     {Op: OpSecretResealBatch, Secrets: many},
		"too large":    {Op: OpSecretResealBatch, Secrets: []*SecretWrite{big}},
		"with secret":  {Op: OpSecretResealBatch, Secret: w(), Secrets: []*SecretWrite{w()}},
		"nil write":    {Op: OpSecretResealBatch, Secrets: []*SecretWrite{w(), nil}},
		"no gen":       {Op: OpSecretResealBatch, Secrets: []*SecretWrite{w(), noGen}},
		"new version":  {Op: OpSecretResealBatch, Secrets: []*SecretWrite{withData}},
		"reseal batch": {Op: OpSecretReseal, Secret: w(), Secrets: []*SecretWrite{w()}},
		"update batch": {Op: OpSecretUpdate, Secret: w(), Secrets: []*SecretWrite{w()}},
	} {
		c.RequestID = req
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := &Command{Op: OpSecretResealBatch, RequestID: req, Secrets: many[:MaxResealBatch]}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a full batch: %v", err)
	}
}

// An older decoder knew fields up to tagSecret only: a batch is refused by
// it (the replica stops at the entry, see failure.go), never misread as a
// command without its secrets.
func TestResealBatchUnknownToOlderDecoder(t *testing.T) {
	// Only length-prefixed fields, so the walk below can skip each.
	b := EncodeCommand(&Command{Op: OpSecretResealBatch, RequestID: bytes.Repeat([]byte{9}, 16), Secrets: []*SecretWrite{
		{ID: "x", NameMAC: bytes.Repeat([]byte{3}, 32), ExpectGen: 2, Record: []byte("r")},
	}})
	d := decoder{b: b[1:]}
	for d.more() {
		if d.tag(tagSecret) == 0 {
			break
		}
		d.message()
	}
	if d.err == nil || !strings.Contains(d.err.Error(), "unknown field") {
		t.Fatalf("older decoder: %v", d.err)
	}
}
