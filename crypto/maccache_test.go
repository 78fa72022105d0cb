package crypto

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// The MAC subkey is derived once and kept with the key: later MACs answer
// what the first did, a Wipe drops the subkey, and MACs racing a Wipe
// either succeed with the right answer or fail with ErrWiped.
func TestMACSubkeyKeptUntilWipe(t *testing.T) {
	k := mustKey(t, 1, 1)
	b := Binding{Purpose: PurposeName, Shard: 3}
	first, err := MAC(k, b, []byte("db-password"))
	if err != nil {
		t.Fatal(err)
	}
	if k.s.mac == nil {
		t.Fatal("the MAC subkey was not kept after the first MAC")
	}
	second, err := MAC(k, b, []byte("db-password"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("the second MAC differs from the first")
	}
	want := refMAC(fixedKeyBytes(1), bindingJSON{Purpose: string(PurposeName), Shard: 3}, []byte("db-password"))
	if !bytes.Equal(second, want) {
		t.Fatalf("MAC = %x, want %x (the reference construction)", second, want)
	}
	sub := k.s.mac
	k.Wipe()
	if k.s.mac != nil || *sub != ([KeySize]byte{}) {
		t.Fatal("Wipe left the MAC subkey")
	}
	if _, err := MAC(k, b, []byte("db-password")); !errors.Is(err, ErrWiped) {
		t.Fatalf("MAC after Wipe: err = %v, want ErrWiped", err)
	}

	k = mustKey(t, 1, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := MAC(k, b, []byte("db-password"))
				if err != nil {
					if !errors.Is(err, ErrWiped) {
						t.Errorf("MAC racing Wipe: %v", err)
					}
					return
				}
				if !bytes.Equal(got, want) {
					t.Errorf("MAC racing Wipe = %x, want %x", got, want)
					return
				}
			}
		}()
	}
	k.Wipe()
	wg.Wait()
}
