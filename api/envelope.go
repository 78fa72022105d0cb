package api

import (
	"encoding/json"
	"io"
	"net/http"
)

// The error envelope: every API answer with a status of 300 or more carries
// {"error": Error} as its body. WriteError writes it and ReadError reads it;
// nothing else in vault knows its shape.

// envelope is the body of an error answer.
type envelope struct {
	Error *Error `json:"error"`
}

// WriteError answers e in the error envelope, with e's HTTP status.
func WriteError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status())
	_ = json.NewEncoder(w).Encode(envelope{Error: e})
}

// ReadError reads the error envelope from an answer's body. It returns nil
// when the body is not one (another program answered), or holds no message.
func ReadError(body io.Reader) *Error {
	var e envelope
	if err := json.NewDecoder(body).Decode(&e); err != nil || e.Error == nil || e.Error.Message == "" {
		return nil
	}
	return e.Error
}
