package raftnet

import (
	"fmt"
	"testing"
)

func TestValidateRemembersOnlyValidAddresses(t *testing.T) {
	f := &Factory{}
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:4001", true},
		{"manager-1.example:4001", true},
		{"127.0.0.1", false},
		{"127.0.0.1:0", false},
		{"127.0.0.1:70000", false},
		{"bad host:4001", false},
		{"", false},
	} {
		for range 2 { // the second answer may come from the remembered set
			if got := f.Validate(c.addr); got != c.ok {
				t.Fatalf("Validate(%q) = %v, want %v", c.addr, got, c.ok)
			}
		}
	}
	if f.valid.has("127.0.0.1") || f.valid.has("bad host:4001") {
		t.Fatal("an invalid address was remembered")
	}
	for i := range 2 * maxValidAddrs {
		if !f.Validate(fmt.Sprintf("10.0.0.1:%d", 1000+i)) {
			t.Fatalf("port %d refused", 1000+i)
		}
	}
	if n := len(f.valid.addrs); n != maxValidAddrs {
		t.Fatalf("remembered %d addresses, want the bound %d", n, maxValidAddrs)
	}
	if !f.Validate("10.0.0.1:1500") {
		t.Fatal("an address past the bound was refused")
	}
}

func BenchmarkValidate(b *testing.B) {
	f := &Factory{}
	for range b.N {
		if !f.Validate("127.0.0.1:4001") {
			b.Fatal("refused")
		}
	}
}
