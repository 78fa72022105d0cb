package api

import (
	"maps"
	"net/url"
	"strings"
	"testing"
)

func TestSecretQuery(t *testing.T) {
	labels := map[string]string{"env": "prod", "a&b": "x=y&z", "empty": "", "ünï": "%20"}
	q, err := SecretQuery("db-password", labels)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := url.ParseQuery(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	name, got, err := ParseSecretQuery(parsed)
	if err != nil || name != "db-password" || !maps.Equal(got, labels) {
		t.Fatalf("round trip: %q %v, %v", name, got, err)
	}
	if _, err := SecretQuery("s", map[string]string{"a=b": "c"}); err == nil {
		t.Fatal("a label key with '=' was sent")
	}
	for _, bad := range []string{"", "name=a&name=b", "name=a&label=novalue", "name=a&label=k=1&label=k=2", "name=a&data=eA"} {
		q, _ := url.ParseQuery(bad)
		if _, _, err := ParseSecretQuery(q); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// FuzzParseSecretQuery: whatever query arrives, what is accepted is sent
// again the same way.
func FuzzParseSecretQuery(f *testing.F) {
	for _, s := range []string{"name=a", "name=a&label=k=v&label=x=", "name=a&label=%3D=1", "label=k=v", "name=a&name=b", "name=%00&label==x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		name, labels, err := ParseSecretQuery(q)
		if err != nil {
			if !strings.Contains(err.Error(), "name") && !strings.Contains(err.Error(), "label") {
				t.Fatalf("error names neither the name nor a label: %v", err)
			}
			return
		}
		q2, err := SecretQuery(name, labels)
		if err != nil {
			t.Fatalf("an accepted spec cannot be sent: %v", err)
		}
		name2, labels2, err := ParseSecretQuery(q2)
		if err != nil || name2 != name || !maps.Equal(labels, labels2) {
			t.Fatalf("round trip changed %q %v into %q %v (%v)", name, labels, name2, labels2, err)
		}
	})
}
