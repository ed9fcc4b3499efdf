// Package rbac embeds the controller's own RBAC (controller.yaml): the small set
// of permissions it needs when every Application acts as a service account.
package rbac

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

//go:embed controller.yaml
var controllerYAML string

// Namespace is where controller.yaml expects the controller to run.
const Namespace = "lockstep-system"

// ServiceAccount is the controller's service account in Namespace.
const ServiceAccount = "lockstep-controller"

// Controller returns the objects of controller.yaml.
func Controller() ([]*unstructured.Unstructured, error) {
	return decode(controllerYAML)
}

func decode(stream string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		o := &unstructured.Unstructured{}
		if err := dec.Decode(&o.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("controller.yaml: %w", err)
		}
		if len(o.Object) > 0 {
			out = append(out, o)
		}
	}
}
