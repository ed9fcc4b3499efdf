package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// apiError is a failure the caller caused, with the status to answer. Its
// text is shown to the caller: it must name nothing they may not see.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func badRequest(err error) error { return &apiError{status: http.StatusBadRequest, err: err} }

func forbidden(format string, args ...any) error {
	return &apiError{status: http.StatusForbidden, err: fmt.Errorf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, err: fmt.Errorf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &apiError{status: http.StatusConflict, err: fmt.Errorf(format, args...)}
}

// maxBody bounds a request's body: requests carry names, passwords and
// filters, never manifests.
const maxBody = 1 << 20

// readJSON decodes the request's JSON body into v, refusing unknown fields,
// trailing data, a body over maxBody and a content type other than JSON.
func readJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, err: fmt.Errorf("content type %q: send application/json", ct)}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return &apiError{status: http.StatusRequestEntityTooLarge, err: fmt.Errorf("the request body is larger than %d bytes", maxBody)}
		case errors.Is(err, io.EOF):
			return badRequest(errors.New("the request body is empty: send a JSON object"))
		}
		return badRequest(fmt.Errorf("the request body is not valid JSON for this call: %w", err))
	}
	if dec.More() {
		return badRequest(errors.New("the request body has data after its JSON object"))
	}
	return nil
}

// shownCause is what the caller is told of err, a failure of a call the
// server made for them (to the cluster, to the API server): a refusal the
// caller caused (an apiError, a NotFoundError) and the API server's refusal
// of the request (a 4xx status: not found, invalid, "a container name must
// be specified", "container is waiting to start") as they are. Anything else
// is logged under a request ID, and the caller told hidden and that ID: a
// transport failure names the cluster's hosts and addresses, and so does a
// 5xx status whose message the API server copied from its own failed call
// (`Get "https://10.0.0.5:10250/containerLogs/…": dial tcp …`).
func (s *Server) shownCause(r *http.Request, err error, hidden string) string {
	var ae *apiError
	var status apierrors.APIStatus
	switch {
	case errors.As(err, &ae), errors.As(err, new(*NotFoundError)):
		return err.Error()
	case errors.As(err, &status) && status.Status().Code >= 400 && status.Status().Code < 500:
		return status.Status().Message
	}
	id := requestID()
	s.d.Log.Error("a call for an API request failed", "path", r.URL.Path, "request", id, "error", err.Error())
	return fmt.Sprintf("%s (the controller's log has the cause as request %s)", hidden, id)
}

// requestID names a failed request in the log and in the answer.
func requestID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// writeJSONStatus answers v as JSON with a status other than 200: the
// content type must be set before WriteHeader sends the header.
func writeJSONStatus(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Error is the body of every answer that is not 2xx.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Error{Error: err.Error()})
}
