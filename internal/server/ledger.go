package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

var errNoLedger = &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server has no ledger")}

// mayReadRecord says whether p may read rec: the ledger of its Application's
// Project, namespace and name; a record of no Application (a key change, a
// retention cut) needs the whole ledger.
func mayReadRecord(c *call, rec audit.Record) bool {
	object := "*"
	if rec.Application != "" {
		project := rec.Project
		if project == "" {
			project = "default"
		}
		object = project + "/" + rec.Application
	}
	return c.may(rbac.Ledger, rbac.Get, object)
}

// mayBlame says whether p may blame an object owned by the Application owner
// ("namespace/name"): the ledger of that Application; an object whose
// Application is gone needs the whole ledger.
func (s *Server) mayBlame(r *http.Request, c *call, owner string) error {
	object := "*"
	if ns, name, ok := strings.Cut(owner, "/"); ok && s.d.Apps != nil {
		app := &v1.Application{}
		if err := s.d.Apps.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, app); err == nil {
			object = AppObject(app)
		}
	}
	if !c.may(rbac.Ledger, rbac.Get, object) {
		return &NotFoundError{"no such object managed by an Application whose ledger you may read"}
	}
	return nil
}

// Records is the answer to GET /api/v1/records.
type Records struct {
	Records []audit.Record `json:"records"`
	// Next is the value of before= for the next (older) page; 0 when none.
	Next uint64 `json:"next,omitempty"`
}

func (s *Server) records(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Ledger == nil {
		return errNoLedger
	}
	f, err := FilterFromQuery(r.URL.Query(), s.d.Clock())
	if err != nil {
		return badRequest(err)
	}
	recs, err := s.d.Ledger.Records(r.Context(), f)
	if err != nil {
		return err
	}
	// The page is filtered after the query: a caller sees the records of the
	// Applications they may read the ledger of, and a short page still has
	// the next one's start.
	out := Records{Records: []audit.Record{}}
	for _, rec := range recs {
		if mayReadRecord(c, rec) {
			out.Records = append(out.Records, rec)
		}
	}
	if len(recs) == f.EffectiveLimit() && !f.OldestFirst {
		out.Next = recs[len(recs)-1].Seq
	}
	return writeJSON(w, out)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, _ *call) error {
	if s.d.Ledger == nil {
		return errNoLedger
	}
	var trusted ed25519.PublicKey
	if k := r.URL.Query().Get("publicKey"); k != "" {
		var err error
		if trusted, err = audit.ParsePublicKey([]byte(k)); err != nil {
			return badRequest(fmt.Errorf("publicKey: %w", err))
		}
	}
	v, err := s.verifier.verify(r.Context(), s.d.Ledger, trusted, s.d.Clock)
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, _ *call) error {
	if s.d.Ledger == nil {
		return errNoLedger
	}
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
	n, err := s.d.Ledger.Export(r.Context(), after, w)
	if err != nil && n == 0 {
		return err
	}
	if err != nil {
		s.d.Log.Error("export cut short", "after", after, "records", n, "error", err.Error())
	}
	return nil
}

func (s *Server) blame(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Ledger == nil {
		return errNoLedger
	}
	q := r.URL.Query()
	var owner string
	req := BlameRequest{Kind: q.Get("kind"), Namespace: q.Get("namespace"), Name: q.Get("name"),
		Check: func(o string) error { owner = o; return s.mayBlame(r, c, o) }}
	if req.Kind == "" || req.Name == "" {
		return badRequest(errors.New("kind and name are required"))
	}
	b, err := s.d.Ledger.Blame(r.Context(), req)
	if errors.As(err, new(*NotFoundError)) {
		// Only who may read the whole ledger learns whether an unmanaged
		// object exists.
		if !c.may(rbac.Ledger, rbac.Get, "*") {
			return notFound("no %s %q managed by an Application whose ledger you may read", req.Kind, req.Name)
		}
	}
	if err != nil {
		return err
	}
	if err := s.scrubBlameOf(r.Context(), owner, &b); err != nil {
		return err
	}
	return writeJSON(w, b)
}

// scrubBlameOf hides, in blame's values, the values of the Secrets the
// owning Application manages (see secretsOf).
func (s *Server) scrubBlameOf(ctx context.Context, owner string, b *audit.Blame) error {
	ns, name, ok := strings.Cut(owner, "/")
	if !ok || s.d.Apps == nil || s.d.Cluster == nil {
		return nil
	}
	app := &v1.Application{}
	if err := s.d.Apps.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, app); apierrors.IsNotFound(err) {
		hideBlameValues(b) // only who may read the whole ledger got this far
		return nil
	} else if err != nil {
		return err
	}
	secrets, err := s.secretsOf(ctx, app)
	if err != nil {
		return err
	}
	scrubBlame(b, secrets.scrubber())
	return nil
}

// PublicKey is the answer to GET /api/v1/publickey.
type PublicKey struct {
	// PEM is the PKIX public key.
	PEM         string `json:"pem"`
	Fingerprint string `json:"fingerprint"`
}

func (s *Server) publicKey(w http.ResponseWriter, _ *http.Request, _ *call) error {
	if s.d.PublicKey == nil {
		return errNoLedger
	}
	pem, err := audit.MarshalPublicKey(s.d.PublicKey)
	if err != nil {
		return err
	}
	return writeJSON(w, PublicKey{PEM: string(pem), Fingerprint: audit.Fingerprint(s.d.PublicKey)})
}
