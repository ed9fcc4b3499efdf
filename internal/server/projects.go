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
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// ProjectList is the answer to GET /api/v1/projects.
type ProjectList struct {
	Items []v1.Project `json:"items"`
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
	out := ProjectList{Items: []v1.Project{}}
	for i := range list.Items {
		p := list.Items[i].DeepCopy()
		if c.may(rbac.Projects, rbac.Get, p.Name) {
			p.ManagedFields = nil
			out.Items = append(out.Items, *p)
		}
	}
	slices.SortFunc(out.Items, func(a, b v1.Project) int { return strings.Compare(a.Name, b.Name) })
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
	p.ManagedFields = nil
	return writeJSON(w, p)
}
