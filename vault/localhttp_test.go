package vault

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/audit"
)

// sawRequest describes what a handler was given: everything of the
// request a route may read.
func sawRequest(r *http.Request) string {
	var keys []string
	for k, v := range r.Header {
		keys = append(keys, k+"="+strings.Join(v, ","))
	}
	slices.Sort(keys)
	peer := "none"
	if p, err := audit.PeerFrom(r.Context()); err == nil {
		peer = fmt.Sprint(p.UID, "/", p.PID)
	}
	_, gated := r.Context().Value(gateKey{}).(*gate)
	_, served := r.Context().Value(http.ServerContextKey).(*http.Server)
	return fmt.Sprintf("%s %s url=%s host=%s proto=%s/%d.%d len=%d header=%s pattern=%q ref=%q remote=%q peer=%s gate=%v srv=%v",
		r.Method, r.RequestURI, r.URL, r.Host, r.Proto, r.ProtoMajor, r.ProtoMinor, r.ContentLength,
		strings.Join(keys, ";"), r.Pattern, r.PathValue("ref"), r.RemoteAddr, peer, gated, served)
}

// testHotRoutes are hot routes that answer what they were given, through
// the same handle wrapper as the daemon's (a Node without an audit log).
func testHotRoutes() hotRoutes {
	n := &Node{}
	return hotRoutes{
		create: n.handle(func(r *http.Request) (any, error) {
			spec, err := api.ParseSecretQuery(r.URL.Query())
			if err != nil {
				return nil, err
			}
			data, err := readSecretData(r)
			if err != nil {
				return nil, err
			}
			return &api.SecretRef{ID: sawRequest(r) + " data=" + string(data), Name: spec.Name, Version: 1}, nil
		}),
		update: n.handle(func(r *http.Request) (any, error) {
			data, err := readSecretData(r)
			if err != nil {
				return nil, err
			}
			return &api.SecretRef{ID: sawRequest(r) + " data=" + string(data), Name: r.PathValue("ref"), Version: 2}, nil
		}),
		inspect: n.handleRead(func(r *http.Request) (any, error) {
			ref := r.PathValue("ref")
			s := &api.Secret{ID: "id1", Name: sawRequest(r), Labels: map[string]string{"stale": fmt.Sprint(staleReads(readContext(r)))}, Version: 1, Size: 3}
			switch ref {
			case "missing":
				return nil, api.Errorf(api.CodeNotFound, "no such secret: %s", ref)
			case "granted": // encoding/json, under net/http's buffer
				s.Grants = []api.Grant{{SecretID: "id1", NodeID: "n1"}}
			case "many": // encoding/json, over it: chunked
				for i := range 40 {
					s.Grants = append(s.Grants, api.Grant{SecretID: "id1", NodeID: fmt.Sprint("node-", i), Label: "role=web"})
				}
			}
			return s, nil
		}),
	}
}

// startHotPair serves routes twice: behind net/http as the daemon's mux
// has them (wipeAfter around the writes), and behind the hot loop in
// front of that mux. It returns the two sockets, and the hot listener.
func startHotPair(t *testing.T, routes hotRoutes, serves func() bool) (plain, hot string, hl *hotListener) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(patternCreate, wipeAfter(routes.create))
	mux.HandleFunc(patternInspect, routes.inspect)
	mux.HandleFunc(patternUpdate, wipeAfter(routes.update))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeAnswer(w, map[string]string{"via": "net/http"})
	})
	dir := t.TempDir()
	plain, hot = filepath.Join(dir, "plain"), filepath.Join(dir, "hot")
	for _, sock := range []string{plain, hot} {
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: mux, ConnContext: socketConnContext}
		g := limitLocalServer(srv, ln).(*gate)
		var l net.Listener = g
		if sock == hot {
			hl = newHotListener(srv, g, routes, serves, nil)
			l = hl
		}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
	return plain, hot, hl
}

// dialLocal connects to sock, with a deadline for the whole test's
// exchange, and closes the connection when the test ends.
func dialLocal(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// exchange sends each request on one new connection to sock, the next
// once the answer to the one before is read, and returns the answers.
func exchange(t *testing.T, sock string, reqs ...string) []string {
	t.Helper()
	c := dialLocal(t, sock)
	defer c.Close()
	var out []string
	for _, req := range reqs {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		out = append(out, readAnswers(t, c, 1)...)
		if strings.Contains(out[len(out)-1], "\r\nConnection: close\r\n") {
			break
		}
	}
	return out
}

// readAnswers reads n answers from c, each as its bytes.
func readAnswers(t *testing.T, c net.Conn, n int) []string {
	t.Helper()
	rec := &recordingReader{r: c}
	br := bufio.NewReader(rec)
	var out []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v (read so far %q)", len(out), err, rec.b)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := len(rec.b) - br.Buffered()
		out = append(out, string(rec.b[:got]))
		rec.b = rec.b[got:]
	}
	return out
}

type recordingReader struct {
	r io.Reader
	b []byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	k, err := r.r.Read(p)
	r.b = append(r.b, p[:k]...)
	return k, err
}

var dateHeader = regexp.MustCompile(`\r\nDate: [^\r]+\r\n`)

// The hot loop answers every request it takes with the bytes net/http
// (and wipeAfter) write for it, and its handlers see the request net/http
// would have given them: method, target, URL, host, headers, pattern,
// reference, peer credentials and the server's context values.
func TestHotLoopAnswersAsNetHTTP(t *testing.T) {
	plain, hot, _ := startHotPair(t, testHotRoutes(), func() bool { return true })
	const client = "Host: vault\r\nUser-Agent: Go-http-client/1.1\r\n"
	const curl = "Host: localhost\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"
	data := strings.Repeat("d", 1500)
	for _, req := range []string{
		"POST /v1/secrets?name=s1&label=a%3Db HTTP/1.1\r\n" + client + "Content-Length: 5\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\nhello",
		"POST /v1/secrets?name=s1 HTTP/1.1\r\n" + curl + "Content-Type: " + api.ContentTypeData + "\r\nContent-Length: 1500\r\n\r\n" + data,
		"POST /v1/secrets?name=s1 HTTP/1.1\r\n" + client + "Content-Length: 2\r\nContent-Type: application/json\r\n\r\n{}",
		"POST /v1/secrets?nam=s1 HTTP/1.1\r\n" + client + "Content-Length: 3\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\nabc",
		"POST /v1/secrets?name=s1 HTTP/1.1\r\n" + client + "Content-Length: 0\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\n",
		"POST /v1/secrets/s1/versions HTTP/1.1\r\n" + client + "content-length: 3\r\ncontent-type: " + api.ContentTypeData + "\r\n\r\nv2!",
		"POST /v1/secrets/s1/versions HTTP/1.1\r\n" + client + "Content-Length: 3\r\n\r\nv2!",
		"GET /v1/secrets/s1 HTTP/1.1\r\n" + client + "Accept-Encoding: gzip\r\n\r\n",
		"GET /v1/secrets/s1?stale=true HTTP/1.1\r\n" + curl + "\r\n",
		"GET /v1/secrets/missing HTTP/1.1\r\n" + client + "\r\n",
		"GET /v1/secrets/granted HTTP/1.1\r\n" + client + "\r\n",
		"GET /v1/secrets/many HTTP/1.1\r\n" + client + "\r\n",
	} {
		if _, ok := parseHotRequest([]byte(req)); !ok {
			t.Fatalf("the hot loop does not take %q", req)
		}
		// Twice on one connection: the second request is served after
		// the first's answer, on the connection kept.
		sameAnswers(t, req, exchange(t, plain, req, req), exchange(t, hot, req, req))
	}
}

// sameAnswers compares the answers net/http gave (want) with the hot
// loop's (got), but for their Date headers.
func sameAnswers(t *testing.T, req string, want, got []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("request %q: %d answers, net/http %d", req, len(got), len(want))
		return
	}
	for i := range want {
		w, g := dateHeader.ReplaceAllString(want[i], "\r\nDate: D\r\n"), dateHeader.ReplaceAllString(got[i], "\r\nDate: D\r\n")
		if w != g {
			t.Errorf("request %q, answer %d:\nnet/http: %q\nhot loop: %q", req, i, w, g)
		}
	}
}

// Requests the hot loop does not take are left in the socket for
// net/http, which answers them as it would have; a hot request before
// one of them is answered first, and the connection is net/http's from
// then on.
func TestHotLoopHandsOver(t *testing.T) {
	plain, hot, _ := startHotPair(t, testHotRoutes(), func() bool { return true })
	const client = "Host: vault\r\nUser-Agent: Go-http-client/1.1\r\n"
	create := "POST /v1/secrets?name=s1 HTTP/1.1\r\n" + client + "Content-Length: 5\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\nhello"
	for _, req := range []string{
		"GET /v1/status HTTP/1.1\r\n" + client + "\r\n",
		"GET /v1/secrets/a%2Db HTTP/1.1\r\n" + client + "\r\n",
		"GET /v1/secrets/./s1 HTTP/1.1\r\n" + client + "\r\n",
		"GET /v1/secrets/s1 HTTP/1.1\r\n" + client + "X-Other: 1\r\n\r\n",
		"GET /v1/secrets/s1 HTTP/1.1\r\n" + client + "Connection: keep-alive\r\n\r\n",
		"DELETE /v1/secrets/s1 HTTP/1.1\r\n" + client + "\r\n",
		"POST /v1/secrets?name=s1 HTTP/1.1\r\n" + client + "Transfer-Encoding: chunked\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /v1/secrets?name=s1 HTTP/1.1\r\n" + client + "Content-Length: 5\r\nContent-Length: 5\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\nhello",
		"POST /v1/secrets/s1/versions HTTP/1.1\r\nHost: a b\r\nContent-Length: 1\r\n\r\nx",
	} {
		if _, ok := parseHotRequest([]byte(req)); ok {
			t.Fatalf("the hot loop takes %q", req)
		}
		sameAnswers(t, req, exchange(t, plain, create, req, create), exchange(t, hot, create, req, create))
	}
}

// A connection net/http took (its first request was not a hot route)
// comes back to the hot loop at its first write: a long-lived client that
// asked for the status first does not pay net/http's takeover and a new
// connection on every later write. Each connection holds one slot
// throughout, and gives it back when it closes.
func TestWriteBringsConnectionBackToHotLoop(t *testing.T) {
	plain, hot, hl := startHotPair(t, testHotRoutes(), func() bool { return true })
	const client = "Host: vault\r\nUser-Agent: Go-http-client/1.1\r\n"
	status := "GET /v1/status HTTP/1.1\r\n" + client + "\r\n"
	create := "POST /v1/secrets?name=s1 HTTP/1.1\r\n" + client + "Content-Length: 5\r\nContent-Type: " + api.ContentTypeData + "\r\n\r\nhello"
	inspect := "GET /v1/secrets/s1 HTTP/1.1\r\n" + client + "\r\n"
	hotConns := func() int {
		hl.mu.Lock()
		defer hl.mu.Unlock()
		return len(hl.conns)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d hot connections, %d slots held", what, hotConns(), len(hl.g.sem))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	c := dialLocal(t, hot)
	var got []string
	for i, req := range []string{status, create, create, inspect, status, create} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		got = append(got, readAnswers(t, c, 1)...)
		switch i {
		case 0: // net/http's
			waitFor("after the status", func() bool { return hotConns() == 0 })
		case 1, 2, 3: // the hot loop's, waiting for the next request
			waitFor(fmt.Sprintf("after request %d", i), func() bool { return hotConns() == 1 })
		}
		// The server takes the next Accept's slot on its own goroutine,
		// after it handed this connection over: wait for it, as for the
		// connections above.
		waitFor(fmt.Sprintf("after request %d, want 2 slots held (this connection and the waiting Accept)", i), func() bool { return len(hl.g.sem) == 2 })
	}
	waitFor("after the last write", func() bool { return hotConns() == 1 })
	sameAnswers(t, "status, then writes", exchange(t, plain, status, create, create, inspect, status, create), got)
	c.Close()
	waitFor("after the client closed", func() bool { return hotConns() == 0 && len(hl.g.sem) == 1 })
}

// A node whose phase does not serve the hot routes (locked, not
// initialized, a worker) has them answered by net/http, through the gate
// that refuses them.
func TestHotLoopLeavesRefusalsToNetHTTP(t *testing.T) {
	_, hot, _ := startHotPair(t, testHotRoutes(), func() bool { return false })
	got := exchange(t, hot, "GET /v1/secrets/s1 HTTP/1.1\r\nHost: vault\r\n\r\n", "GET /v1/status HTTP/1.1\r\nHost: vault\r\n\r\n")
	if !strings.Contains(got[1], `"via":"net/http"`) {
		t.Fatalf("the connection was not handed to net/http: %q", got)
	}
}

// hotTestConn is a hot loop connection on a socket of its own, served by
// the test's goroutine, and the client's end of it.
func hotTestConn(t *testing.T, hl *hotListener) (*hotConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	hl.g.sem <- struct{}{} // the slot its Accept would have taken
	hc, err := hl.newConn(sc.(*net.UnixConn))
	if err != nil {
		t.Fatal(err)
	}
	return hc, client
}

// The hot loop's buffers hold nothing of a request once it is answered:
// not the name in its target, not the data of its body, not the answer;
// nor, when it hands a connection to net/http, what it peeked at.
func TestHotLoopWipes(t *testing.T) {
	_, _, hl := startHotPair(t, testHotRoutes(), func() bool { return true })
	hc, client := hotTestConn(t, hl)
	hc.buf = make([]byte, hotPeekSize)
	for _, size := range []int{1000, 10000} { // the second is over the peek buffer
		req := fmt.Sprintf("POST /v1/secrets?name=topsecret HTTP/1.1\r\nHost: vault\r\nContent-Length: %d\r\nContent-Type: %s\r\n\r\n%s", size, api.ContentTypeData, strings.Repeat("p", size))
		go io.WriteString(client, req)
		time.Sleep(50 * time.Millisecond) // the whole request in the socket
		k, err := hc.peek(hc.buf[:hotPeekSize])
		if err != nil {
			t.Fatal(err)
		}
		r, ok := parseHotRequest(hc.buf[:k])
		if !ok || !hc.serveOne(&r, k) {
			t.Fatalf("request of %d bytes not served (taken %v)", size, ok)
		}
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got := readAnswers(t, client, 1)[0]; !strings.Contains(got, "topsecret") || !strings.Contains(got, "200 OK") {
			t.Fatalf("answer %q", got)
		}
		for what, b := range map[string][]byte{"read buffer": hc.buf, "answer": hc.out, "answer body": hc.answer} {
			if i := slices.IndexFunc(b[:cap(b)], func(c byte) bool { return c != 0 }); i >= 0 {
				t.Fatalf("after a %d-byte write, the %s holds %q", size, what, b[i:min(i+40, cap(b))])
			}
		}
	}
	if _, err := io.WriteString(client, "GET /v1/status HTTP/1.1\r\nHost: vault\r\nX-Name: topsecret\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	hc.serve(localHeaderTimeout) // hands the connection over, and returns
	if i := slices.IndexFunc(hc.buf[:cap(hc.buf)], func(c byte) bool { return c != 0 }); i >= 0 {
		t.Fatalf("after a handover, the read buffer holds %q", hc.buf[i:min(i+40, cap(hc.buf))])
	}
	if got := readAnswers(t, client, 1)[0]; !strings.Contains(got, `"via":"net/http"`) {
		t.Fatalf("answer after the handover: %q", got)
	}
}

// Connection slots: each connection of the hot loop holds one until it
// closes or is handed over, and every one is given back once the clients
// go. Shutting the server down ends the connections waiting for a request.
func TestHotLoopSlotsAndShutdown(t *testing.T) {
	_, hot, hl := startHotPair(t, testHotRoutes(), func() bool { return true })
	req := "GET /v1/secrets/s1 HTTP/1.1\r\nHost: vault\r\n\r\n"
	var conns []net.Conn
	for i := range 6 {
		c := dialLocal(t, hot)
		raw := req
		if i%2 == 1 {
			raw += "GET /v1/status HTTP/1.1\r\nHost: vault\r\n\r\n" // net/http's from then on
		}
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		readAnswers(t, c, 1+i%2)
		conns = append(conns, c)
	}
	if n := len(hl.g.sem); n != len(conns)+1 {
		t.Fatalf("%d slots held by %d connections and the waiting Accept", n, len(conns))
	}
	for _, c := range conns[:3] {
		c.Close()
	}
	waitSlots := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(hl.g.sem) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d slots held, want %d", len(hl.g.sem), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSlots(len(conns) - 3 + 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hl.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns[3:] {
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("a connection left open by the shutdown: %v", err)
		}
	}
	waitSlots(0)
}

// A request whose client hangs up while it runs is cancelled, as net/http
// cancels it; a request whose client waits is not.
func TestHotLoopCancelsOnHangUp(t *testing.T) {
	routes := testHotRoutes()
	ended := make(chan error, 1)
	inspect := routes.inspect
	routes.inspect = func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("ref") != "wait" {
			inspect(w, r)
			return
		}
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(300 * time.Millisecond):
			ended <- nil
		}
		writeAnswer(w, map[string]string{"waited": "yes"})
	}
	_, hot, _ := startHotPair(t, routes, func() bool { return true })
	req := "GET /v1/secrets/wait HTTP/1.1\r\nHost: vault\r\n\r\n"
	if got := exchange(t, hot, req, "GET /v1/secrets/s1 HTTP/1.1\r\nHost: vault\r\n\r\n"); !strings.Contains(got[0], "waited") || !strings.Contains(got[1], "200 OK") {
		t.Fatalf("answers %q", got)
	}
	if err := <-ended; err != nil {
		t.Fatalf("a request whose client waited ended with %v", err)
	}
	c, err := net.Dial("unix", hot)
	if err != nil {
		t.Fatal(err)
	}
	// The first request's watch runs and ends; the second's, on the same
	// connection, sees the hang-up.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if got := readAnswers(t, c, 1); !strings.Contains(got[0], "waited") {
		t.Fatalf("answer %q", got)
	}
	if err := <-ended; err != nil {
		t.Fatalf("a request whose client waited ended with %v", err)
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * hotWatchAfter)
	c.Close()
	if err := <-ended; err == nil {
		t.Fatal("a request whose client hung up ran to its end")
	}
}
