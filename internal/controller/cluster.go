package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// apiFieldManager names the API's own writes (a restart) in managedFields,
// apart from the controller's applies: drift detection leaves them alone.
const apiFieldManager = "lockstep-api"

// cluster is server.Cluster over the controller's clients: children from
// watches, objects and Events read as the controller; logs read and
// restarts made as the Application's identity.
type cluster struct {
	*kube.Children
	*server.KubeLive
	clients  *kube.Clients
	pipeline *reconcile.Pipeline
}

var _ server.Cluster = (*cluster)(nil)

func newCluster(clients *kube.Clients, children *kube.Children, pipeline *reconcile.Pipeline) *cluster {
	return &cluster{Children: children, KubeLive: server.NewKubeLive(clients), clients: clients, pipeline: pipeline}
}

// as returns the clients of the identity app acts as: what a person does to
// an Application's objects through the API, it does with the Application's
// rights, not the controller's.
func (c *cluster) as(ctx context.Context, app *v1.Application) (*kube.Clients, error) {
	identity, err := c.pipeline.Identity(ctx, app)
	if err != nil {
		return nil, err
	}
	if identity == "" {
		return c.clients, nil
	}
	return c.clients.As(identity)
}

// Events implements server.Cluster: one list, filtered by the API server.
func (c *cluster) Events(ctx context.Context, namespace, kind, name string) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}
	if namespace != "" {
		sel["involvedObject.namespace"] = namespace
	}
	list, err := c.clients.Typed.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String(), Limit: 500})
	if err != nil {
		return nil, fmt.Errorf("listing the Events of %s %s/%s: %w", kind, namespace, name, err)
	}
	return list.Items, nil
}

// Logs implements server.Cluster.
func (c *cluster) Logs(ctx context.Context, app *v1.Application, namespace, pod string, opts corev1.PodLogOptions) (io.ReadCloser, error) {
	clients, err := c.as(ctx, app)
	if err != nil {
		return nil, err
	}
	return clients.Typed.CoreV1().Pods(namespace).GetLogs(pod, &opts).Stream(ctx)
}

// workloads are the kinds a restart applies to.
var workloads = map[string]schema.GroupVersionResource{
	"apps/Deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"apps/StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"apps/DaemonSet":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
}

// Restart implements server.Cluster as kubectl rollout restart does: a merge
// patch of the pod template's restartedAt annotation.
func (c *cluster) Restart(ctx context.Context, app *v1.Application, group, kind, namespace, name string, at time.Time) error {
	gvr, ok := workloads[group+"/"+kind]
	if !ok {
		return fmt.Errorf("%s/%s cannot be restarted", group, kind)
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": at.UTC().Format(time.RFC3339)}}}}})
	if err != nil {
		return err
	}
	clients, err := c.as(ctx, app)
	if err != nil {
		return err
	}
	_, err = clients.Dynamic.Resource(gvr).Namespace(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: apiFieldManager})
	return err
}
