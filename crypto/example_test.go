package crypto_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/vaultd/vault/crypto"
)

func ExampleSeal() {
	dek, err := crypto.GenerateKey(1)
	if err != nil {
		log.Fatal(err)
	}
	defer dek.Wipe()

	at := crypto.Binding{Purpose: crypto.PurposeValue, Shard: 3, Object: []byte("db-password@1")}
	env, err := crypto.Seal(dek, at, []byte("hunter2"))
	if err != nil {
		log.Fatal(err)
	}
	pt, err := crypto.Open(dek, at, env)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, %d bytes of overhead\n", pt, len(env)-len(pt))

	// The same envelope moved to another object does not open.
	elsewhere := crypto.Binding{Purpose: crypto.PurposeValue, Shard: 3, Object: []byte("api-token@1")}
	_, err = crypto.Open(dek, elsewhere, env)
	fmt.Println(crypto.IsIntegrityError(err))
	fmt.Println(dek)
	// Output:
	// hunter2, 47 bytes of overhead
	// true
	// crypto.Key{v1 REDACTED}
}

func ExampleNewStreamWriter() {
	dek, err := crypto.GenerateKey(2)
	if err != nil {
		log.Fatal(err)
	}
	at := crypto.Binding{Purpose: crypto.PurposeSnapshot, Shard: 2}

	var sealed bytes.Buffer
	w, err := crypto.NewStreamWriter(&sealed, dek, at)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.WriteString(w, "snapshot contents"); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // writes the final chunk
		log.Fatal(err)
	}

	r, err := crypto.NewStreamReader(&sealed, dek, at)
	if err != nil {
		log.Fatal(err)
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (key v%d)\n", pt, r.KeyVersion())
	// Output: snapshot contents (key v2)
}
