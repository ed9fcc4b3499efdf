package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Paths of the API.
const (
	PathRecords   = "/api/v1/records"
	PathVerify    = "/api/v1/verify"
	PathExport    = "/api/v1/export"
	PathBlame     = "/api/v1/blame"
	PathPublicKey = "/api/v1/publickey"
	PathHealth    = "/healthz"
)

// maxQuery bounds a request's query string.
const maxQuery = 4096

// Handler serves the API. Every path but /healthz needs the bearer token; the
// API only reads. publicKey is the ledger's checkpoint key, served so that
// security can pin it once and verify against it later.
func Handler(svc API, token string, publicKey ed25519.PublicKey, log *slog.Logger) http.Handler {
	h := &handler{svc: svc, token: []byte(token), publicKey: publicKey, log: log, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("GET "+PathRecords, h.auth(h.records))
	mux.Handle("GET "+PathVerify, h.auth(h.verify))
	mux.Handle("GET "+PathExport, h.auth(h.export))
	mux.Handle("GET "+PathBlame, h.auth(h.blame))
	mux.Handle("GET "+PathPublicKey, h.auth(h.key))
	return mux
}

type handler struct {
	svc       API
	token     []byte
	publicKey ed25519.PublicKey
	log       *slog.Logger
	now       func() time.Time
}

// apiError is a failure the caller caused, with the status to answer.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }

func badRequest(err error) error { return &apiError{status: http.StatusBadRequest, err: err} }

func (h *handler) auth(next func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || len(h.token) == 0 || subtle.ConstantTimeCompare([]byte(given), h.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lockstep"`)
			writeError(w, http.StatusUnauthorized, errors.New("a valid bearer token is required (LOCKSTEP_TOKEN)"))
			return
		}
		if len(r.URL.RawQuery) > maxQuery {
			writeError(w, http.StatusRequestURITooLong, fmt.Errorf("the query is longer than %d bytes", maxQuery))
			return
		}
		// Each answer has a deadline for its work and for writing it; walking
		// the whole ledger gets longer.
		limit := writeTimeout
		if r.URL.Path == PathExport || r.URL.Path == PathVerify {
			limit = exportTimeout
		}
		ctx, cancel := context.WithTimeout(r.Context(), limit)
		defer cancel()
		r = r.WithContext(ctx)
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(limit))
		if err := next(w, r); err != nil {
			var ae *apiError
			switch {
			case errors.As(err, &ae):
				writeError(w, ae.status, ae.err)
			case errors.As(err, new(*NotFoundError)):
				writeError(w, http.StatusNotFound, err)
			case errors.Is(err, context.Canceled):
			default:
				// The cause stays in the log: it may name files, hosts or
				// queries the caller has no business seeing.
				id := requestID()
				h.log.Error("API request failed", "path", r.URL.Path, "request", id, "error", err.Error())
				writeError(w, http.StatusInternalServerError, fmt.Errorf("internal error; the controller's log has it as request %s", id))
			}
		}
	})
}

// Records is the answer to GET /api/v1/records.
type Records struct {
	Records []audit.Record `json:"records"`
	// Next is the value of before= for the next (older) page; 0 when none.
	Next uint64 `json:"next,omitempty"`
}

func (h *handler) records(w http.ResponseWriter, r *http.Request) error {
	f, err := FilterFromQuery(r.URL.Query(), h.now())
	if err != nil {
		return badRequest(err)
	}
	recs, err := h.svc.Records(r.Context(), f)
	if err != nil {
		return err
	}
	out := Records{Records: recs}
	if out.Records == nil {
		out.Records = []audit.Record{}
	}
	if len(recs) == f.EffectiveLimit() && !f.OldestFirst {
		out.Next = recs[len(recs)-1].Seq
	}
	return writeJSON(w, out)
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) error {
	var trusted ed25519.PublicKey
	if k := r.URL.Query().Get("publicKey"); k != "" {
		var err error
		if trusted, err = audit.ParsePublicKey([]byte(k)); err != nil {
			return badRequest(fmt.Errorf("publicKey: %w", err))
		}
	}
	rep, err := h.svc.Verify(r.Context(), trusted)
	if err != nil {
		return err
	}
	return writeJSON(w, rep)
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) error {
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest(fmt.Errorf("after=%q: not a record number", v))
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	// Once lines are written, a failure can only cut the stream short: the
	// client sees a missing trailer and says so.
	n, err := h.svc.Export(r.Context(), after, w)
	if err != nil && n == 0 {
		return err
	}
	if err != nil {
		h.log.Error("export cut short", "after", after, "records", n, "error", err.Error())
	}
	return nil
}

func (h *handler) blame(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := BlameRequest{Kind: q.Get("kind"), Namespace: q.Get("namespace"), Name: q.Get("name")}
	if req.Kind == "" || req.Name == "" {
		return badRequest(errors.New("kind and name are required"))
	}
	b, err := h.svc.Blame(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, b)
}

// PublicKey is the answer to GET /api/v1/publickey.
type PublicKey struct {
	// PEM is the PKIX public key.
	PEM         string `json:"pem"`
	Fingerprint string `json:"fingerprint"`
}

func (h *handler) key(w http.ResponseWriter, _ *http.Request) error {
	pem, err := audit.MarshalPublicKey(h.publicKey)
	if err != nil {
		return err
	}
	return writeJSON(w, PublicKey{PEM: string(pem), Fingerprint: audit.Fingerprint(h.publicKey)})
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

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Timeouts of the API server. A request reads nothing but its header; an
// answer is written, and its work done, within writeTimeout (export and
// verify, which walk the whole ledger, within exportTimeout). No ReadTimeout:
// for a request without a body it would cancel the request's context while
// the answer is being worked out.
var (
	readHeaderTimeout = 10 * time.Second
	writeTimeout      = time.Minute
	idleTimeout       = time.Minute
	exportTimeout     = 30 * time.Minute
)

// ErrPlainHTTP is returned by CheckPlainHTTP.
var ErrPlainHTTP = errors.New("the API would send its bearer token in clear text")

// CheckPlainHTTP refuses to serve the API without TLS on an address other
// than loopback (":8443" listens on every interface), unless insecure says
// the risk was accepted: the token would cross the network in clear text.
func CheckPlainHTTP(addr string, tls, insecure bool) error {
	if tls || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("API address %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%w on %s: give --api-tls-cert and --api-tls-key, listen on 127.0.0.1, or pass --api-insecure-http to accept it", ErrPlainHTTP, addr)
}

// Serve serves h on addr until ctx ends, with TLS when certFile is set.
func Serve(ctx context.Context, addr string, h http.Handler, certFile, keyFile string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("API address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10}
	done := make(chan error, 1)
	go func() {
		if certFile != "" {
			done <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}
