package api

import (
	"maps"
	"net/url"
	"strings"
	"testing"
)

func TestSecretQuery(t *testing.T) {
	labels := map[string]string{"env": "prod", "a&b": "x=y&z", "empty": "", "ünï": "%20"}
	q, err := SecretQuery(&CreateSecretRequest{Name: "db-password", Labels: labels, MaxVersions: 3})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := url.ParseQuery(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSecretQuery(parsed)
	if err != nil || got.Name != "db-password" || !maps.Equal(got.Labels, labels) || got.MaxVersions != 3 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := SecretQuery(&CreateSecretRequest{Name: "s", Labels: map[string]string{"a=b": "c"}}); err == nil {
		t.Fatal("a label key with '=' was sent")
	}
	for _, bad := range []string{"", "name=a&name=b", "name=a&label=novalue", "name=a&label=k=1&label=k=2", "name=a&data=eA",
		"name=a&max-versions=x", "name=a&max-versions=", "name=a&max-versions=1&max-versions=2", "name=a&max-versions=01"} {
		q, _ := url.ParseQuery(bad)
		if _, err := ParseSecretQuery(q); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// FuzzParseSecretQuery: whatever query arrives, what is accepted is sent
// again the same way.
func FuzzParseSecretQuery(f *testing.F) {
	for _, s := range []string{"name=a", "name=a&label=k=v&label=x=", "name=a&label=%3D=1", "label=k=v", "name=a&name=b", "name=%00&label==x", "name=a&max-versions=5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		spec, err := ParseSecretQuery(q)
		if err != nil {
			if !strings.Contains(err.Error(), "name") && !strings.Contains(err.Error(), "label") && !strings.Contains(err.Error(), "max-versions") {
				t.Fatalf("error names neither the name, a label nor max-versions: %v", err)
			}
			return
		}
		q2, err := SecretQuery(spec)
		if err != nil {
			t.Fatalf("an accepted spec cannot be sent: %v", err)
		}
		spec2, err := ParseSecretQuery(q2)
		if err != nil || spec2.Name != spec.Name || !maps.Equal(spec.Labels, spec2.Labels) || spec2.MaxVersions != spec.MaxVersions {
			t.Fatalf("round trip changed %+v into %+v (%v)", spec, spec2, err)
		}
	})
}
