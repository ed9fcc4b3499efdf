package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
	"sigs.k8s.io/yaml"
)

// Cluster reads what the resource tree and resource views show: children
// from watches, single objects, their Events and Pods' logs. Every object it
// is asked for was first found in the Application's tree.
type Cluster interface {
	ChildReader
	LiveReader
	// Events are the Events about one object, newest last.
	Events(ctx context.Context, namespace, kind, name string) ([]corev1.Event, error)
	// Logs streams a Pod's log, read as the Application's identity.
	Logs(ctx context.Context, app *v1.Application, namespace, pod string, opts corev1.PodLogOptions) (io.ReadCloser, error)
	// Restart restarts a workload's Pods as kubectl rollout restart does
	// (the pod template's restartedAt annotation set to at), acting as the
	// Application's identity.
	Restart(ctx context.Context, app *v1.Application, group, kind, namespace, name string, at time.Time) error
}

// Resource is the answer to GET .../resource: one object of the tree, live
// and (with desired=true) as Git wants it, with the diff and its Events.
// Secret values are masked in every manifest and diff.
type Resource struct {
	Node TreeNode `json:"node"`
	// Live is the object in the cluster, without managedFields.
	Live map[string]any `json:"live,omitempty"`
	// Desired and Diff come from a preview of the newest commit (desired=true).
	Desired map[string]any `json:"desired,omitempty"`
	// LiveYAML and DesiredYAML are the same manifests as YAML, as a person
	// reads them (and as diffs are written).
	LiveYAML    string         `json:"liveYAML,omitempty"`
	DesiredYAML string         `json:"desiredYAML,omitempty"`
	Diff        string         `json:"diff,omitempty"`
	Revision    string         `json:"revision,omitempty"`
	Events      []EventSummary `json:"events"`
	// Actions are the resource actions (restart) the caller may run on
	// this object, so a UI offers only those.
	Actions []string `json:"actions,omitempty"`
}

// EventSummary is one Kubernetes Event about an object.
type EventSummary struct {
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message"`
	Count    int32     `json:"count,omitempty"`
	LastSeen time.Time `json:"lastSeen,omitzero"`
	Source   string    `json:"source,omitempty"`
}

// maxEvents bounds the Events shown for one object.
const maxEvents = 100

// resourceKey reads group, kind, namespace and name from the query.
func resourceKey(q url.Values) (object.Key, error) {
	k := object.Key{Group: q.Get("group"), Kind: q.Get("kind"), Namespace: q.Get("namespace"), Name: q.Get("name")}
	if k.Kind == "" || k.Name == "" {
		return k, errors.New("kind and name are required (and group and namespace where they apply)")
	}
	for _, v := range []string{k.Group, k.Kind, k.Namespace, k.Name} {
		if len(v) > 253 || strings.ContainsAny(v, "/ \x00") {
			return k, errors.New("group, kind, namespace and name are names: at most 253 characters, no slashes or spaces")
		}
	}
	return k, nil
}

// kubectlKind is how KubeLive names a kind: deployment.apps, pod.
func kubectlKind(group, kind string) string {
	if group == "" {
		return strings.ToLower(kind)
	}
	return strings.ToLower(kind) + "." + group
}

func (s *Server) getResource(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Cluster == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server reads no cluster")}
	}
	q := r.URL.Query()
	key, err := resourceKey(q)
	if err != nil {
		return badRequest(err)
	}
	node, err := s.inTree(r.Context(), c.app, key)
	if err != nil {
		return err
	}
	out := Resource{Node: *node, Events: []EventSummary{}, Actions: c.resourceActionsOn(key)}
	secrets, err := s.secretsOf(r.Context(), c.app)
	if err != nil {
		return err
	}
	scrub := secrets.scrubber()
	out.Node.HealthMessage, out.Node.Info = scrub.Scrub(out.Node.HealthMessage), scrub.Scrub(out.Node.Info)
	live, err := s.d.Cluster.Get(r.Context(), kubectlKind(key.Group, key.Kind), key.Namespace, key.Name)
	var nf *NotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return err
	default:
		masked, _ := pass.MaskSecrets(live, live)
		masked = masked.DeepCopy()
		masked.SetManagedFields(nil)
		out.Live = scrub.ScrubObject(masked.Object)
		out.LiveYAML = asYAML(out.Live)
	}
	if q.Get("desired") == "true" && node.Managed {
		if err := s.desired(r.Context(), c, key, live, secrets, &out); err != nil {
			return err
		}
	}
	events, err := s.d.Cluster.Events(r.Context(), key.Namespace, key.Kind, key.Name)
	if err != nil {
		return err
	}
	sort.Slice(events, func(i, j int) bool { return eventTime(events[i]).After(eventTime(events[j])) })
	for i, e := range events {
		if i == maxEvents {
			break
		}
		out.Events = append(out.Events, EventSummary{Type: e.Type, Reason: e.Reason, Message: scrub.Scrub(e.Message), Count: e.Count,
			LastSeen: eventTime(e), Source: e.Source.Component})
	}
	return writeJSON(w, out)
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// desired previews the Application and takes the object's step: what Git
// wants of it now, and the diff.
func (s *Server) desired(ctx context.Context, c *call, key object.Key, live *unstructured.Unstructured, secrets secretSet, out *Resource) error {
	if s.d.Previewer == nil {
		return nil
	}
	release, err := s.previewSlot(ctx, c.principal.Account())
	if err != nil {
		return err
	}
	defer release()
	p, err := s.d.Previewer.Preview(ctx, c.app.DeepCopy(), nil)
	if p == nil {
		return err
	}
	if p.Commit != nil {
		out.Revision = p.Commit.Hash
	}
	if p.Err != nil {
		return nil // the Application's status says why; the live object stands alone
	}
	for _, step := range p.Plan.Steps {
		if step.Key != key {
			continue
		}
		scrub := p.ScrubberWith(secrets.objs...)
		if step.Desired != nil {
			_, desired := pass.MaskSecrets(live, step.Desired)
			out.Desired = scrub.ScrubObject(plan.Comparable(desired).Object)
			out.DesiredYAML = asYAML(out.Desired)
		}
		diff, err := pass.StepDiff(p, step, scrub)
		out.Diff = pass.CapDiff(diff)
		return err
	}
	return nil
}

// asYAML is o as YAML; "" if it cannot be (it came from JSON: it can).
func asYAML(o map[string]any) string {
	data, err := yaml.Marshal(o)
	if err != nil {
		return ""
	}
	return string(data)
}
