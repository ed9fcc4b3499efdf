package server

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// API is what the CLI asks of a ledger, remote (Client) or local (Service).
type API interface {
	// Records returns the records the filter selects, newest first (unless
	// the filter says OldestFirst).
	Records(ctx context.Context, f audit.Filter) ([]audit.Record, error)
	// Verify checks the whole chain; trusted may be nil (see audit.Verify).
	Verify(ctx context.Context, trusted ed25519.PublicKey) (audit.Report, error)
	// Export writes every record after seq as JSON Lines and returns how many.
	Export(ctx context.Context, after uint64, w io.Writer) (int, error)
	// Blame blames the fields of one live object.
	Blame(ctx context.Context, req BlameRequest) (audit.Blame, error)
}

// BlameRequest names a live object: Kind as kubectl takes it (deployment,
// Deployment, deployments.apps, deploy).
type BlameRequest struct {
	Kind      string
	Namespace string
	Name      string
	// Check, when set, is asked whether the caller may blame an object that
	// the Application owner ("namespace/name") applied, before anything of
	// it is read out.
	Check func(owner string) error `json:"-"`
}

// LiveReader reads one live object, with its managedFields.
type LiveReader interface {
	Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error)
}

// Service answers API calls from a Store (and the cluster, for blame).
type Service struct {
	Store audit.Store
	// Live reads objects for blame; blame fails without it.
	Live LiveReader
	// FieldManager is the controller's field manager, whose fields blame walks.
	FieldManager string
}

var _ API = (*Service)(nil)

// Records implements API.
func (s *Service) Records(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	return s.Store.Query(ctx, f)
}

// Head says where the ledger's chain stands: its newest record and the
// newest retention cut.
func (s *Service) Head(ctx context.Context) (LedgerHead, error) {
	seq, hash, err := s.Store.Head(ctx)
	if err != nil {
		return LedgerHead{}, err
	}
	_, cut, err := s.Store.Checkpoints(ctx)
	if err != nil {
		return LedgerHead{}, err
	}
	h := LedgerHead{Seq: seq, Hash: hash}
	if cut != nil {
		h.CutAt = cut.Seq
	}
	return h, nil
}

// Verify implements API.
func (s *Service) Verify(ctx context.Context, trusted ed25519.PublicKey) (audit.Report, error) {
	return audit.Verify(ctx, s.Store, trusted)
}

// Export implements API. Each line is a record's canonical form with its hash
// appended as a last field: the SHA-256 of the line without `,"hash":"…"` is
// that hash, so a SIEM can check lines on its own.
func (s *Service) Export(ctx context.Context, after uint64, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	err := s.Store.Scan(ctx, after, func(seq uint64, body []byte, _ audit.Index) error {
		line, err := ExportLine(body)
		if err != nil {
			return fmt.Errorf("record #%d: %w", seq, err)
		}
		n++
		_, err = bw.Write(line)
		return err
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// ExportLine is one exported record: its canonical body, with the hash of that
// body added as the last field, and a newline.
func ExportLine(body []byte) ([]byte, error) {
	rec, err := audit.Decode(body)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(body)+80)
	line = append(line, body[:len(body)-1]...)
	line = append(line, `,"hash":"`...)
	line = append(line, rec.Hash...)
	return append(line, "\"}\n"...), nil
}

// blameRecords bounds how far back blame reads an object's records.
const blameRecords = audit.MaxLimit

// Blame implements API.
func (s *Service) Blame(ctx context.Context, req BlameRequest) (audit.Blame, error) {
	if s.Live == nil {
		return audit.Blame{}, &apiError{status: http.StatusServiceUnavailable, err: errors.New("blame reads the live object from the cluster, and no cluster is configured (set --kubeconfig or $KUBECONFIG)")}
	}
	live, err := s.Live.Get(ctx, req.Kind, req.Namespace, req.Name)
	if err != nil {
		return audit.Blame{}, err
	}
	if req.Check != nil {
		if err := req.Check(object.Owner(live)); err != nil {
			return audit.Blame{}, err
		}
	}
	// The object is read with the controller's rights: only what an
	// Application applied is answered for, not whatever the cluster holds.
	if live.GetLabels()[object.TrackingLabel] != object.TrackingLabelValue {
		return audit.Blame{}, &NotFoundError{fmt.Sprintf("%s %q is not managed by Lockstep: blame answers for objects an Application applied", live.GetKind(), live.GetName())}
	}
	gvk := live.GroupVersionKind()
	ref := audit.ObjectRef{Group: gvk.Group, Kind: gvk.Kind, Namespace: live.GetNamespace(), Name: live.GetName()}
	recs, err := s.Store.Query(ctx, audit.Filter{Object: &ref, Events: []audit.Event{audit.EventSync, audit.EventDrift}, Limit: blameRecords})
	if err != nil {
		return audit.Blame{}, err
	}
	return audit.BlameObject(live, s.FieldManager, recs)
}
