package server

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
)

// maxScrubSecrets bounds the Secrets read to build one answer's scrubber:
// an Application that manages more is shown without manifests and values
// rather than with them unscrubbed.
const maxScrubSecrets = 500

var errTooManySecrets = errors.New("this Application manages too many Secrets to hide their values here; read the object with kubectl")

// secretsOf reads the Secrets the Application manages, live. Their values
// are what a manifest, a blame value or an Event of another object must not
// show: a value copied from a Secret into a ConfigMap (a Helm value used
// twice, say) is hidden in the UI as it is in the ledger. A Secret that is
// gone is skipped; any other failure fails the answer, never shows it
// unscrubbed.
func (s *Server) secretsOf(ctx context.Context, app *v1.Application) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, r := range app.Status.Resources {
		if r.Group != "" || r.Kind != "Secret" {
			continue
		}
		if len(out) == maxScrubSecrets {
			return nil, errTooManySecrets
		}
		o, err := s.d.Cluster.Get(ctx, kubectlKind("", "Secret"), r.Namespace, r.Name)
		if errors.As(err, new(*NotFoundError)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// scrubBlame hides Secret values in blame's live values and notes.
func scrubBlame(b *audit.Blame, s audit.Scrubber) {
	for i := range b.Fields {
		f := &b.Fields[i]
		f.Value = s.Scrub(f.Value)
		for j := range f.Flags {
			f.Flags[j] = s.Scrub(f.Flags[j])
		}
		for j := range f.Reverted {
			f.Reverted[j] = s.Scrub(f.Reverted[j])
		}
	}
}
