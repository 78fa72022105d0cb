package api

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

func TestAppendSecretRefMatchesJSON(t *testing.T) {
	for _, r := range []SecretRef{
		{ID: "qvxchrplxsd4i5nr7tuupuo2s4", Name: "db-password", Version: 1},
		{},
		{ID: "a<b>&c", Name: "\"q\"\\\n\t\x01é\u2028", Version: math.MaxUint32},
	} {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendSecretRef(nil, &r); !bytes.Equal(got, want) {
			t.Errorf("AppendSecretRef:\n got %s\nwant %s", got, want)
		}
	}
}
