package server

import (
	"context"
	"errors"
	"net/http"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"strconv"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/health"
	"github.com/lockstep-dev/lockstep/internal/object"
)

// ChildReader reads, from watches, the objects an object owns (ReplicaSets of
// a Deployment, Pods of a ReplicaSet or Job): kube.Children.
type ChildReader interface {
	Of(ctx context.Context, group, kind, namespace, name string) ([]*unstructured.Unstructured, error)
}

// TreeNode is one object of an Application's resource tree.
type TreeNode struct {
	// ID is "group/Kind/namespace/name"; Parent the ID of its owner in the
	// tree ("" for the Application's own objects).
	ID        string `json:"id"`
	Parent    string `json:"parent,omitempty"`
	Group     string `json:"group,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Managed objects are the Application's own (applied from Git); the
	// others are what they created.
	Managed       bool   `json:"managed,omitempty"`
	Health        string `json:"health,omitempty"`
	HealthMessage string `json:"healthMessage,omitempty"`
	// Action is the last sync's or plan's action on a managed object.
	Action v1.Action `json:"action,omitempty"`
	// Info is a short status: a Pod's phase and restarts, a ReplicaSet's
	// ready replicas.
	Info string `json:"info,omitempty"`
}

// Tree is the answer to GET .../tree.
type Tree struct {
	Nodes []TreeNode `json:"nodes"`
	// Truncated says the tree had more than MaxTreeNodes nodes.
	Truncated bool `json:"truncated,omitempty"`
	// Omitted is how many of the Application's objects its status does not
	// list, and so the tree does not show (v1.MaxResources).
	Omitted int32 `json:"omitted,omitempty"`
}

// MaxTreeNodes bounds a tree: an Application with more objects is shown in
// part, and says so.
const MaxTreeNodes = 20000

// maxTreeDepth bounds how far down ownership is followed (CronJob → Job →
// Pod is two levels below the Application's own object).
const maxTreeDepth = 3

func nodeID(group, kind, namespace, name string) string {
	return group + "/" + kind + "/" + namespace + "/" + name
}

// tree builds an Application's resource tree: its objects as the status
// lists them, with their health, and below each, from watches, what it owns.
func (s *Server) tree(ctx context.Context, app *v1.Application) (Tree, error) {
	t := Tree{Nodes: []TreeNode{}, Omitted: app.Status.ResourcesOmitted}
	for _, r := range app.Status.Resources {
		if r.Action == v1.ActionPrune {
			continue
		}
		n := TreeNode{ID: nodeID(r.Group, r.Kind, r.Namespace, r.Name), Group: r.Group, Version: r.Version, Kind: r.Kind,
			Namespace: r.Namespace, Name: r.Name, Managed: true, Health: r.Health, HealthMessage: r.HealthMessage, Action: r.Action}
		t.Nodes = append(t.Nodes, n)
	}
	if s.d.Cluster == nil {
		return t, nil
	}
	depths := make([]int, len(t.Nodes), MaxTreeNodes)
	for i := 0; i < len(t.Nodes) && !t.Truncated; i++ {
		parent := t.Nodes[i]
		if depths[i] >= maxTreeDepth || parent.Namespace == "" || !owns(parent.Group, parent.Kind) {
			continue
		}
		kids, err := s.d.Cluster.Of(ctx, parent.Group, parent.Kind, parent.Namespace, parent.Name)
		if err != nil {
			return t, err
		}
		sort.Slice(kids, func(a, b int) bool { return kids[a].GetName() < kids[b].GetName() })
		for _, k := range kids {
			if len(t.Nodes) >= MaxTreeNodes {
				t.Truncated = true
				break
			}
			gvk := k.GroupVersionKind()
			h := health.Of(k)
			n := TreeNode{ID: nodeID(gvk.Group, gvk.Kind, k.GetNamespace(), k.GetName()), Parent: parent.ID, Group: gvk.Group, Version: gvk.Version,
				Kind: gvk.Kind, Namespace: k.GetNamespace(), Name: k.GetName(), Health: string(h.Status), Info: info(k)}
			if h.Status != health.Healthy {
				n.HealthMessage = h.Message
			}
			t.Nodes = append(t.Nodes, n)
			depths = append(depths, depths[i]+1)
		}
	}
	return t, nil
}

// isChildKind reports whether the tree shows objects of key's kind under
// their owners (kube.ChildKinds).
func isChildKind(key object.Key) bool {
	switch key.Group + "/" + key.Kind {
	case "apps/ReplicaSet", "/Pod", "batch/Job":
		return true
	}
	return false
}

// owns reports whether objects of a kind own the children Lockstep watches.
func owns(group, kind string) bool {
	switch group + "/" + kind {
	case "apps/Deployment", "apps/ReplicaSet", "apps/StatefulSet", "apps/DaemonSet", "batch/Job", "batch/CronJob":
		return true
	}
	return false
}

// info is a child's one-line status.
func info(o *unstructured.Unstructured) string {
	switch o.GetKind() {
	case "Pod":
		phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
		restarts := int64(0)
		statuses, _, _ := unstructured.NestedSlice(o.Object, "status", "containerStatuses")
		for _, cs := range statuses {
			if m, ok := cs.(map[string]any); ok {
				if n, ok := m["restartCount"].(int64); ok {
					restarts += n
				}
			}
		}
		if restarts > 0 {
			return phase + ", " + itoa(restarts) + " restarts"
		}
		return phase
	case "ReplicaSet":
		ready, _, _ := unstructured.NestedInt64(o.Object, "status", "readyReplicas")
		want, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
		return itoa(ready) + "/" + itoa(want) + " ready"
	case "Job":
		ok, _, _ := unstructured.NestedInt64(o.Object, "status", "succeeded")
		failed, _, _ := unstructured.NestedInt64(o.Object, "status", "failed")
		return itoa(ok) + " succeeded, " + itoa(failed) + " failed"
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) getTree(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.tree(r.Context(), c.app)
	if errors.Is(err, context.DeadlineExceeded) {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("the cluster's Pods and ReplicaSets could not be read in time; try again")}
	}
	if err != nil {
		return err
	}
	// Health messages are free text from the objects' conditions, as Events
	// are: a Secret's value quoted there is hidden.
	if s.d.Cluster != nil {
		secrets, err := s.secretsOf(r.Context(), c.app)
		if err != nil {
			return err
		}
		scrub := secrets.scrubber()
		for i := range t.Nodes {
			t.Nodes[i].HealthMessage, t.Nodes[i].Info = scrub.Scrub(t.Nodes[i].HealthMessage), scrub.Scrub(t.Nodes[i].Info)
		}
	}
	return writeJSON(w, t)
}

// inTree finds an object in an Application's tree: only those may be read
// through the API, whatever else the controller may read.
func (s *Server) inTree(ctx context.Context, app *v1.Application, key object.Key) (*TreeNode, error) {
	t, err := s.tree(ctx, app)
	if err != nil {
		return nil, err
	}
	id := nodeID(key.Group, key.Kind, key.Namespace, key.Name)
	for i := range t.Nodes {
		if t.Nodes[i].ID == id {
			return &t.Nodes[i], nil
		}
	}
	if app.Status.ResourcesOmitted > 0 && s.d.Cluster != nil {
		if n, err := s.unlisted(ctx, app, key); n != nil || err != nil {
			return n, err
		}
	}
	return nil, notFound("%s is not in %s/%s's resource tree", key, app.Namespace, app.Name)
}

// unlisted finds an object of a large Application's tree that its status
// does not list (v1.MaxResources): one it manages (status.managed), or one
// owned by such an object, following controller owner references up as
// far as the tree goes down. nil when it is neither.
func (s *Server) unlisted(ctx context.Context, app *v1.Application, key object.Key) (*TreeNode, error) {
	node := func(o *unstructured.Unstructured, parent string, managed bool) *TreeNode {
		gvk, h := o.GroupVersionKind(), health.Of(o)
		n := &TreeNode{ID: nodeID(gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName()), Parent: parent, Group: gvk.Group, Version: gvk.Version,
			Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName(), Managed: managed, Health: string(h.Status), Info: info(o)}
		if h.Status != health.Healthy {
			n.HealthMessage = h.Message
		}
		return n
	}
	var first *TreeNode
	for depth := 0; depth <= maxTreeDepth; depth++ {
		if depth > 0 && !owns(key.Group, key.Kind) || first == nil && !app.Status.Manages(key.Group, key.Kind, key.Namespace, key.Name) && !isChildKind(key) {
			return nil, nil // what tree would not show under an owner either
		}
		o, err := s.d.Cluster.Get(ctx, kubectlKind(key.Group, key.Kind), key.Namespace, key.Name)
		if errors.As(err, new(*NotFoundError)) || err != nil && depth > 0 {
			return nil, nil // an owner not there, or not readable: not in the tree, whatever the reason
		}
		if err != nil {
			return nil, err
		}
		if app.Status.Manages(key.Group, key.Kind, key.Namespace, key.Name) {
			if first == nil {
				return node(o, "", true), nil
			}
			return first, nil
		}
		owner := metav1.GetControllerOf(o)
		if owner == nil || depth == maxTreeDepth {
			return nil, nil
		}
		gv, _ := schema.ParseGroupVersion(owner.APIVersion)
		key = object.Key{Group: gv.Group, Kind: owner.Kind, Namespace: o.GetNamespace(), Name: owner.Name}
		if first == nil {
			first = node(o, nodeID(key.Group, key.Kind, key.Namespace, key.Name), false)
		}
	}
	return nil, nil
}
