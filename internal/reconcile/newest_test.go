package reconcile_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// When the newest commit cannot be applied, nobody reads "Synced" with the old
// revision: the status, `kubectl get applications` and `lockstep get apps` all
// show the newest commit next to the applied one, and why they differ.
func TestSyncStatusComparesWithTheNewestCommit(t *testing.T) {
	f := newRepo(t)
	good := f.commit(t, "good", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, good)

	broken := f.commit(t, "broken", map[string]string{"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings\n"})
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonRenderFailed, broken)
	if want := (v1.SyncStatus{Status: v1.Unknown, Revision: broken, Reason: v1.ReasonRenderFailed}); app.Status.Sync != want {
		t.Errorf("sync %+v, want %+v", app.Status.Sync, want)
	}
	if app.Status.LastAppliedRevision == nil || app.Status.LastAppliedRevision.Commit != good {
		t.Errorf("applied %+v, want %s", app.Status.LastAppliedRevision, good)
	}

	// kubectl's columns come from the CRD's printer columns.
	raw, err := testenv.Clientset(t).CoreV1().RESTClient().Get().
		AbsPath("/apis/lockstep.dev/v1alpha1/namespaces/"+f.ns+"/applications/web").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(testenv.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil || len(table.Rows) != 1 {
		t.Fatalf("table: %v %s", err, raw)
	}
	cells := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		cells[c.Name] = table.Rows[0].Cells[i]
	}
	if cells["Sync"] != "Unknown" || cells["Newest"] != broken || cells["Applied"] != good {
		t.Errorf("kubectl get applications columns: %v", cells)
	}

	// lockstep get apps says the same.
	out := runCLI(t, "get", "apps", "-n", f.ns)
	if !strings.Contains(out, "Unknown (RenderFailed)") || !strings.Contains(out, broken[:12]) || !strings.Contains(out, good[:12]) {
		t.Errorf("lockstep get apps:\n%s", out)
	}

	// Fixed in Git: Synced again, one revision.
	fixed := f.commit(t, "fixed", map[string]string{"app/cm.yaml": configMapYAML})
	f.refresh(t, "web")
	app = f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, fixed)
	if want := (v1.SyncStatus{Status: v1.Synced, Revision: fixed}); app.Status.Sync != want {
		t.Errorf("sync %+v, want %+v", app.Status.Sync, want)
	}
}

// runCLI runs lockstep with a kubeconfig for the test cluster.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs(append(args, "--kubeconfig", kubeconfigFile(t)))
	cmd.SetOut(&out)
	cmd.SetErr(os.Stderr)
	if err := cmd.ExecuteContext(testenv.Context(t)); err != nil {
		t.Fatalf("lockstep %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// kubeconfigFile writes a kubeconfig for the test cluster.
func kubeconfigFile(t *testing.T) string {
	t.Helper()
	cfg := testenv.Config(t)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// A new Application sees what was pushed before it was created, even when
// another Application of the same repository looked at it a moment before:
// it does not wait an interval with an old commit or "path not found".
func TestANewApplicationSeesWhatWasJustPushed(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"one/cm.yaml": configMapYAML})
	f.create(t, f.application("one", "one", nil))
	f.waitFor(t, "one", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	// The repository's resolution is now shared, and fresh for an hour.
	time.Sleep(1100 * time.Millisecond)

	second := f.commit(t, "second: a new folder", map[string]string{
		"two/cm.yaml": strings.Replace(configMapYAML, "settings", "two", 1),
		"one/cm.yaml": strings.Replace(configMapYAML, "hello", "bonjour", 1),
	})
	f.create(t, f.application("two", "two", nil))
	f.waitFor(t, "two", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	// Another new Application on an old folder applies the newest commit too.
	f.create(t, f.application("one-again", "one", func(a *v1.Application) { a.Spec.Destination.Namespace = f.ns }))
	app := f.waitFor(t, "one-again", metav1.ConditionFalse, v1.ReasonPlanFailed, second)
	if !strings.Contains(readyMessage(app), "is managed by Application "+f.ns+"/one") {
		t.Errorf("Ready %q", readyMessage(app))
	}
}

// A lone * in a Project's sourceRepos, the most common Argo CD setting, allows
// any repository.
func TestALoneStarAllowsAnyRepository(t *testing.T) {
	f := newRepo(t)
	f.project(t, v1.ProjectSpec{SourceRepos: []string{"*"}, Destinations: []v1.ProjectDestination{{Namespace: f.ns}}})
	rev := f.commit(t, "any repo", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", f.inProject))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, rev)
}

// A pass is a value a caller could change between Preview and Sync; Sync acts
// as the identity the Project chooses now, never as the one the pass names.
func TestSyncRefusesAPassWhoseIdentityWasChanged(t *testing.T) {
	f := newRepo(t)
	f.commit(t, "cm", map[string]string{"app/cm.yaml": configMapYAML})
	app := f.application("web", "app", func(a *v1.Application) { a.Spec.Suspend = true })
	f.create(t, app)
	clients, err := kube.NewClients(testenv.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	pipeline, _, err := controller.NewPipeline(clients, f.c, controller.PipelineConfig{Render: sandboxedRender(t), RepositoryDir: t.TempDir(), Namespace: shared.opts.Namespace, TenantReadsAsController: true})
	if err != nil {
		t.Fatal(err)
	}
	app = f.get(t, "web")
	p, err := pipeline.Preview(testenv.Context(t), app, reconcile.PreviewOptions{Fresh: true})
	if err != nil || p.Decision != pass.Sync || p.Identity != "" {
		t.Fatalf("preview: %v, decision %s, identity %q", err, p.Decision, p.Identity)
	}
	p.Identity = "system:serviceaccount:kube-system:default"
	err = pipeline.Sync(testenv.Context(t), p)
	if err == nil || !strings.Contains(err.Error(), "preview again") {
		t.Fatalf("Sync of a pass with another identity: %v", err)
	}
	if f.configMapExists(t, f.ns, "settings") {
		t.Error("the ConfigMap was applied")
	}
}
