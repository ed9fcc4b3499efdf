package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func fakeApplications(t *testing.T, apps ...*v1.Application) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme)
	for _, app := range apps {
		b = b.WithObjects(app)
	}
	return b.Build()
}

const appInfoHeader = `# HELP lockstep_app_info Information about an Application: always 1, its labels say where it comes from and goes, and its sync and health status.
# TYPE lockstep_app_info gauge
`

// lockstep_app_info has one series per Application, with Argo CD's labels: a
// status not known yet is Unknown, the project defaults, credentials written
// into a URL stay out; a deleted Application's series goes with it.
func TestAppInfo(t *testing.T) {
	synced := &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "payments", Name: "web"},
		Spec: v1.ApplicationSpec{
			Project:     "payments",
			Source:      v1.Source{Git: v1.GitSource{URL: "https://robot:hunter2@git.internal/payments/web.git"}},
			Destination: v1.Destination{Cluster: v1.InCluster, Namespace: "payments-prod"},
			Sync:        v1.SyncPolicy{Automated: ptr.To(false)},
		},
		Status: v1.ApplicationStatus{Sync: v1.SyncStatus{Status: v1.OutOfSync}, Health: &v1.HealthStatus{Status: "Degraded"}},
	}
	fresh := &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"},
		Spec: v1.ApplicationSpec{
			Source:      v1.Source{Git: v1.GitSource{URL: "ssh://git@git.internal/team/api.git"}},
			Destination: v1.Destination{Namespace: "team"},
		},
	}
	apps := fakeApplications(t, synced, fresh)
	c := newAppCollector(t.Context(), apps, logr.Discard())

	want := appInfoHeader +
		`lockstep_app_info{autosync_enabled="false",dest_namespace="payments-prod",dest_server="in-cluster",health_status="Degraded",name="web",namespace="payments",project="payments",repo="https://git.internal/payments/web.git",sync_status="OutOfSync"} 1
lockstep_app_info{autosync_enabled="true",dest_namespace="team",dest_server="in-cluster",health_status="Unknown",name="api",namespace="team",project="default",repo="ssh://git.internal/team/api.git",sync_status="Unknown"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "lockstep_app_info"); err != nil {
		t.Error(err)
	}

	if err := apps.Delete(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	want = appInfoHeader +
		`lockstep_app_info{autosync_enabled="false",dest_namespace="payments-prod",dest_server="in-cluster",health_status="Degraded",name="web",namespace="payments",project="payments",repo="https://git.internal/payments/web.git",sync_status="OutOfSync"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "lockstep_app_info"); err != nil {
		t.Errorf("after a deletion: %v", err)
	}
}

// failingReader fails every read, as a cache that never synced does.
type failingReader struct{ client.Reader }

func (failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("timed out waiting for the cache to sync")
}

// A failed read leaves lockstep_app_info out of the scrape, not the scrape out.
func TestAppInfoWhenTheCacheFails(t *testing.T) {
	c := newAppCollector(t.Context(), failingReader{}, logr.Discard())
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d series from a cache that cannot be read", n)
	}
}

// The controller registers its metrics at each run: a second run in the same
// process (tests restart it) is not an error, and what a run removes when it
// ends is the lockstep_app_info it served, nothing else.
func TestRegisterMetricsTwice(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	apps := fakeApplications(t, &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"}})
	served := func() bool {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "lockstep_app_info" {
				return true
			}
		}
		return false
	}
	first, err := registerMetrics(t.Context(), reg, apps, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	second, err := registerMetrics(t.Context(), reg, apps, logr.Discard())
	if err != nil {
		t.Fatalf("registering again: %v", err)
	}
	second()
	if !served() {
		t.Error("lockstep_app_info went with a run that did not serve it")
	}
	first()
	if served() {
		t.Error("lockstep_app_info outlived the run that served it")
	}
	for _, c := range metricCollectors(t.Context(), apps, logr.Discard()) {
		var already prometheus.AlreadyRegisteredError
		if _, info := c.(*appCollector); !info && !errors.As(reg.Register(c), &already) {
			t.Errorf("a metric other than lockstep_app_info went with the run: %v", c)
		}
	}
}
