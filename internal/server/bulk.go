package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// MaxBulk bounds how many Applications one bulk action acts on.
const MaxBulk = 1000

// BulkResult is the answer to a bulk action: one line per Application the
// filter selected, and whether the action was requested for it.
type BulkResult struct {
	Action  string         `json:"action"`
	Actor   string         `json:"actor"`
	Results []BulkItem     `json:"results"`
	Counts  map[string]int `json:"counts"`
}

// BulkItem is one Application's part in a bulk action.
type BulkItem struct {
	Application string `json:"application"`
	// Outcome is requested, forbidden (the caller may see it but not act on
	// it), or failed.
	Outcome  string `json:"outcome"`
	Revision string `json:"revision,omitempty"`
	Error    string `json:"error,omitempty"`
}

// bulk acts on every Application the query's filter selects and the caller
// may see: a sync is pinned, for each, to the newest commit it shows now.
func (s *Server) bulk(action string, rbacAction rbac.Action) func(http.ResponseWriter, *http.Request, *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		f, err := ParseAppFilter(r.URL.Query())
		if err != nil {
			return badRequest(err)
		}
		if f == (AppFilter{}) && r.URL.Query().Get("all") != "true" {
			return badRequest(errors.New("give a filter (project=, namespace=, labels=, ...), or all=true to act on every Application you may"))
		}
		if s.d.Apps == nil || s.d.Writer == nil {
			return errNoApps
		}
		var list v1.ApplicationList
		if err := s.d.Apps.List(r.Context(), &list); err != nil {
			return err
		}
		slices.SortFunc(list.Items, func(a, b v1.Application) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		// Select first, act after: a request over the limit changes nothing.
		var selected []*v1.Application
		for i := range list.Items {
			a := &list.Items[i]
			if c.may(rbac.Applications, rbac.Get, AppObject(a)) && f.Matches(a, Summarize(a)) {
				selected = append(selected, a)
			}
		}
		if len(selected) > MaxBulk {
			return badRequest(fmt.Errorf("the filter selects %d Applications, more than %d: narrow it", len(selected), MaxBulk))
		}
		out := BulkResult{Action: action, Actor: c.principal.Actor(), Results: []BulkItem{}, Counts: map[string]int{}}
		now := s.d.Clock()
		for _, a := range selected {
			item := BulkItem{Application: a.Namespace + "/" + a.Name, Outcome: "requested"}
			if !c.may(rbac.Applications, rbacAction, AppObject(a)) {
				item.Outcome = "forbidden"
			} else if err := s.requestAction(r, c, a, action, now, &item); err != nil {
				item.Outcome, item.Error = "failed", s.shownCause(r, err, "the API server could not be reached")
			}
			out.Results = append(out.Results, item)
			out.Counts[item.Outcome]++
		}
		s.d.Log.Info("API bulk action", "action", action, "actor", out.Actor, "requested", out.Counts["requested"], "forbidden", out.Counts["forbidden"], "failed", out.Counts["failed"])
		return writeJSONStatus(w, http.StatusAccepted, out)
	}
}

// requestAction patches one Application as the single-Application action
// does; a sync is pinned to the newest commit it shows now.
func (s *Server) requestAction(r *http.Request, c *call, a *v1.Application, action string, now time.Time, item *BulkItem) error {
	who := actorName(c)
	if action != "sync" {
		patch, _ := v1.ManualActionPatch(action, who, now)
		return s.patch(r, a, patch)
	}
	if a.Status.Sync.Revision == "" {
		return conflict("its ref is not resolved yet")
	}
	item.Revision = a.Status.Sync.Revision
	request := v1.SyncRequestValue(who, now, a.Status.Sync.Revision, a.Generation)
	return s.patch(r, a, map[string]any{"metadata": map[string]any{"annotations": map[string]any{v1.AnnotationSyncRequestedBy: request}}})
}
