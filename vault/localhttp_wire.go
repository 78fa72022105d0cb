package vault

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The hot loop's (localhttp.go) side of the wire: which requests it takes,
// and the bytes of its answers.

// hotRequest is the head of a request the hot loop takes.
type hotRequest struct {
	pattern string // one of the hot routes' patterns
	method  string
	target  string // the request-target, as sent
	ref     string // the {ref} of the path, when the route has one
	headLen int    // bytes of the head, up to its blank line

	host, userAgent, contentType, accept, acceptEncoding string
	contentLength                                        int64
	hasLength                                            bool
}

var (
	crlf     = []byte("\r\n")
	headEnd  = []byte("\r\n\r\n")
	http11   = []byte("HTTP/1.1")
	secrets  = []byte("/v1/secrets")
	versions = []byte("versions")
)

// parseHotRequest reads the head of the request at the start of b. It
// takes (ok) only a request the hot loop serves exactly as net/http would:
// the whole head present; HTTP/1.1; create, update or inspect with a plain
// path (a reference of unreserved characters only: nothing for the mux to
// unescape or clean); one Host, and no header but those api.Client, curl
// and net/http's Transport send for these requests (no Expect, Connection,
// Transfer-Encoding or anything unknown); a write's body by Content-Length
// within MaxDataSize, no body on an inspect. Anything else goes to
// net/http.
func parseHotRequest(b []byte) (req hotRequest, ok bool) {
	end := bytes.Index(b, headEnd)
	if end < 0 {
		return req, false
	}
	req.headLen = end + len(headEnd)
	line, rest, _ := bytes.Cut(b[:end+len(crlf)], crlf)
	method, line, ok1 := bytes.Cut(line, []byte{' '})
	target, proto, ok2 := bytes.Cut(line, []byte{' '})
	if !ok1 || !ok2 || !bytes.Equal(proto, http11) {
		return req, false
	}
	switch string(method) {
	case http.MethodGet:
		req.method = http.MethodGet
	case http.MethodPost:
		req.method = http.MethodPost
	default:
		return req, false
	}
	path, _, _ := bytes.Cut(target, []byte{'?'})
	tail, found := bytes.CutPrefix(path, secrets)
	switch {
	case !found:
		return req, false
	case len(tail) == 0:
		if req.method != http.MethodPost {
			return req, false // the list
		}
		req.pattern = patternCreate
	case tail[0] == '/':
		ref, after, sub := bytes.Cut(tail[1:], []byte{'/'})
		if !plainRef(ref) {
			return req, false
		}
		switch {
		case !sub && req.method == http.MethodGet:
			req.pattern = patternInspect
		case sub && bytes.Equal(after, versions) && req.method == http.MethodPost:
			req.pattern = patternUpdate
		default:
			return req, false
		}
		req.ref = string(ref)
	default:
		return req, false
	}
	hosts := 0
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		key, value, found := bytes.Cut(line, []byte{':'})
		if !found || !plainValue(value) {
			return req, false
		}
		value = bytes.Trim(value, " \t")
		var field *string
		switch {
		case asciiEqualFold(key, "Host"):
			if hosts++; hosts > 1 || !plainHost(value) {
				return req, false
			}
			field = &req.host
		case asciiEqualFold(key, "User-Agent"):
			field = &req.userAgent
		case asciiEqualFold(key, "Content-Type"):
			field = &req.contentType
		case asciiEqualFold(key, "Accept"):
			field = &req.accept
		case asciiEqualFold(key, "Accept-Encoding"):
			field = &req.acceptEncoding
		case asciiEqualFold(key, "Content-Length"):
			if req.hasLength || len(value) == 0 || len(value) > 7 {
				return req, false
			}
			for _, c := range value {
				if c < '0' || c > '9' {
					return req, false
				}
				req.contentLength = req.contentLength*10 + int64(c-'0')
			}
			req.hasLength = true
			continue
		default:
			return req, false
		}
		if *field != "" || len(value) == 0 {
			return req, false // a repeated header, or an empty one
		}
		*field = string(value)
	}
	if hosts != 1 {
		return req, false
	}
	if req.method == http.MethodPost {
		if !req.hasLength || req.contentLength > MaxDataSize {
			return req, false
		}
	} else if req.contentLength != 0 {
		return req, false
	}
	req.target = string(target)
	return req, true
}

// plainRef says whether a secret reference in a path is unreserved
// characters only, and not a dot segment.
func plainRef(ref []byte) bool {
	if len(ref) == 0 || string(ref) == "." || string(ref) == ".." {
		return false
	}
	for _, c := range ref {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// plainHost says whether a Host value is one net/http takes: a name, an
// address or a port of the plainest characters.
func plainHost(h []byte) bool {
	for _, c := range h {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// plainValue says whether a header value holds no control byte but tab.
func plainValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// asciiEqualFold compares a header key with a known one, ignoring ASCII
// case only (net/http's keys are tokens: no other folding applies).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// parseRequestURI parses a request-target as net/http does.
func parseRequestURI(target string) (*url.URL, error) { return url.ParseRequestURI(target) }

// appendBuf is an io.Writer appending to a byte slice.
type appendBuf struct{ b []byte }

func (a *appendBuf) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// writeAnswerExclude are the headers http.Response.Write writes itself.
var writeAnswerExclude = map[string]bool{"Content-Length": true, "Transfer-Encoding": true, "Trailer": true}

func appendStatusLine(b []byte, status int) []byte {
	b = append(b, "HTTP/1.1 "...)
	if status < 100 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	return append(b, crlf...)
}

// appendWriteAnswer appends the answer to a secret write, the bytes
// wipeAfter writes with http.Response.Write: the status line, the
// Content-Length, the other headers sorted, the body.
func appendWriteAnswer(b []byte, status int, w *hotResponse) []byte {
	b = appendStatusLine(b, status)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(w.body)), 10)
	b = append(b, crlf...)
	ab := &appendBuf{b: b}
	_ = w.header.WriteSubset(ab, writeAnswerExclude)
	b = append(ab.b, crlf...)
	return append(b, w.body...)
}

// appendServerAnswer appends the answer to an inspect, the bytes
// net/http's server writes for an answer written in one Write by a
// handler that has returned: the status line, the handler's headers
// sorted, a Date unless the handler named one, the Content-Length unless
// the handler set it and the body (or, for a body over net/http's
// 2048-byte buffer, a chunked body), and keep-alive.
func appendServerAnswer(b []byte, status int, w *hotResponse) []byte {
	b = appendStatusLine(b, status)
	ab := &appendBuf{b: b}
	_ = w.header.WriteSubset(ab, nil)
	b = ab.b
	if _, ok := w.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, crlf...)
	}
	_, hasLength := w.header["Content-Length"]
	chunked := !hasLength && len(w.body) > 2048
	switch {
	case chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n\r\n"...)
		b = strconv.AppendInt(b, int64(len(w.body)), 16)
		b = append(b, crlf...)
		b = append(b, w.body...)
		return append(b, "\r\n0\r\n\r\n"...)
	case !hasLength:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, crlf...)
	}
	b = append(b, crlf...)
	return append(b, w.body...)
}
