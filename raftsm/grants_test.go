package raftsm

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFleetGranted(t *testing.T) {
	f := Fleet{NodeLabels: map[string]map[string]string{
		"w1": {"zone": "a", "gpu": "yes"},
		"w2": {"zone": "b"},
	}}
	f.AddGrant(Grant{SecretID: "s1", Label: "zone=a"})
	f.AddGrant(Grant{SecretID: "s2", NodeID: "w2"})
	f.AddGrant(Grant{SecretID: "s3", Label: "gpu"}) // malformed: never applies
	cases := []struct {
		secret, node string
		want         bool
	}{
		{"s1", "w1", true},
		{"s1", "w2", false},
		{"s1", "w3", false}, // no labels at all
		{"s2", "w2", true},
		{"s2", "w1", false},
		{"s3", "w1", false},
		{"s9", "w1", false}, // deny by default
	}
	for _, c := range cases {
		if got := f.Granted(c.secret, c.node); got != c.want {
			t.Errorf("Granted(%s, %s) = %v, want %v", c.secret, c.node, got, c.want)
		}
	}
	if got := f.SecretsFor("w1"); !reflect.DeepEqual(got, []string{"s1"}) {
		t.Errorf("SecretsFor(w1) = %v", got)
	}
	// A label change moves what a node may receive.
	f.SetLabels("w2", map[string]string{"zone": "a"}, nil)
	if !f.Granted("s1", "w2") {
		t.Error("w2 relabelled zone=a is not granted s1")
	}
	f.SetLabels("w2", nil, []string{"zone"})
	if f.Granted("s1", "w2") || f.NodeLabels["w2"] != nil {
		t.Errorf("w2 without labels: granted %v, labels %v", f.Granted("s1", "w2"), f.NodeLabels["w2"])
	}
}

func TestFleetGrantSet(t *testing.T) {
	var f Fleet
	g := Grant{SecretID: "s1", NodeID: "w1", Created: 1}
	if !f.AddGrant(g) || f.AddGrant(Grant{SecretID: "s1", NodeID: "w1", Created: 2}) {
		t.Fatal("the same grant was added twice")
	}
	f.AddGrant(Grant{SecretID: "s2", NodeID: "w1"})
	f.AddGrant(Grant{SecretID: "s2", Label: "k=v"})
	f.Workers = append(f.Workers, Worker{NodeID: "w1"})
	f.ForgetSecret("s2")
	if len(f.Grants) != 1 {
		t.Fatalf("after ForgetSecret: %v", f.Grants)
	}
	if f.RemoveGrant(Grant{SecretID: "s1", NodeID: "w2"}) {
		t.Fatal("removed a grant that does not exist")
	}
	f.ForgetNode("w1")
	if len(f.Grants) != 0 || f.Worker("w1") != nil {
		t.Fatalf("after ForgetNode: %+v", f)
	}
}

// The fleet travels inside the sealed cluster record: a record written
// before workers existed decodes to an empty fleet, and one with a fleet
// round-trips.
func TestFleetInClusterRecord(t *testing.T) {
	var old ClusterRecord
	if err := json.Unmarshal([]byte(`{"id":"c","members":[]}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Granted("s", "n") || len(old.Workers) != 0 {
		t.Fatal("an old record grants something")
	}
	rec := ClusterRecord{ID: "c"}
	rec.Workers = []Worker{{NodeID: "w1", CertSerial: "ab"}}
	rec.SetLabels("w1", map[string]string{"role": "web"}, nil)
	rec.AddGrant(Grant{SecretID: "s1", Label: "role=web"})
	b, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	var back ClusterRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Fleet, rec.Fleet) || !back.Granted("s1", "w1") {
		t.Fatalf("round trip: %s", b)
	}
}
