package vault

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
)

func zeroed(b []byte) bool {
	return len(b) > 0 && bytes.Count(b, []byte{0}) == len(b)
}

// The write path wipes the plaintext it was handed once it is sealed: the
// request body, the decoded data, on success and on failure.
func TestWritePathWipesPlaintext(t *testing.T) {
	n, _ := startSingleNode(t)
	ctx := context.Background()
	r := httptest.NewRequest("POST", "/v1/secrets?name=s", strings.NewReader("canary-value"))
	r.Header.Set("Content-Type", api.ContentTypeData)
	data, err := readSecretData(r)
	if err != nil || string(data) != "canary-value" {
		t.Fatalf("readSecretData: %q, %v", data, err)
	}
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: "s", Data: data}); err != nil {
		t.Fatal(err)
	}
	if !zeroed(data) {
		t.Errorf("CreateSecret left the data as %q", data)
	}
	update := []byte("canary-value-2")
	if _, err := n.UpdateSecret(ctx, "s", update); err != nil {
		t.Fatal(err)
	}
	if !zeroed(update) {
		t.Errorf("UpdateSecret left the data as %q", update)
	}
	got, v, err := n.SecretData(ctx, "s", 0)
	if err != nil || v != 2 || string(got) != "canary-value-2" {
		t.Fatalf("read back: version %d %q, %v", v, got, err)
	}
	statedir.Wipe(got)

	refused := []byte("canary-value-3")
	if _, err := n.CreateSecret(ctx, &api.CreateSecretRequest{Name: "bad name", Data: refused}); err == nil {
		t.Fatal("a bad name was accepted")
	}
	if !zeroed(refused) {
		t.Errorf("a refused CreateSecret left the data as %q", refused)
	}
	refused = []byte("canary-value-4")
	if _, err := n.UpdateSecret(ctx, "nosuch", refused); err == nil {
		t.Fatal("an update of a missing secret was accepted")
	}
	if !zeroed(refused) {
		t.Errorf("a refused UpdateSecret left the data as %q", refused)
	}
}

// A secret write's body is the data as it is: a JSON body (an older
// client's), a body over the limit, or a spec that is not name=, label=
// is refused with a message that says what to send.
func TestSecretDataBody(t *testing.T) {
	for _, tc := range []struct {
		name, ctype string
		length      int64 // -1: unknown (chunked)
		body        string
		want        string
	}{
		{"json", "application/json", 0, `{"name":"s","data":"eA=="}`, "Content-Type application/octet-stream"},
		{"no type", "", 0, "x", "Content-Type application/octet-stream"},
		{"declared too large", api.ContentTypeData, MaxDataSize + 1, "", "the limit is"},
		{"too large", api.ContentTypeData, -1, strings.Repeat("x", MaxDataSize+1), "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/secrets/s/versions", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			if tc.length != 0 {
				r.ContentLength = tc.length
			}
			_, err := readSecretData(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// spyReader remembers the buffers it was asked to fill.
type spyReader struct {
	r    io.Reader
	seen [][]byte
}

func (s *spyReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.seen = append(s.seen, p[:n])
	return n, err
}

// wipeBuffered clears every byte bufio read into, consumed or not.
func TestWipeBuffered(t *testing.T) {
	spy := &spyReader{r: strings.NewReader("POST /v1/secrets?name=s HTTP/1.1\r\n\r\ncanary-value and more")}
	br := bufio.NewReader(spy)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	wipeBuffered(br)
	for _, b := range spy.seen {
		if len(b) > 0 && !zeroed(b) {
			t.Fatalf("left in the buffer: %q", b)
		}
	}
	if br.Buffered() != 0 {
		t.Fatalf("%d bytes still buffered", br.Buffered())
	}
}

// A secret write answers through wipeAfter as through the plain handler:
// status, headers and body, and errors; and the connection is closed.
func TestWipeAfterAnswers(t *testing.T) {
	srv := httptest.NewServer(wipeAfter(func(w http.ResponseWriter, r *http.Request) {
		data, err := readSecretData(r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "{\"Size\":%d}\n", len(data))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		ctype, body string
		status      int
		want        string
	}{
		{api.ContentTypeData, "canary-value", http.StatusCreated, `{"Size":12}`},
		{"application/json", `{"data":"eA=="}`, http.StatusBadRequest, "application/octet-stream"},
	} {
		resp, err := http.Post(srv.URL, tc.ctype, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) || !resp.Close {
			t.Errorf("%s: %d %q (close %v), want %d %q", tc.ctype, resp.StatusCode, b, resp.Close, tc.status, tc.want)
		}
	}
}
