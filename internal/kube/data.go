package kube

import (
	"context"
	"fmt"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReadData returns every entry of a Secret or ConfigMap (kind "" is Secret),
// read through r: the one way Lockstep reads credentials, keys and values out of
// the cluster. A ConfigMap's binaryData is merged with its data. Errors name the
// object and wrap the API error (apierrors.IsNotFound holds for a missing one);
// they never quote a value.
func ReadData(ctx context.Context, r client.Reader, kind, namespace, name string) (map[string][]byte, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	switch kind {
	case "", "Secret":
		s := &corev1.Secret{}
		if err := r.Get(ctx, key, s); err != nil {
			return nil, readError("Secret", key, err)
		}
		return s.Data, nil
	case "ConfigMap":
		cm := &corev1.ConfigMap{}
		if err := r.Get(ctx, key, cm); err != nil {
			return nil, readError("ConfigMap", key, err)
		}
		out := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
		for k, v := range cm.Data {
			out[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			out[k] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("kind %q is neither Secret nor ConfigMap", kind)
}

func readError(kind string, key types.NamespacedName, err error) error {
	if apierrors.IsNotFound(err) {
		return &notFound{msg: fmt.Sprintf("%s %s does not exist", kind, key), err: err}
	}
	return fmt.Errorf("reading %s %s: %w", kind, key, err)
}

// notFound says which object is missing, once, and still unwraps to the API
// error (apierrors.IsNotFound).
type notFound struct {
	msg string
	err error
}

func (e *notFound) Error() string { return e.msg }
func (e *notFound) Unwrap() error { return e.err }

// ReadMarkedSecret reads a Secret's data like ReadData, and only when the
// Secret is labelled v1.LabelSecretUse=use: whoever may write an object
// that names a Secret the controller reads for it must not be able to point
// it at any Secret of the namespace.
func ReadMarkedSecret(ctx context.Context, r client.Reader, namespace, name, use string) (map[string][]byte, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	s := &corev1.Secret{}
	if err := r.Get(ctx, key, s); err != nil {
		return nil, readError("Secret", key, err)
	}
	if s.Labels[v1.LabelSecretUse] != use {
		return nil, fmt.Errorf("the Secret %s is not labelled %s=%s, so it may not be used here: kubectl label secret -n %s %s %s=%s", key, v1.LabelSecretUse, use, namespace, name, v1.LabelSecretUse, use)
	}
	return s.Data, nil
}
