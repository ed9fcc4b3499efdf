package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/lockstep-dev/lockstep/internal/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// KubeLive reads live objects from an API server, naming kinds as kubectl does.
type KubeLive struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

// NewKubeLive reads through clients.
func NewKubeLive(clients *kube.Clients) *KubeLive {
	return &KubeLive{dyn: clients.Dynamic, mapper: clients.Shortcuts}
}

// Get implements LiveReader. The object is read from the API server, not a
// cache: blame needs its whole managedFields.
func (k *KubeLive) Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	mapping, err := k.resolve(kind)
	if err != nil {
		return nil, err
	}
	ri := k.dyn.Resource(mapping.Resource)
	var obj *unstructured.Unstructured
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if namespace == "" {
			return nil, badRequest(fmt.Errorf("%s is namespaced: give its namespace (-n)", mapping.GroupVersionKind.Kind))
		}
		obj, err = ri.Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	} else {
		obj, err = ri.Get(ctx, name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		where := ""
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			where = " in namespace " + namespace
		}
		return nil, &NotFoundError{fmt.Sprintf("%s %q not found%s", mapping.GroupVersionKind.Kind, name, where)}
	}
	return obj, err
}

// resolve maps a kind as a user types it (Deployment, deployments.apps,
// deploy) to the resource to read.
func (k *KubeLive) resolve(kind string) (*meta.RESTMapping, error) {
	if kind == "" || len(kind) > 253 || strings.ContainsAny(kind, "/ ") {
		return nil, badRequest(fmt.Errorf("%q is not a kind (try deployment, configmap or deployments.apps)", kind))
	}
	gr := schema.ParseGroupResource(strings.ToLower(kind))
	gvr, err := k.mapper.ResourceFor(gr.WithVersion(""))
	if err != nil {
		return nil, badRequest(fmt.Errorf("the cluster serves no kind %q", kind))
	}
	gvk, err := k.mapper.KindFor(gvr)
	if err != nil {
		return nil, err
	}
	return k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// NotFoundError says the object to blame does not exist.
type NotFoundError struct{ msg string }

func (e *NotFoundError) Error() string { return e.msg }
