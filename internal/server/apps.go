package server

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
)

// Page sizes of lists.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// AppSummary is one row of the Application list: what an operator needs at a
// glance, without the spec and status in full.
type AppSummary struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Project   string            `json:"project"`
	Labels    map[string]string `json:"labels,omitempty"`
	Repo      string            `json:"repo"`
	Path      string            `json:"path,omitempty"`
	// Cluster and DestNamespace are where it deploys.
	Cluster       string `json:"cluster"`
	DestNamespace string `json:"destNamespace"`
	AutoSync      bool   `json:"autoSync"`
	Suspended     bool   `json:"suspended,omitempty"`
	// Sync is Synced, OutOfSync or Unknown; SyncReason why not Synced.
	Sync       v1.SyncState `json:"sync"`
	SyncReason string       `json:"syncReason,omitempty"`
	Health     string       `json:"health"`
	// Ready is the Ready condition's status, Reason and Message its own.
	Ready   string `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// NewestRevision is the newest commit of the followed ref; Applied the
	// one applied, with its author.
	NewestRevision  string     `json:"newestRevision,omitempty"`
	AppliedRevision string     `json:"appliedRevision,omitempty"`
	Author          string     `json:"author,omitempty"`
	LastSyncAt      *time.Time `json:"lastSyncAt,omitempty"`
	// Badges: the Application's last pass was refused by policy or by
	// verification, or reverted drift.
	PolicyDenied       bool `json:"policyDenied,omitempty"`
	VerificationFailed bool `json:"verificationFailed,omitempty"`
	DriftReverted      bool `json:"driftReverted,omitempty"`
}

// Summarize is an Application's row in the list.
func Summarize(a *v1.Application) AppSummary {
	s := AppSummary{Namespace: a.Namespace, Name: a.Name, Project: ProjectOf(a), Labels: a.Labels,
		Repo: a.Spec.Source.Git.URL, Path: a.Spec.Source.Path, Cluster: cmp.Or(a.Spec.Destination.Cluster, v1.InCluster),
		DestNamespace: a.Spec.Destination.Namespace, AutoSync: a.Spec.Sync.IsAutomated(), Suspended: a.Spec.Suspend,
		Sync: cmp.Or(a.Status.Sync.Status, v1.Unknown), SyncReason: a.Status.Sync.Reason, Health: "Unknown", Ready: "Unknown",
		NewestRevision: a.Status.Sync.Revision}
	if a.Status.Health != nil {
		s.Health = a.Status.Health.Status
	}
	if c := meta.FindStatusCondition(a.Status.Conditions, v1.ConditionReady); c != nil {
		s.Ready, s.Reason, s.Message = string(c.Status), c.Reason, c.Message
		s.PolicyDenied = c.Reason == v1.ReasonPolicyDenied
		s.VerificationFailed = c.Reason == v1.ReasonVerificationFailed
	}
	if r := a.Status.LastAppliedRevision; r != nil {
		s.AppliedRevision, s.Author = r.Commit, r.Author
	}
	if len(a.Status.History) > 0 {
		newest := a.Status.History[0]
		t := newest.FinishedAt.Time
		s.LastSyncAt = &t
		// Self-heal's last act was to undo a change made in the cluster: it
		// stays flagged until Git next moves the Application.
		s.DriftReverted = newest.Trigger == v1.TriggerDrift && newest.Result == v1.SyncSucceeded
	}
	return s
}

// AppList is the answer to GET /api/v1/applications.
type AppList struct {
	Items []AppSummary `json:"items"`
	// Total is how many Applications the filter selects, on every page.
	Total int `json:"total"`
	// Continue, when set, is the value of continue= for the next page.
	Continue string `json:"continue,omitempty"`
}

// AppFilter selects Applications; its zero value selects all.
type AppFilter struct {
	Project, Namespace string
	Sync               v1.SyncState
	Health             string
	Labels             labels.Selector
	// Search is a case-insensitive part of "namespace/name".
	Search             string
	VerificationFailed bool
	PolicyDenied       bool
}

// ParseAppFilter reads a filter from a query; errors say which parameter.
func ParseAppFilter(q url.Values) (AppFilter, error) {
	f := AppFilter{Project: q.Get("project"), Namespace: q.Get("namespace"), Sync: v1.SyncState(q.Get("sync")),
		Health: q.Get("health"), Search: strings.ToLower(q.Get("search"))}
	switch f.Sync {
	case "", v1.Synced, v1.OutOfSync, v1.Unknown:
	default:
		return f, fmt.Errorf("sync=%q: want Synced, OutOfSync or Unknown", f.Sync)
	}
	switch f.Health {
	case "", "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return f, fmt.Errorf("health=%q: want Healthy, Progressing, Degraded, Suspended, Missing or Unknown", f.Health)
	}
	if sel := q.Get("labels"); sel != "" {
		s, err := labels.Parse(sel)
		if err != nil {
			return f, fmt.Errorf("labels=%q: %w", sel, err)
		}
		f.Labels = s
	}
	for name, dst := range map[string]*bool{"verificationFailed": &f.VerificationFailed, "policyDenied": &f.PolicyDenied} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, fmt.Errorf("%s=%q: want true or false", name, v)
			}
			*dst = b
		}
	}
	return f, nil
}

// Matches reports whether a, summarized as s, passes the filter; s is read
// only when needsSummary says so.
func (f AppFilter) Matches(a *v1.Application, s AppSummary) bool {
	return (f.Project == "" || ProjectOf(a) == f.Project) &&
		(f.Namespace == "" || a.Namespace == f.Namespace) &&
		(f.Sync == "" || s.Sync == f.Sync) &&
		(f.Health == "" || s.Health == f.Health) &&
		(f.Labels == nil || f.Labels.Matches(labels.Set(a.Labels))) &&
		(f.Search == "" || strings.Contains(strings.ToLower(a.Namespace+"/"+a.Name), f.Search)) &&
		(!f.VerificationFailed || s.VerificationFailed) &&
		(!f.PolicyDenied || s.PolicyDenied)
}

// needsSummary reports whether Matches reads the summary: without these
// filters a list summarizes only the Applications on its page, not all of
// them (a fifth of a 10,000-Application list's time; BENCHMARKS.md).
func (f AppFilter) needsSummary() bool {
	return f.Sync != "" || f.Health != "" || f.VerificationFailed || f.PolicyDenied
}

// pageSize reads limit=, bounded.
func pageSize(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, fmt.Errorf("limit=%q: want a number from 1 to %d", v, MaxPageSize)
	}
	return n, nil
}

// listApplications answers from the watch cache, in namespace/name order;
// continue= is the last key of the previous page, so a page is stable when
// Applications come and go.
func (s *Server) listApplications(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	f, err := ParseAppFilter(q)
	if err != nil {
		return badRequest(err)
	}
	limit, err := pageSize(q)
	if err != nil {
		return badRequest(err)
	}
	after, err := decodeContinue(q.Get("continue"))
	if err != nil {
		return badRequest(err)
	}
	if s.d.Apps == nil {
		return &apiError{status: http.StatusServiceUnavailable, err: errors.New("this server reads no Applications")}
	}
	var list v1.ApplicationList
	// Read only: the cache's own objects, not copies (10,000 Applications
	// would otherwise be copied on every list).
	if err := s.d.Apps.List(r.Context(), &list, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	// Filter first, then sort what is left by pointer: sorting the list's
	// items by value moved a whole Application per swap and took more than
	// half of a 10,000-Application list's time (BENCHMARKS.md, issue 15).
	afterNamespace, afterName, _ := strings.Cut(after, "/")
	out := AppList{Items: []AppSummary{}}
	var rest []*v1.Application // selected, and after the continue key
	for i := range list.Items {
		a := &list.Items[i]
		if !c.may(rbac.Applications, rbac.Get, AppObject(a)) {
			continue
		}
		var sum AppSummary
		if f.needsSummary() {
			sum = Summarize(a)
		}
		if !f.Matches(a, sum) {
			continue
		}
		out.Total++
		// Compared as the sort orders, namespace then name: as one string,
		// "team-a/x" < "team/x" while namespace team sorts before team-a.
		if after == "" || cmp.Or(strings.Compare(a.Namespace, afterNamespace), strings.Compare(a.Name, afterName)) > 0 {
			rest = append(rest, a)
		}
	}
	slices.SortFunc(rest, func(a, b *v1.Application) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for _, a := range rest[:min(limit, len(rest))] {
		out.Items = append(out.Items, Summarize(a))
	}
	if len(rest) > limit {
		last := rest[limit-1]
		out.Continue = encodeContinue(last.Namespace + "/" + last.Name)
	}
	return writeJSON(w, out)
}

func encodeContinue(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeContinue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) > 2*253+1 || !strings.Contains(string(b), "/") {
		return "", fmt.Errorf("continue=%q: not a value this server gave", v)
	}
	return string(b), nil
}

// AppDetail is the answer to GET /api/v1/applications/{namespace}/{name}:
// the Application (spec, status, conditions, resources) and its summary.
type AppDetail struct {
	Summary     AppSummary      `json:"summary"`
	Application *v1.Application `json:"application"`
	// Can says which actions the caller may take on it (sync, refresh,
	// suspend, resume, logs, restart), so a UI offers only those; the server
	// refuses the others anyway.
	Can map[string]bool `json:"can,omitempty"`
}

func (s *Server) getApplication(w http.ResponseWriter, _ *http.Request, c *call) error {
	app := c.app.DeepCopy()
	app.ManagedFields = nil
	object := AppObject(app)
	can := map[string]bool{
		"sync": c.may(rbac.Applications, rbac.Sync, object), "refresh": c.may(rbac.Applications, rbac.Refresh, object),
		"suspend": c.may(rbac.Applications, rbac.Suspend, object), "resume": c.may(rbac.Applications, rbac.Resume, object),
		"logs": c.may(rbac.Logs, rbac.Get, object), "restart": c.may(rbac.Applications, rbac.ResourceAction("apps", "Deployment", "restart"), object),
	}
	return writeJSON(w, AppDetail{Summary: Summarize(app), Application: app, Can: can})
}
