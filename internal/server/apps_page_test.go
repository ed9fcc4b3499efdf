package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// A walk of the pages sees every Application once, in order, also where one
// namespace's name begins another's: as one string "team-a/x" sorts before
// "team/y", while namespace team sorts before team-a.
func TestListPagesWalkEveryApplicationOnce(t *testing.T) {
	var objs []client.Object
	for _, key := range []string{"team-a/x", "team/y", "team/a", "team-a/b", "team0/c", "tea/z"} {
		ns, name, _ := strings.Cut(key, "/")
		objs = append(objs, app(ns, name, "", v1.Synced, "Healthy"))
	}
	f := newAPI(t, objs...)
	viewer := f.as(t, "viewer")
	var seen []string
	next := ""
	for range len(objs) + 1 {
		q := url.Values{"limit": {"1"}}
		if next != "" {
			q.Set("continue", next)
		}
		code, body := f.do(t, http.MethodGet, server.PathApplications+"?"+q.Encode(), viewer, nil)
		if code != http.StatusOK {
			t.Fatalf("?%s: %d %s", q.Encode(), code, body)
		}
		var page server.AppList
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if page.Total != len(objs) {
			t.Errorf("?%s: total %d; want %d", q.Encode(), page.Total, len(objs))
		}
		for _, a := range page.Items {
			seen = append(seen, a.Namespace+"/"+a.Name)
		}
		if next = page.Continue; next == "" {
			break
		}
	}
	if got, want := strings.Join(seen, " "), "tea/z team/a team/y team-a/b team-a/x team0/c"; got != want {
		t.Errorf("walking pages of one saw %s; want %s", got, want)
	}
}
