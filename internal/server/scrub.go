package server

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
)

// maxScrubSecrets bounds the Secrets read to build one Application's
// scrubber: an Application that manages more gets no object views (503,
// saying why) rather than views with its Secrets' values in clear.
const maxScrubSecrets = 500

// secretSetTTL is how long an Application's Secrets are reused between
// views while the Application does not change: a page view reads its
// object, tree and blame, and a reload should not read every Secret again.
// A sync or a drift changes the Application's status, so a new set is read.
const secretSetTTL = 15 * time.Second

// secretSet is what an Application's object views must not show: the
// Secrets it manages (live) and the values of the Secrets its Helm values
// come from.
type secretSet struct {
	objs   []*unstructured.Unstructured
	values []string
	read   time.Time
	rv     string // the Application's resourceVersion when read
}

// scrubber hides the set's values, and those of more Secrets.
func (ss secretSet) scrubber(more ...*unstructured.Unstructured) audit.Scrubber {
	return audit.NewScrubber(append(ss.objs[:len(ss.objs):len(ss.objs)], more...), ss.values...)
}

// secretSets caches each Application's secretSet.
type secretSets struct {
	mu   sync.Mutex
	sets map[string]secretSet // by namespace/name
}

// secretsOf is the Application's secretSet, read live (as the controller)
// or reused. A value copied from a Secret into a ConfigMap (a Helm value used
// twice) is hidden in the UI as it is in the ledger. A Secret that is gone
// is skipped; any other failure fails the answer, never shows it
// unscrubbed.
func (s *Server) secretsOf(ctx context.Context, app *v1.Application) (secretSet, error) {
	key := app.Namespace + "/" + app.Name
	s.secrets.mu.Lock()
	ss, ok := s.secrets.sets[key]
	s.secrets.mu.Unlock()
	if ok && ss.rv == app.ResourceVersion && time.Since(ss.read) < secretSetTTL {
		return ss, nil
	}
	ss, err := s.readSecrets(ctx, app)
	if err != nil {
		return secretSet{}, err
	}
	s.secrets.mu.Lock()
	defer s.secrets.mu.Unlock()
	if s.secrets.sets == nil || len(s.secrets.sets) > 10000 {
		s.secrets.sets = map[string]secretSet{}
	}
	s.secrets.sets[key] = ss
	return ss, nil
}

func (s *Server) readSecrets(ctx context.Context, app *v1.Application) (secretSet, error) {
	ss := secretSet{read: time.Now(), rv: app.ResourceVersion}
	get := func(ns, name string) (*unstructured.Unstructured, error) {
		if len(ss.objs) == maxScrubSecrets {
			return nil, &apiError{status: http.StatusServiceUnavailable, err: fmt.Errorf(
				"%s/%s uses more than %d Secrets: its objects are not shown here, as their values could not all be hidden; read them with kubectl", app.Namespace, app.Name, maxScrubSecrets)}
		}
		o, err := s.d.Cluster.Get(ctx, kubectlKind("", "Secret"), ns, name)
		if errors.As(err, new(*NotFoundError)) {
			return nil, nil
		}
		return o, err
	}
	for _, r := range secretsOf(app) {
		o, err := get(r.Namespace, r.Name)
		if err != nil {
			return ss, err
		}
		if o != nil {
			ss.objs = append(ss.objs, o)
		}
	}
	if h := app.Spec.Source.Helm; h != nil {
		for _, ref := range h.ValuesFrom {
			if ref.Kind != "Secret" {
				continue
			}
			o, err := get(app.Spec.Destination.Namespace, ref.Name)
			if err != nil {
				return ss, err
			}
			if o == nil {
				continue
			}
			ss.objs = append(ss.objs, o)
			ss.values = append(ss.values, valuesFileStrings(o, cmp.Or(ref.Key, "values.yaml"))...)
		}
	}
	return ss, nil
}

// valuesFileStrings are the leaf values of the values file a Secret holds
// under key (base64 in data, or stringData), each to be hidden on its own.
func valuesFileStrings(secret *unstructured.Unstructured, key string) []string {
	var raw string
	if s, ok, _ := unstructured.NestedString(secret.Object, "stringData", key); ok {
		raw = s
	} else if s, ok, _ := unstructured.NestedString(secret.Object, "data", key); ok {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			raw = string(b)
		}
	}
	values := map[string]any{}
	if raw == "" || yaml.Unmarshal([]byte(raw), &values) != nil {
		return nil
	}
	return audit.LeafStrings(values)
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

// hideBlameValues leaves out blame's live values where no scrubber can be
// built (the owning Application is gone): which values were secret is no
// longer known.
func hideBlameValues(b *audit.Blame) {
	for i := range b.Fields {
		f := &b.Fields[i]
		f.Value = "(not shown: its Application is gone)"
		flags := f.Flags[:0]
		for _, fl := range f.Flags {
			if !strings.HasPrefix(fl, "differs from Git: live ") {
				flags = append(flags, fl)
			}
		}
		f.Flags = flags
	}
}

// secretsOf lists the Secrets an Application manages or plans: its managed
// objects, which status.resources may leave out when it has many, and the
// planned ones, which an Application not yet synced has not applied.
func secretsOf(app *v1.Application) []v1.ObjectReference {
	var refs []v1.ObjectReference
	seen := map[v1.ObjectReference]bool{}
	add := func(r v1.ObjectReference) {
		r.Version = ""
		if r.Group == "" && r.Kind == "Secret" && !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	for _, r := range app.Status.Resources {
		add(r.ObjectReference)
	}
	for _, r := range app.Status.ManagedRefs() {
		add(r)
	}
	return refs
}
