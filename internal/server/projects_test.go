package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// getJSON reads path as cred into out, failing the test on another status.
func getJSON(t *testing.T, f *apiFixture, path, cred string, out any) {
	t.Helper()
	code, body := f.do(t, http.MethodGet, path, cred, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// Each Project comes with its rules in words and its Applications counted
// by sync and health: only those the caller may read. While no Project named
// default exists, the list says what applies instead.
func TestProjectsComeWithTheirRulesAndApplications(t *testing.T) {
	f := newAPI(t)
	viewer, dev := f.as(t, "viewer"), f.as(t, "dev")
	var l server.ProjectList
	getJSON(t, f, server.PathProjects, viewer, &l)
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"secret", "team-a"}, names); diff != "" {
		t.Fatalf("projects (-want +got):\n%s", diff)
	}
	teamA := l.Items[1]
	if diff := cmp.Diff(policy.Describe(&v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}), teamA.Rules); diff != "" {
		t.Errorf("team-a rules (-want +got):\n%s", diff)
	}
	want := server.AppCounts{Total: 2, Sync: map[v1.SyncState]int{v1.Synced: 1, v1.OutOfSync: 1}, Health: map[string]int{"Healthy": 1, "Degraded": 1}}
	if diff := cmp.Diff(want, teamA.Applications); diff != "" {
		t.Errorf("team-a Applications (-want +got):\n%s", diff)
	}
	if l.Items[0].Applications.Total != 1 {
		t.Errorf("secret: %+v, want its one Application", l.Items[0].Applications)
	}
	if b := l.BuiltInDefault; b == nil || b.Name != "default" || !slices.Equal(b.Rules, policy.DescribeBuiltIn(false)) || b.Applications.Total != 1 {
		t.Errorf("built-in default: %+v", b)
	}

	// dev may read Project secret but none of its Applications.
	l = server.ProjectList{}
	getJSON(t, f, server.PathProjects, dev, &l)
	if got := l.Items[0]; got.Name != "secret" || got.Applications.Total != 0 || got.Applications.Sync != nil {
		t.Errorf("dev sees secret with %+v, want no Application", got.Applications)
	}
	var one server.ProjectDetail
	getJSON(t, f, server.PathProjects+"/secret", dev, &one)
	if one.Name != "secret" || len(one.Rules) == 0 || one.Applications.Total != 0 {
		t.Errorf("dev GET secret: %+v", one)
	}
	one = server.ProjectDetail{}
	getJSON(t, f, server.PathProjects+"/team-a", dev, &one)
	if diff := cmp.Diff(want, one.Applications); diff != "" || len(one.Rules) == 0 || one.ManagedFields != nil {
		t.Errorf("dev GET team-a: %+v (-want +got):\n%s", one, diff)
	}

	// A caller who may not read Project default is not told about it.
	if err := f.policy.Load(map[string]string{"policy.csv": testPolicy + "p, dev, projects, get, default, deny\n"}); err != nil {
		t.Fatal(err)
	}
	l = server.ProjectList{}
	getJSON(t, f, server.PathProjects, dev, &l)
	if l.BuiltInDefault != nil {
		t.Errorf("dev may not read Project default, and is told %+v", l.BuiltInDefault)
	}
}

// With --require-projects the built-in default does not apply, and the list
// says so; once a Project named default exists, the list holds it instead.
func TestTheBuiltInDefaultProjectAsTheControllerHoldsIt(t *testing.T) {
	objs := []client.Object{app("team", "web", "", v1.Synced, "Healthy")}
	f := newAPIWith(t, func(d *server.Deps) { d.RequireProjects = true }, objs...)
	var l server.ProjectList
	getJSON(t, f, server.PathProjects, f.as(t, "viewer"), &l)
	if b := l.BuiltInDefault; b == nil || !slices.Equal(b.Rules, policy.DescribeBuiltIn(true)) || b.Applications.Total != 1 {
		t.Errorf("built-in default under --require-projects: %+v", b)
	}

	f = newAPI(t, append(objs, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "default"}})...)
	l = server.ProjectList{}
	getJSON(t, f, server.PathProjects, f.as(t, "viewer"), &l)
	if l.BuiltInDefault != nil || len(l.Items) != 1 || l.Items[0].Name != "default" || l.Items[0].Applications.Total != 1 {
		t.Errorf("with a Project named default: %+v", l)
	}
}
