package migrate

import (
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Objects returns the Projects, then the Applications, as they would be
// applied: no status and no server-set metadata.
func (r *Result) Objects() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	add := func(obj runtime.Object) error {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		delete(m, "status")
		if meta, ok := m["metadata"].(map[string]any); ok {
			delete(meta, "creationTimestamp")
		}
		out = append(out, &unstructured.Unstructured{Object: m})
		return nil
	}
	for _, p := range r.Projects {
		if err := add(p); err != nil {
			return nil, err
		}
	}
	for _, a := range r.Applications {
		if err := add(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteYAML writes the translated objects as one YAML stream, each after a
// comment naming the source object it came from.
func (r *Result) WriteYAML(w io.Writer) error {
	objs, err := r.Objects()
	if err != nil {
		return err
	}
	from := map[string]string{}
	for _, it := range r.Report.Items {
		for _, p := range it.Produced {
			from[p] = fmt.Sprintf("%s %s (%s)", describe(it.Source), it.Source, it.Source.Location())
		}
	}
	for _, o := range objs {
		id := o.GetKind() + "/" + o.GetName()
		if ns := o.GetNamespace(); ns != "" {
			id = o.GetKind() + "/" + ns + "/" + o.GetName()
		}
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n# from %s\n%s", from[id], data); err != nil {
			return err
		}
	}
	return nil
}
