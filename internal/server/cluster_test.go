package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// fakeCluster answers the tree's reads: the Deployment web owns Pod web-1,
// whose log is larger than the API lets through. It stands in for the
// cluster in these tests of the API's own rules; the real watches are tested
// on the real control plane (reconcile's TestTheResourceTreeAndARestartThroughTheAPI).
type fakeCluster struct {
	restarted []string
	records   []audit.Record
}

func (f *fakeCluster) Of(_ context.Context, group, kind, namespace, name string) ([]*unstructured.Unstructured, error) {
	if kind != "Deployment" || name != "web" {
		return nil, nil
	}
	pod := &unstructured.Unstructured{}
	pod.SetAPIVersion("v1")
	pod.SetKind("Pod")
	pod.SetNamespace(namespace)
	pod.SetName("web-1")
	_ = unstructured.SetNestedField(pod.Object, "Running", "status", "phase")
	return []*unstructured.Unstructured{pod}, nil
}

func (f *fakeCluster) Get(context.Context, string, string, string) (*unstructured.Unstructured, error) {
	return nil, &server.NotFoundError{}
}

func (f *fakeCluster) Events(context.Context, string, string, string) ([]corev1.Event, error) {
	return nil, nil
}

func (f *fakeCluster) Logs(context.Context, *v1.Application, string, string, corev1.PodLogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(strings.Repeat("a line of the log\n", 1<<20))), nil // 18 MiB
}

func (f *fakeCluster) Restart(_ context.Context, _ *v1.Application, group, kind, namespace, name string, _ time.Time) error {
	f.restarted = append(f.restarted, group+"/"+kind+"/"+namespace+"/"+name)
	return nil
}

func (f *fakeCluster) Append(_ context.Context, recs ...audit.Record) ([]audit.Record, error) {
	f.records = append(f.records, recs...)
	return recs, nil
}

func newClusterAPI(t *testing.T) (*apiFixture, *fakeCluster) {
	web := app("team", "web", "team-a", v1.Synced, "Healthy")
	web.Status.Resources = []v1.ResourceStatus{
		{ObjectReference: v1.ObjectReference{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: "web"}, Health: "Healthy"},
		{ObjectReference: v1.ObjectReference{Version: "v1", Kind: "Secret", Namespace: "team", Name: "db"}, Health: "Healthy"},
	}
	fc := &fakeCluster{}
	f := newAPIWith(t, func(d *server.Deps) { d.Cluster, d.Recorder = fc, fc }, web, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	return f, fc
}

func TestTreeLogsAndRestartKeepToTheApplication(t *testing.T) {
	f, fc := newClusterAPI(t)
	admin, dev := f.as(t, "admin"), f.as(t, "dev")
	base := server.PathApplications + "/team/web"
	if code, body := f.do(t, http.MethodGet, base+"/tree", dev, nil); code != 200 || !strings.Contains(body, `"parent":"apps/Deployment/team/web"`) {
		t.Errorf("tree: %d %s", code, body)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"pod=web-1&tailLines=999999", 400},
		{"pod=web-1&sinceSeconds=-1", 400},
		{"pod=", 400},
		{"pod=kube-apiserver&namespace=kube-system", 404},
		{"pod=web-2", 404},
	} {
		if code, body := f.do(t, http.MethodGet, base+"/logs?"+tc.query, dev, nil); code != tc.want {
			t.Errorf("logs?%s: %d %s; want %d", tc.query, code, body, tc.want)
		}
	}
	code, body := f.do(t, http.MethodGet, base+"/logs?pod=web-1", dev, nil)
	if code != 200 || len(body) > 10<<20 || !strings.HasPrefix(body, "a line of the log\n") {
		t.Errorf("logs: %d, %d bytes; want at most 10 MiB", code, len(body))
	}

	// The object's answer says which actions the caller may run on it.
	for _, tc := range []struct {
		query, who, want string
	}{
		{"group=apps&kind=Deployment&namespace=team&name=web", admin, `"actions":["restart"]`},
		{"group=apps&kind=Deployment&namespace=team&name=web", dev, ""},
		{"kind=Secret&namespace=team&name=db", admin, ""},
	} {
		code, body := f.do(t, http.MethodGet, base+"/resource?"+tc.query, tc.who, nil)
		if code != 200 || tc.want != "" && !strings.Contains(body, tc.want) || tc.want == "" && strings.Contains(body, `"actions"`) {
			t.Errorf("resource?%s: %d, want %q in %.300s", tc.query, code, tc.want, body)
		}
	}

	restart := base + "/resource/actions/restart?group=apps&kind=Deployment&namespace=team&name=web"
	if code, _ := f.do(t, http.MethodPost, restart, dev, nil); code != http.StatusForbidden {
		t.Errorf("dev restarts without action/apps/Deployment/restart: %d", code)
	}
	for _, q := range []string{"?kind=Secret&namespace=team&name=db", "?group=apps&kind=Deployment&namespace=team&name=other"} {
		if code, _ := f.do(t, http.MethodPost, base+"/resource/actions/restart"+q, admin, nil); code/100 != 4 {
			t.Errorf("restart%s: %d", q, code)
		}
	}
	if code, _ := f.do(t, http.MethodPost, base+"/resource/actions/delete?kind=Secret&namespace=team&name=db", admin, nil); code != 400 {
		t.Errorf("an unknown resource action: %d", code)
	}
	if code, body := f.do(t, http.MethodPost, restart, admin, nil); code != http.StatusAccepted {
		t.Fatalf("admin restarts: %d %s", code, body)
	}
	if len(fc.restarted) != 1 || len(fc.records) != 1 || fc.records[0].Actor != "admin" || fc.records[0].Event != audit.EventAction {
		t.Errorf("restarted %v, records %+v", fc.restarted, fc.records)
	}
}
