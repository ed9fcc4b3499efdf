package crd

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/discovery"
)

// ErrOlder is wrapped when the cluster serves an older schema than this
// release's (or none).
var ErrOlder = errors.New("older CustomResourceDefinition")

// CheckServed fails when a CRD the cluster serves lacks a field of this
// release's: the API server would drop that field from every write, and
// what the controller keeps in it (which objects an Application manages,
// for pruning) would be lost. It reads the API server's OpenAPI documents,
// which every authenticated user may read.
func CheckServed(disco discovery.DiscoveryInterface) error {
	crds, err := All()
	if err != nil {
		return err
	}
	paths, err := disco.OpenAPIV3().Paths()
	if err != nil {
		return fmt.Errorf("reading the API server's OpenAPI documents: %w", err)
	}
	for _, c := range crds {
		for _, v := range c.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			gv, ok := paths["apis/"+c.Spec.Group+"/"+v.Name]
			if !ok {
				return fmt.Errorf("%w: the cluster does not serve %s/%s: install this release's CRDs (lockstep install, or --install-crds)", ErrOlder, c.Spec.Group, v.Name)
			}
			doc, err := gv.Schema("application/json")
			if err != nil {
				return fmt.Errorf("reading the OpenAPI document of %s/%s: %w", c.Spec.Group, v.Name, err)
			}
			var openapi struct {
				Components struct {
					Schemas map[string]schema `json:"schemas"`
				} `json:"components"`
			}
			if err := json.Unmarshal(doc, &openapi); err != nil {
				return fmt.Errorf("reading the OpenAPI document of %s/%s: %w", c.Spec.Group, v.Name, err)
			}
			name := reverseDomain(c.Spec.Group) + "." + v.Name + "." + c.Spec.Names.Kind
			served, ok := openapi.Components.Schemas[name]
			if !ok {
				return fmt.Errorf("%w: the cluster's OpenAPI document of %s/%s has no %s: install this release's CRDs (lockstep install, or --install-crds)", ErrOlder, c.Spec.Group, v.Name, c.Spec.Names.Kind)
			}
			if missing := missingFields(*v.Schema.OpenAPIV3Schema, served, ""); len(missing) > 0 {
				if len(missing) > 5 {
					missing = append(missing[:5], "…")
				}
				return fmt.Errorf("%w: %s in the cluster is older than this controller: it lacks %s; install this release's CRDs (lockstep install, or --install-crds), or the API server drops those fields from every write",
					ErrOlder, c.Name, strings.Join(missing, ", "))
			}
		}
	}
	return nil
}

// schema is the part of an OpenAPI schema CheckServed compares.
type schema struct {
	Properties map[string]schema `json:"properties"`
	Items      *schema           `json:"items"`
	AllOf      []schema          `json:"allOf"`
}

// missingFields lists the property paths of want that got lacks.
func missingFields(want apiextensionsv1.JSONSchemaProps, got schema, path string) []string {
	if len(got.AllOf) == 1 && len(got.Properties) == 0 { // a reference wrapped in allOf
		got = got.AllOf[0]
	}
	var missing []string
	for name, w := range want.Properties {
		g, ok := got.Properties[name]
		if !ok {
			missing = append(missing, path+name)
			continue
		}
		missing = append(missing, missingFields(w, g, path+name+".")...)
	}
	if want.Items != nil && want.Items.Schema != nil && got.Items != nil {
		missing = append(missing, missingFields(*want.Items.Schema, *got.Items, path+"[].")...)
	}
	slices.Sort(missing)
	return missing
}

// reverseDomain turns lockstep.dev into dev.lockstep, as OpenAPI names CRDs.
func reverseDomain(group string) string {
	parts := strings.Split(group, ".")
	slices.Reverse(parts)
	return strings.Join(parts, ".")
}
