package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// Query parameters of GET /api/v1/releases.
const (
	paramApplication = "application"
	paramProject     = "project"
	paramNamespace   = "namespace"
	paramHistory     = "history"
)

// MaxHistory is the most earlier releases GET /api/v1/releases gives per
// Application.
const MaxHistory = 100

// AppReleases is one Application's releases, from the ledger: what it runs
// now and since when, and what it ran before.
type AppReleases struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Project   string `json:"project"`
	// From is the Application (same namespace) this one is promoted from:
	// its spec.promotion.from.
	From string `json:"from,omitempty"`
	// Current is nil when the ledger holds no successful sync of it.
	Current *audit.Release `json:"current,omitempty"`
	// Previous are the releases before it, newest first, as many as asked.
	Previous []audit.Release `json:"previous,omitempty"`
}

// ReleaseList is the answer to GET /api/v1/releases: the Applications in
// promotion order (PromotionOrder).
type ReleaseList struct {
	Items []AppReleases `json:"items"`
}

// ReleaseQuery selects the Applications of GET /api/v1/releases; its zero
// value selects every one the caller may read the ledger of.
type ReleaseQuery struct {
	// Applications are "namespace/name"s; none selects all.
	Applications []string
	Project      string
	Namespace    string
	// History is how many earlier releases to give each (at most MaxHistory).
	History int
}

// ParseReleaseQuery reads a ReleaseQuery; errors say which parameter.
func ParseReleaseQuery(q url.Values) (ReleaseQuery, error) {
	var rq ReleaseQuery
	if err := checkParams(q, paramApplication); err != nil {
		return rq, err
	}
	for k, vs := range q {
		switch k {
		case paramApplication:
			for _, v := range vs {
				if ns, name, ok := strings.Cut(v, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
					return rq, fmt.Errorf("application=%q: want namespace/name", v)
				}
				rq.Applications = append(rq.Applications, v)
			}
		case paramProject:
			rq.Project = vs[0]
		case paramNamespace:
			rq.Namespace = vs[0]
		case paramHistory:
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 0 || n > MaxHistory {
				return rq, fmt.Errorf("history=%q: want a number from 0 to %d", vs[0], MaxHistory)
			}
			rq.History = n
		default:
			return rq, fmt.Errorf("unknown parameter %q", k)
		}
	}
	return rq, nil
}

func (q ReleaseQuery) values() url.Values {
	v := url.Values{}
	for _, a := range q.Applications {
		v.Add(paramApplication, a)
	}
	if q.Project != "" {
		v.Set(paramProject, q.Project)
	}
	if q.Namespace != "" {
		v.Set(paramNamespace, q.Namespace)
	}
	if q.History > 0 {
		v.Set(paramHistory, strconv.Itoa(q.History))
	}
	return v
}

// releases answers each selected Application's releases. An Application
// counts as there for the caller when they may read its ledger, as records
// do; one named that they may not is not found.
func (s *Server) releases(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.d.Ledger == nil {
		return errNoLedger
	}
	if s.d.Apps == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server reads no Applications")}
	}
	q, err := ParseReleaseQuery(r.URL.Query())
	if err != nil {
		return badRequest(err)
	}
	var list v1.ApplicationList
	// Read only: the cache's own objects.
	if err := s.d.Apps.List(r.Context(), &list, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	found := map[string]bool{}
	var apps []*v1.Application
	for i := range list.Items {
		a := &list.Items[i]
		key := a.Namespace + "/" + a.Name
		if (len(q.Applications) > 0 && !slices.Contains(q.Applications, key)) || !c.may(rbac.Ledger, rbac.Get, AppObject(a)) ||
			(q.Project != "" && ProjectOf(a) != q.Project) || (q.Namespace != "" && a.Namespace != q.Namespace) {
			continue
		}
		found[key] = true
		apps = append(apps, a)
	}
	for _, a := range q.Applications {
		if !found[a] {
			return notFound("no Application %s (or you may not read its ledger, or it is not in the Project or namespace asked)", a)
		}
	}
	out := ReleaseList{Items: []AppReleases{}}
	for _, a := range PromotionOrder(apps) {
		rels, err := ReleasesOf(r.Context(), s.d.Ledger, a.Namespace+"/"+a.Name, q.History)
		if err != nil {
			return err
		}
		item := AppReleases{Namespace: a.Namespace, Name: a.Name, Project: ProjectOf(a)}
		if p := a.Spec.Promotion; p != nil {
			item.From = p.From
		}
		if len(rels) > 0 {
			item.Current, item.Previous = &rels[0], rels[1:]
		}
		out.Items = append(out.Items, item)
	}
	return writeJSON(w, out)
}

// maxReleaseScan bounds the Sync records ReleasesOf reads for one
// Application: one that reverts drift all day piles up records of one
// release, and a read must not walk them all. Past it, the oldest release
// shown begins no later than the last record read.
const maxReleaseScan = 20000

// ReleasesOf reads an Application's ("namespace/name") current release and
// at most history before it from the ledger: its Sync records, newest
// first, page after page until the oldest release asked for is known to
// have begun (audit.Releases), the ledger holds no older record, or
// maxReleaseScan records were read.
func ReleasesOf(ctx context.Context, ledger API, app string, history int) ([]audit.Release, error) {
	f := audit.Filter{Application: app, Events: []audit.Event{audit.EventSync}, Limit: 64}
	var kept []audit.Record
	for scanned := 0; ; {
		page, err := ledger.Records(ctx, f)
		if err != nil {
			return nil, err
		}
		scanned += len(page)
		for _, rec := range page {
			// Only successful syncs make releases; their changes are not needed.
			if rec.Result == audit.Succeeded {
				rec.Changes = nil
				kept = append(kept, rec)
			}
		}
		rels, complete := audit.Releases(kept, history)
		if complete || len(page) < f.EffectiveLimit() || scanned >= maxReleaseScan {
			return rels, nil
		}
		f.Before = page[len(page)-1].Seq
		f.Limit = min(f.Limit*4, audit.MaxLimit)
	}
}

// PromotionOrder orders Applications as their promotions run: each right
// after the one its spec.promotion.from names (dev, stage, prod), each chain
// together. Chains come first, by the namespace/name of their first
// Application (one whose source is not among apps starts a chain), then the
// members of promotion cycles (a misconfiguration), then the Applications in
// no chain, all by namespace/name.
func PromotionOrder(apps []*v1.Application) []*v1.Application {
	key := func(a *v1.Application) string { return a.Namespace + "/" + a.Name }
	from := func(a *v1.Application) string {
		if a.Spec.Promotion == nil || a.Spec.Promotion.From == "" {
			return ""
		}
		return a.Namespace + "/" + a.Spec.Promotion.From
	}
	sorted := slices.Clone(apps)
	slices.SortFunc(sorted, func(a, b *v1.Application) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	present := map[string]bool{}
	for _, a := range sorted {
		present[key(a)] = true
	}
	next := map[string][]*v1.Application{} // by the key of the Application promoted from
	for _, a := range sorted {
		if src := from(a); present[src] && src != key(a) {
			next[src] = append(next[src], a)
		}
	}
	out := make([]*v1.Application, 0, len(sorted))
	seen := map[string]bool{}
	var walk func(a *v1.Application)
	walk = func(a *v1.Application) {
		if seen[key(a)] {
			return
		}
		seen[key(a)] = true
		out = append(out, a)
		for _, n := range next[key(a)] {
			walk(n)
		}
	}
	var alone []*v1.Application
	for _, a := range sorted {
		src := from(a)
		switch {
		case src == "" && len(next[key(a)]) == 0:
			alone = append(alone, a)
			seen[key(a)] = true
		case src == "" || !present[src] || src == key(a):
			walk(a)
		}
	}
	for _, a := range sorted {
		walk(a) // what is left is in a cycle
	}
	return append(out, alone...)
}
