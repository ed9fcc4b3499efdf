// Package policy is the pipeline's gate between render and plan: it checks what
// an Application is about to apply against its Project's rules (repositories,
// destinations, kinds, images, Secrets, approvals) and returns the violations.
// It is pure: rules and objects in, a verdict out; it never reads the cluster.
package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gobwas/glob"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Rules are a Project's rules, compiled.
type Rules struct {
	// Project is the Project's name, for messages.
	Project string
	spec    v1.ProjectSpec
	repos   []glob.Glob
	dests   []destination
	sources []glob.Glob
}

type destination struct {
	cluster, namespace glob.Glob
}

// Compile checks a Project's rules and prepares them. A pattern that does not
// compile is an error naming the field.
func Compile(p *v1.Project) (*Rules, error) {
	r := &Rules{Project: p.Name, spec: p.Spec}
	var errs []error
	for i, pattern := range p.Spec.SourceRepos {
		if pattern == "*" {
			// A lone * is "any repository", as in Argo CD's AppProjects; in
			// any other pattern, * stays within one path segment.
			pattern = "**"
		}
		g, err := glob.Compile(normalizeURL(pattern), '/')
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.sourceRepos[%d] %q: %w", i, pattern, err))
			continue
		}
		r.repos = append(r.repos, g)
	}
	for i, pattern := range p.Spec.SourceNamespaces {
		g, err := glob.Compile(pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.sourceNamespaces[%d] %q: %w", i, pattern, err))
			continue
		}
		r.sources = append(r.sources, g)
	}
	for i, d := range p.Spec.Destinations {
		cluster := d.Cluster
		if cluster == "" {
			cluster = v1.InCluster
		}
		c, err1 := glob.Compile(cluster)
		n, err2 := glob.Compile(d.Namespace)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("spec.destinations[%d]: %w", i, err))
			continue
		}
		r.dests = append(r.dests, destination{cluster: c, namespace: n})
	}
	if p.Spec.Images != nil {
		for i, reg := range p.Spec.Images.Registries {
			if reg == "" || strings.ContainsAny(reg, " @") || strings.HasPrefix(reg, "/") || strings.Contains(reg, "://") {
				errs = append(errs, fmt.Errorf("spec.images.registries[%d] %q: want host[:port][/path]", i, reg))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("project %s: %w", p.Name, err)
	}
	return r, nil
}

// Permissive is the built-in default Project's rules, used when no Project
// named "default" exists: everything is allowed, nothing is required.
func Permissive() *Rules {
	r, err := Compile(&v1.Project{Spec: permissiveSpec()})
	if err != nil {
		panic(err) // constant input
	}
	r.Project = v1.DefaultProject + " (built in)"
	return r
}

// permissiveSpec is the built-in default Project's rules, which
// DescribeBuiltIn says in words.
func permissiveSpec() v1.ProjectSpec {
	return v1.ProjectSpec{
		SourceNamespaces:  []string{"*"},
		SourceRepos:       []string{"**"},
		Destinations:      []v1.ProjectDestination{{Cluster: "*", Namespace: "*"}},
		ClusterResources:  v1.ResourceRules{Allow: []v1.GroupKind{{Group: "*", Kind: "*"}}},
		PodSecurityLabels: true,
	}
}

// Object is a rendered object and where it came from.
type Object struct {
	*unstructured.Unstructured
	// File is the file (or folder, for generated objects) it was rendered from.
	File string
	// Encrypted is true when the file was SOPS-encrypted in Git.
	Encrypted bool
}

// Violation is one broken rule.
type Violation struct {
	// Object is Kind/namespace/name, or "" for a rule about the Application.
	Object string
	// File is where the object came from.
	File string
	// Rule is the Project field that refused it (spec.images.registries).
	Rule string
	// Message says what is wrong.
	Message string
}

func (v Violation) String() string {
	var b strings.Builder
	if v.Object != "" {
		b.WriteString(v.Object)
		if v.File != "" {
			fmt.Fprintf(&b, " (%s)", v.File)
		}
		b.WriteString(": ")
	}
	b.WriteString(v.Message)
	fmt.Fprintf(&b, " [%s]", v.Rule)
	return b.String()
}

// DeniedError lists every violation of one check.
type DeniedError struct {
	Project    string
	Violations []Violation
}

// maxListed bounds the violations a message lists; the count says how many more.
const maxListed = 10

func (e *DeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "denied by project %s: ", e.Project)
	for i, v := range e.Violations {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

func (r *Rules) verdict(vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	return &DeniedError{Project: r.Project, Violations: vs}
}
