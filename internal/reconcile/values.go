package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// helmValues gathers the Helm values that do not live in the chart folder: each
// valuesFrom ConfigMap or Secret of the destination namespace, in order, then the
// inline values. Errors name the object and key; a value is never quoted.
func (r *Reconciler) helmValues(ctx context.Context, app *v1.Application) ([]map[string]any, error) {
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
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, cm)
			if err != nil && !(apierrors.IsNotFound(err) && ref.Optional) {
				return nil, fmt.Errorf("helm.valuesFrom: reading %s: %w", what, err)
			}
			var s string
			s, found = cm.Data[key]
			data = []byte(s)
		case "Secret":
			s := &corev1.Secret{}
			err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s)
			if err != nil && !(apierrors.IsNotFound(err) && ref.Optional) {
				return nil, fmt.Errorf("helm.valuesFrom: reading %s: %w", what, err)
			}
			data, found = s.Data[key]
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
