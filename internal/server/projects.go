package server

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// ProjectList is the answer to GET /api/v1/projects.
type ProjectList struct {
	Items []ProjectDetail `json:"items"`
	// BuiltInDefault is what applies to the Applications of Project
	// "default" (and to those that name none) while no Project of that name
	// exists: the built-in default, or a denial when the controller requires
	// Projects. Absent when the Project exists or the caller may not read it.
	BuiltInDefault *BuiltInProject `json:"builtInDefault,omitempty"`
}

// ProjectDetail is a Project as the API answers it: the object, its rules in
// words (policy.Describe) and its Applications counted.
type ProjectDetail struct {
	v1.Project
	// Rules say in words what the Project allows, one sentence per rule.
	Rules []string `json:"rules"`
	// Applications counts those of its Applications the caller may read.
	Applications AppCounts `json:"applications"`
}

// BuiltInProject is the built-in default Project: a name, rules in words and
// Applications, and no object.
type BuiltInProject struct {
	Name         string    `json:"name"`
	Rules        []string  `json:"rules"`
	Applications AppCounts `json:"applications"`
}

// AppCounts counts Applications by sync and by health state (as their
// AppSummary says them).
type AppCounts struct {
	Total  int                  `json:"total"`
	Sync   map[v1.SyncState]int `json:"sync,omitempty"`
	Health map[string]int       `json:"health,omitempty"`
}

func (n *AppCounts) add(s AppSummary) {
	if n.Sync == nil {
		n.Sync, n.Health = map[v1.SyncState]int{}, map[string]int{}
	}
	n.Total++
	n.Sync[s.Sync]++
	n.Health[s.Health]++
}

var errNoApps = &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server reads no Applications or Projects")}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Apps == nil {
		return errNoApps
	}
	var list v1.ProjectList
	if err := s.d.Apps.List(r.Context(), &list, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	counts, err := s.countApplications(r, c, "")
	if err != nil {
		return err
	}
	out := ProjectList{Items: []ProjectDetail{}}
	exists := false
	for i := range list.Items {
		exists = exists || list.Items[i].Name == v1.DefaultProject
		if c.may(rbac.Projects, rbac.Get, list.Items[i].Name) {
			out.Items = append(out.Items, detail(&list.Items[i], counts))
		}
	}
	slices.SortFunc(out.Items, func(a, b ProjectDetail) int { return strings.Compare(a.Name, b.Name) })
	if !exists && c.may(rbac.Projects, rbac.Get, v1.DefaultProject) {
		out.BuiltInDefault = &BuiltInProject{Name: v1.DefaultProject, Rules: policy.DescribeBuiltIn(s.d.RequireProjects),
			Applications: counts[v1.DefaultProject]}
	}
	return writeJSON(w, out)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Apps == nil {
		return errNoApps
	}
	p := &v1.Project{}
	if err := s.d.Apps.Get(r.Context(), types.NamespacedName{Name: c.object}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return notFound("no Project %q (or you may not see it)", c.object)
		}
		return err
	}
	counts, err := s.countApplications(r, c, p.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, detail(p, counts))
}

// detail is a Project's answer; p is read only (it may be the cache's).
func detail(p *v1.Project, counts map[string]AppCounts) ProjectDetail {
	d := ProjectDetail{Project: *p.DeepCopy(), Rules: policy.Describe(p), Applications: counts[p.Name]}
	d.ManagedFields = nil
	return d
}

// countApplications counts, by Project, the Applications the caller may read:
// of one Project, or of all when project is "". One pass over the watch
// cache, as the Application list makes.
func (s *Server) countApplications(r *http.Request, c *call, project string) (map[string]AppCounts, error) {
	var apps v1.ApplicationList
	// Read only: the cache's own objects, not copies.
	if err := s.d.Apps.List(r.Context(), &apps, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := map[string]AppCounts{}
	for i := range apps.Items {
		a := &apps.Items[i]
		name := ProjectOf(a)
		if (project != "" && name != project) || !c.may(rbac.Applications, rbac.Get, AppObject(a)) {
			continue
		}
		n := out[name]
		n.add(Summarize(a))
		out[name] = n
	}
	return out, nil
}
