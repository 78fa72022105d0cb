package raftsm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vaultd/vault/crypto"
)

func codecSamples() []*Command {
	req := bytes.Repeat([]byte{9}, 16)
	mac := bytes.Repeat([]byte{3}, 32)
	return []*Command{
		{Op: OpSecretCreate, RequestID: req, Time: 1764660000123456789, Secret: &SecretWrite{
			ID: "k2h6ixjssnqjpfxkmijjcdzkre", NameMAC: mac, Record: []byte("sealed-record"), Version: 1, Data: bytes.Repeat([]byte{0xa5}, 1100)}},
		{Op: OpSecretUpdate, RequestID: req, Time: 5, Secret: &SecretWrite{
			ID: "x", NameMAC: mac, ExpectGen: 1 << 40, Record: []byte("r"), Version: 1<<32 - 1, Data: []byte("d")}},
		{Op: OpSecretRemove, RequestID: req, Time: -1, Secret: &SecretWrite{ID: "x", NameMAC: mac, ExpectGen: 7}},
		{Op: OpSecretReseal, RequestID: req, Time: 1, Secret: &SecretWrite{ID: "x", NameMAC: mac, ExpectGen: 2, Record: []byte("r"),
			Resealed: []DataVersion{{Version: 1, Data: []byte("a")}, {Version: 2, Data: []byte("bb")}, {Version: 300, Data: []byte("c")}}}},
		{Op: OpSecretResealBatch, RequestID: req, Time: 4, Secrets: []*SecretWrite{
			{ID: "x", NameMAC: mac, ExpectGen: 2, Record: []byte("r"), Resealed: []DataVersion{{Version: 1, Data: []byte("a")}}},
			{ID: "y", NameMAC: mac, ExpectGen: 9, Record: []byte("s")},
		}},
		{Op: OpKeyringSet, RequestID: req, Time: 2, Keyring: []byte(`{"wrapped":true}`), KeyringEpoch: 3, KeyringCAS: true, ExpectEpoch: 2},
		{Op: OpClusterSet, RequestID: req, Time: 3, Cluster: []byte("sealed-cluster"), ClusterGen: 12},
	}
}

// Every kind of command survives the binary encoding unchanged, and the
// JSON that older vaults wrote still decodes to the same command.
func TestCommandEncodings(t *testing.T) {
	for _, c := range codecSamples() {
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: sample invalid: %v", c.Op, err)
		}
		b := EncodeCommand(c)
		if b[0] != binaryCommandV1 {
			t.Fatalf("%s: first byte 0x%02x", c.Op, b[0])
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%s: %v", c.Op, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: binary round trip:\n got %+v\nwant %+v", c.Op, got, c)
		}
		j, _ := json.Marshal(c)
		got, err = DecodeCommand(j)
		if err != nil {
			t.Fatalf("%s: legacy JSON: %v", c.Op, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: legacy JSON:\n got %+v\nwant %+v", c.Op, got, c)
		}
		if len(b) >= len(j) {
			t.Errorf("%s: binary %d bytes, JSON %d", c.Op, len(b), len(j))
		}
	}
}

// A log entry sealed in JSON by an older vault opens like a new one.
func TestOpenCommandReadsLegacyJSON(t *testing.T) {
	key, _ := crypto.NewKey(1, bytes.Repeat([]byte{7}, 32))
	c := codecSamples()[0]
	j, _ := json.Marshal(c)
	sealed, err := crypto.Seal(key, EntryBinding(2), j)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := OpenCommand(key, 2, sealed)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("OpenCommand(legacy) = %+v, %v", got, err)
	}
}

// Damaged or non-canonical encodings are refused, never decoded into
// another command.
func TestDecodeCommandRefuses(t *testing.T) {
	good := EncodeCommand(codecSamples()[3])
	for name, b := range map[string][]byte{
		"empty":              {},
		"unknown format":     {0x02, tagOp, 1, 'a'},
		"unknown field":      {binaryCommandV1, tagSecrets + 1, 0},
		"field zero":         {binaryCommandV1, 0},
		"out of order":       {binaryCommandV1, tagTime, 1, tagOp, 1, 'a'},
		"repeated field":     {binaryCommandV1, tagOp, 1, 'a', tagOp, 1, 'b'},
		"zero integer":       {binaryCommandV1, tagTime, 0},
		"empty bytes":        {binaryCommandV1, tagOp, 0},
		"length too long":    {binaryCommandV1, tagOp, 5, 'a'},
		"bad varint":         {binaryCommandV1, tagTime, 0x80},
		"overlong varint":    {binaryCommandV1, tagTime, 0xcc, 0x00},
		"truncated":          good[:len(good)-1],
		"trailing tag":       append(append([]byte(nil), good...), tagSecret),
		"big version":        {binaryCommandV1, tagSecret, 6, tagSecretVersion, 0x80, 0x80, 0x80, 0x80, 0x10},
		"secret after batch": {binaryCommandV1, tagSecrets, 0, tagSecret, 0},
		"dup in reseal":      {binaryCommandV1, tagSecret, 8, tagSecretResealed, 6, tagDataVersion, 1, tagDataVersion, 2, tagDataData, 0},
	} {
		if c, err := DecodeCommand(b); err == nil {
			t.Errorf("%s: decoded %+v", name, c)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range codecSamples() {
		f.Add(EncodeCommand(c))
		j, _ := json.Marshal(c)
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if strings.Contains(err.Error(), "panic") {
				t.Fatal(err)
			}
			return
		}
		// One encoding per command: what decodes re-encodes to itself.
		if b[0] == binaryCommandV1 && !bytes.Equal(EncodeCommand(c), b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, c, EncodeCommand(c))
		}
	})
}
