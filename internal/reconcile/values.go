package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
)

// helmValues gathers the Helm values that do not live in the chart folder: each
// valuesFrom ConfigMap or Secret of the destination namespace, in order, then the
// inline values. They are read as the Application's identity (as), so its
// service account must be allowed to get them: the controller does not read a
// namespace's Secrets on a team's behalf. Errors name the object and key; a
// value is never quoted.
func (r *Reconciler) helmValues(ctx context.Context, app *v1.Application, as *apply.Applier) ([]map[string]any, error) {
	h := app.Spec.Source.Helm
	if h == nil {
		return nil, nil
	}
	var out []map[string]any
	ns := app.Spec.Destination.Namespace
	for _, ref := range h.ValuesFrom {
		key := ref.Key
		if key == "" {
			key = "values.yaml"
		}
		what := fmt.Sprintf("%s %s/%s key %q", ref.Kind, ns, ref.Name, key)
		var data []byte
		var found bool
		switch ref.Kind {
		case "ConfigMap", "Secret":
			var err error
			data, found, err = readValues(ctx, as, ref.Kind, ns, ref.Name, key)
			if err != nil && !(apierrors.IsNotFound(err) && ref.Optional) {
				return nil, fmt.Errorf("helm.valuesFrom: reading %s: %w", what, err)
			}
		default:
			return nil, fmt.Errorf("helm.valuesFrom: kind %q is neither ConfigMap nor Secret", ref.Kind)
		}
		if !found {
			if ref.Optional {
				continue
			}
			return nil, fmt.Errorf("helm.valuesFrom: %s not found (set optional: true if it may be missing)", what)
		}
		values := map[string]any{}
		if err := yaml.Unmarshal(data, &values); err != nil {
			return nil, fmt.Errorf("helm.valuesFrom: %s is not a YAML map of values", what)
		}
		out = append(out, values)
	}
	if h.Values != nil && len(h.Values.Raw) > 0 {
		values := map[string]any{}
		if err := json.Unmarshal(h.Values.Raw, &values); err != nil {
			return nil, fmt.Errorf("helm.values: not a map of values: %w", err)
		}
		out = append(out, values)
	}
	return out, nil
}

// readValues returns one key of a ConfigMap or Secret, read as the identity.
func readValues(ctx context.Context, as *apply.Applier, kind, namespace, name, key string) (data []byte, found bool, err error) {
	u, err := as.Read(ctx, corev1.SchemeGroupVersion.WithKind(kind), namespace, name)
	if err != nil {
		return nil, false, err
	}
	if kind == "ConfigMap" {
		cm := &corev1.ConfigMap{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cm); err != nil {
			return nil, false, err
		}
		s, ok := cm.Data[key]
		return []byte(s), ok, nil
	}
	secret := &corev1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, secret); err != nil {
		// Never the converter's message: it could quote a value.
		return nil, false, fmt.Errorf("the Secret %s/%s is malformed", namespace, name)
	}
	data, ok := secret.Data[key]
	return data, ok, nil
}
