package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/cluster"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

func TestMain(m *testing.M) {
	// Started as a lockstep process by a fault test (killableController): the
	// test binary is then the lockstep binary, with the arguments given.
	if raw := os.Getenv(cliArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cmd := cli.NewRootCommand()
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "lockstep:", err)
			os.Exit(cli.ExitCode(err))
		}
		os.Exit(0)
	}
	testenv.Main(m)
}

// cliArgsEnv holds, as JSON, the arguments of a test binary started as
// lockstep.
const cliArgsEnv = "LOCKSTEP_TEST_CLI_ARGS"

var (
	controllerOnce sync.Once
	sharedGit      *gitserver.Server
	shared         sharedController
)

const gitPassword = "controller-reads"

// sharedController is the controller every test in this package talks to: one
// per test binary, restartable (to test what survives a restart).
type sharedController struct {
	opts   controller.Options
	stop   context.CancelFunc
	done   chan struct{}
	logs   string // the controller's log file
	apiURL string
}

func (c *sharedController) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		if err := controller.Run(ctx, testenv.ControlPlane(t).Config, c.opts); err != nil {
			fmt.Fprintln(os.Stderr, "controller stopped:", err)
		}
	}()
}

// restartController stops the shared controller and starts it again with the
// same data directory and namespace.
func restartController(t *testing.T) {
	t.Helper()
	shared.stop()
	<-shared.done
	shared.start(t)
}

// env starts, once per test binary, the controller (CRDs installed, API on) and
// a Git server, and returns a client that knows Applications.
func env(t *testing.T) client.Client {
	t.Helper()
	controllerOnce.Do(func() {
		var err error
		// Lives as long as the test binary; the process exit ends it.
		sharedGit, err = gitserver.Start(context.Background(), gitserver.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sharedGit.AddUser("lockstep", gitPassword, gitserver.Read)
		opts := controller.DefaultOptions()
		opts.InstallCRDs = true
		// Most tests' Applications have no service account (those that do
		// test it); the refusal without the flag has its own test.
		opts.TenantReadsAsController = true
		opts.Render.Memory = 512 << 20 // hostile renders reach it; keep the machine's share small
		// Not t.TempDir: that goes with the first test, and the controller
		// outlives it (a restart must find its ledger again). The control
		// plane's folder goes when the test binary ends, or stays for a look
		// when a test failed.
		opts.DataDir = filepath.Join(testenv.ControlPlane(t).Dir, "controller")
		port, err := cluster.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		opts.APIAddress = fmt.Sprintf("127.0.0.1:%d", port)
		opts.APIToken = apiToken
		shared.apiURL = "http://" + opts.APIAddress
		shared.logs = opts.DataDir + ".log"
		logFile, err := os.Create(shared.logs)
		if err != nil {
			t.Fatal(err)
		}
		var logs io.Writer = logFile
		if os.Getenv("LOCKSTEP_TEST_LOGS") != "" {
			logs = io.MultiWriter(logFile, os.Stderr)
		}
		opts.Logger = logr.FromSlogHandler(slog.NewJSONHandler(logs, nil))
		shared.opts = opts
		shared.start(t)
	})
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	c, err := client.New(testenv.Config(t), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The CRD is installed by the controller as it starts.
	eventually(t, 30*time.Second, "the Application CRD is served", func(ctx context.Context) (bool, error) {
		err := c.List(ctx, &v1.ApplicationList{})
		return err == nil, err
	})
	return c
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	testenv.Eventually(t, timeout, what, cond)
}

// repoFixture is a repository on the shared Git server and the namespace its
// Application lives in, with the credential Secrets in place.
type repoFixture struct {
	repo *gitserver.Repo
	ns   string
	c    client.Client
}

func newRepo(t *testing.T) *repoFixture {
	t.Helper()
	c := env(t)
	ns := testenv.Namespace(t)
	repo, err := sharedGit.CreateRepo(ns)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(sharedGit.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t)
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "git-auth", Namespace: ns}, Data: map[string][]byte{"username": []byte("lockstep"), "password": []byte(gitPassword)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "git-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": ca}},
	} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return &repoFixture{repo: repo, ns: ns, c: c}
}

func (f *repoFixture) commit(t *testing.T, message string, files map[string]string) string {
	t.Helper()
	data := map[string][]byte{}
	for k, v := range files {
		if v == "" {
			data[k] = nil
			continue
		}
		data[k] = []byte(v)
	}
	h, err := f.repo.Commit(gitserver.CommitOptions{Files: data, Message: message, Author: gitserver.Person{Name: "Ada", Email: "ada@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *repoFixture) application(name, path string, mutate func(*v1.Application)) *v1.Application {
	automated := true
	app := &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1.ApplicationSpec{
			Source: v1.Source{
				Git: v1.GitSource{URL: sharedGit.HTTPSURL(f.repo.Name), Ref: v1.GitRef{Branch: "main"},
					SecretRef: &v1.LocalObjectReference{Name: "git-auth"}, CASecretRef: &v1.LocalObjectReference{Name: "git-ca"}},
				Path: path,
			},
			Destination: v1.Destination{Namespace: f.ns},
			Sync:        v1.SyncPolicy{Automated: &automated, Prune: true, Interval: &metav1.Duration{Duration: time.Hour}},
		},
	}
	if mutate != nil {
		mutate(app)
	}
	return app
}

func (f *repoFixture) create(t *testing.T, app *v1.Application) {
	t.Helper()
	if err := f.c.Create(testenv.Context(t), app); err != nil {
		t.Fatal(err)
	}
}

// refresh asks for an immediate reconcile, as a webhook or `lockstep refresh` does.
func (f *repoFixture) refresh(t *testing.T, name string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1.AnnotationReconcileRequestedAt, time.Now().Format(time.RFC3339Nano))
	app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}}
	if err := f.c.Patch(testenv.Context(t), app, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func (f *repoFixture) get(t *testing.T, name string) *v1.Application {
	t.Helper()
	app := &v1.Application{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: name}, app); err != nil {
		t.Fatal(err)
	}
	return app
}

// waitFor waits until the Application's Ready condition has the given status and
// reason for the given revision (any revision when empty).
func (f *repoFixture) waitFor(t *testing.T, name string, status metav1.ConditionStatus, reason, revision string) *v1.Application {
	t.Helper()
	var app *v1.Application
	eventually(t, 45*time.Second, fmt.Sprintf("Application %s Ready=%s/%s at %.12s", name, status, reason, revision), func(ctx context.Context) (bool, error) {
		app = &v1.Application{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, app); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
		if c == nil || c.Status != status || c.Reason != reason {
			return false, fmt.Errorf("conditions %+v", app.Status.Conditions)
		}
		if revision != "" && (app.Status.LastAttemptedRevision == nil || app.Status.LastAttemptedRevision.Commit != revision) {
			return false, fmt.Errorf("attempted revision %+v", app.Status.LastAttemptedRevision)
		}
		return app.Status.ObservedGeneration == app.Generation, nil
	})
	return app
}

func deploymentYAML(image, level string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ` + image + `
        env: [{name: LOG_LEVEL, value: ` + level + `}]
`
}

const configMapYAML = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {GREETING: hello}\n"

func TestSyncFollowsGitAndPrunes(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	first := f.commit(t, "First version\n\nApproved-by: Bob <bob@example.com>\n", map[string]string{
		"app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info"),
		"app/cm.yaml":     configMapYAML,
	})
	f.create(t, f.application("web", "app", nil))
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	if app.Status.Sync.Status != v1.Synced || app.Status.LastAppliedRevision.Subject != "First version" ||
		len(app.Status.LastAppliedRevision.Trailers) != 1 || app.Status.LastAppliedRevision.Author != "Ada <ada@example.com>" {
		t.Errorf("status after the first sync: %+v", app.Status)
	}
	if len(app.Status.ManagedRefs()) != 2 || len(app.Status.History) != 1 || app.Status.History[0].Created != 2 || app.Status.History[0].Initiator != "controller" {
		t.Errorf("managed %v, history %+v", app.Status.Managed, app.Status.History)
	}

	// A commit changing the image and an env var, and removing the ConfigMap.
	second := f.commit(t, "Release 1.1", map[string]string{
		"app/deploy.yaml": deploymentYAML("registry.internal/web:1.1", "debug"),
		"app/cm.yaml":     "",
	})
	f.refresh(t, "web")
	app = f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	d := &appsv1.Deployment{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.internal/web:1.1" || c.Env[0].Value != "debug" {
		t.Errorf("Deployment not updated: image %s, LOG_LEVEL %s", c.Image, c.Env[0].Value)
	}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap removed from Git is still there (err %v)", err)
	}
	if h := app.Status.History[0]; h.Revision != second || h.Updated != 1 || h.Pruned != 1 {
		t.Errorf("newest history entry %+v", h)
	}

	// A periodic pass of an unchanged revision writes nothing.
	rv := app.ResourceVersion
	f.refresh(t, "web")
	time.Sleep(2 * time.Second)
	after := f.get(t, "web")
	if after.Status.LastHandledReconcileAt == app.Status.LastHandledReconcileAt {
		t.Fatalf("the refresh was not handled")
	}
	if len(after.Status.History) != len(app.Status.History) {
		t.Errorf("a no-op pass added history: %d → %d entries (resourceVersion %s → %s)", len(app.Status.History), len(after.Status.History), rv, after.ResourceVersion)
	}
}

func TestRenderErrorLeavesTheClusterUntouched(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	first := f.commit(t, "good", map[string]string{"app/cm.yaml": configMapYAML, "app/deploy.yaml": deploymentYAML("registry.internal/web:1.0", "info")})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	broken := f.commit(t, "broken", map[string]string{"app/cm.yaml": "", "app/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n   oops: 1\n"})
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonRenderFailed, broken)
	ready := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
	if !strings.Contains(ready.Message, "app/deploy.yaml:5") {
		t.Errorf("Ready message %q does not name the file and line", ready.Message)
	}
	if !meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionStalled) {
		t.Error("a render error should stall the Application until Git changes")
	}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("a failed render pruned ConfigMap/settings: %v", err)
	}
	if app.Status.LastAppliedRevision.Commit != first {
		t.Errorf("last applied = %s, want still %s", app.Status.LastAppliedRevision.Commit, first)
	}
}

func TestGitServerDownLeavesTheClusterUntouched(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	first := f.commit(t, "good", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", func(a *v1.Application) {
		a.Spec.Sync.Retry = &v1.RetryPolicy{Backoff: &metav1.Duration{Duration: time.Second}}
	}))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	// Point the Application at a server that does not answer.
	app := f.get(t, "web")
	app.Spec.Source.Git.URL = "https://127.0.0.1:1/" + f.repo.Name + ".git"
	if err := f.c.Update(ctx, app); err != nil {
		t.Fatal(err)
	}
	app = f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonSourceFailed, "")
	ready := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
	if !strings.Contains(ready.Message, "connection refused") {
		t.Errorf("Ready message %q does not say the server refused the connection", ready.Message)
	}
	if meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionStalled) {
		t.Error("an unreachable server is transient; the Application should not be Stalled")
	}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("a failed fetch pruned ConfigMap/settings: %v", err)
	}
}

func TestManualSyncWhenNotAutomated(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	head := f.commit(t, "one", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", func(a *v1.Application) {
		off := false
		a.Spec.Sync.Automated = &off
	}))
	app := f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonOutOfSync, head)
	if app.Status.Sync.Status != v1.OutOfSync || len(app.Status.Resources) != 1 || app.Status.Resources[0].Action != v1.ActionCreate {
		t.Errorf("out-of-sync status: %+v", app.Status)
	}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a non-automated Application applied without being asked (err %v)", err)
	}

	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"alice at %s"}}}`, v1.AnnotationSyncRequestedBy, time.Now().Format(time.RFC3339))
	if err := f.c.Patch(ctx, app, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	app = f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	if len(app.Status.History) == 0 || app.Status.History[0].Initiator != "alice" {
		t.Errorf("history %+v, want the sync recorded as asked by alice", app.Status.History)
	}
}

func TestPruneOffAndCreateNamespace(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	target := f.ns + "-dest"
	first := f.commit(t, "one", map[string]string{"app/a.yaml": configMapYAML, "app/b.yaml": strings.Replace(configMapYAML, "settings", "other", 1)})
	f.create(t, f.application("web", "app", func(a *v1.Application) {
		a.Spec.Destination.Namespace = target
		a.Spec.Sync.CreateNamespace = true
		a.Spec.Sync.Prune = false
	}))
	t.Cleanup(func() {
		_ = f.c.Delete(context.WithoutCancel(ctx), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: target}})
	})
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	second := f.commit(t, "drop b", map[string]string{"app/b.yaml": ""})
	f.refresh(t, "web")
	app := f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: target, Name: "other"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("prune is off, yet ConfigMap/other is gone: %v", err)
	}
	kept := false
	for _, r := range app.Status.Resources {
		kept = kept || (r.Name == "other" && r.Action == v1.ActionKeep)
	}
	if !kept {
		t.Errorf("resources %+v do not show ConfigMap/other as kept", app.Status.Resources)
	}
}

func TestHelmChartWithValuesFromAndInlineValues(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	head := f.commit(t, "chart", map[string]string{
		"chart/Chart.yaml":       "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"chart/values.yaml":      "replicas: 1\nlevel: info\ncolour: blue\n",
		"chart/values-prod.yaml": "replicas: 2\n",
		"chart/templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-settings}
data:
  replicas: {{ .Values.replicas | quote }}
  level: {{ .Values.level | quote }}
  colour: {{ .Values.colour | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
`,
	})
	if err := f.c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-values", Namespace: f.ns}, Data: map[string]string{"values.yaml": "level: debug\ncolour: green\n"}}); err != nil {
		t.Fatal(err)
	}
	f.create(t, f.application("web", "chart", func(a *v1.Application) {
		a.Spec.Source.Helm = &v1.HelmOptions{
			ReleaseName: "rel",
			ValuesFiles: []string{"values-prod.yaml"},
			ValuesFrom:  []v1.ValuesReference{{Kind: "ConfigMap", Name: "web-values"}, {Kind: "Secret", Name: "absent", Optional: true}},
			Values:      &apiextensionsv1.JSON{Raw: []byte(`{"colour":"red"}`)},
		}
	}))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "rel-settings"}, cm); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"replicas": "2", "level": "debug", "colour": "red", "kube": "v1.34.3"}
	for k, v := range want {
		if cm.Data[k] != v {
			t.Errorf("%s = %q, want %q (values files, then valuesFrom, then inline values)", k, cm.Data[k], v)
		}
	}
}

// An Application whose folder holds Applications deploys them, and the controller
// then syncs those too (app of apps).
func TestAppOfApps(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	child := fmt.Sprintf(`apiVersion: lockstep.dev/v1alpha1
kind: Application
metadata: {name: child}
spec:
  source:
    git: {url: %q, ref: {branch: main}, secretRef: {name: git-auth}, caSecretRef: {name: git-ca}}
    path: app
  destination: {namespace: %s}
  sync: {prune: true}
`, sharedGit.HTTPSURL(f.repo.Name), f.ns)
	head := f.commit(t, "apps", map[string]string{"apps/child.yaml": child, "app/cm.yaml": configMapYAML})
	f.create(t, f.application("parent", "apps", nil))
	f.waitFor(t, "parent", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	f.waitFor(t, "child", metav1.ConditionTrue, v1.ReasonSucceeded, head)
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "settings"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("the child Application's ConfigMap: %v", err)
	}
}

func TestFiveHundredObjects(t *testing.T) {
	f := newRepo(t)
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d}\ndata: {n: \"%d\"}\n---\n", i, i)
	}
	head := f.commit(t, "many", map[string]string{"app/many.yaml": b.String()})
	start := time.Now()
	f.create(t, f.application("many", "app", nil))
	eventually(t, 2*time.Minute, "500 objects synced", func(ctx context.Context) (bool, error) {
		app := &v1.Application{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "many"}, app); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionReady) && app.Status.Sync.Revision == head, nil
	})
	t.Logf("500 objects synced in %s", time.Since(start).Round(time.Millisecond))
	list := &corev1.ConfigMapList{}
	if err := f.c.List(testenv.Context(t), list, client.InNamespace(f.ns), client.MatchingLabels{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "cm-") {
			n++
		}
	}
	if n != 500 {
		t.Errorf("%d ConfigMaps in the cluster, want 500", n)
	}
	if app := f.get(t, "many"); len(app.Status.ManagedRefs()) != 500 {
		t.Errorf("the status names %d objects managed, want 500", len(app.Status.ManagedRefs()))
	}
}

// A tag and a semver range are followed, and every sync and failure leaves a
// Kubernetes Event on the Application.
func TestTagsSemverAndEvents(t *testing.T) {
	f := newRepo(t)
	v1Hash := f.commit(t, "v1", map[string]string{"app/cm.yaml": configMapYAML})
	if err := f.repo.Tag("v1.0.0", v1Hash, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	v2Hash := f.commit(t, "v2", map[string]string{"app/cm.yaml": strings.Replace(configMapYAML, "hello", "hello-2", 1)})
	if err := f.repo.Tag("v1.1.0", v2Hash, gitserver.TagOptions{}); err != nil {
		t.Fatal(err)
	}
	f.commit(t, "unreleased", map[string]string{"app/cm.yaml": "kind: [broken"})
	f.create(t, f.application("pinned", "app", func(a *v1.Application) { a.Spec.Source.Git.Ref = v1.GitRef{Tag: "v1.0.0"} }))
	f.create(t, f.application("ranged", "app", func(a *v1.Application) {
		a.Spec.Source.Git.Ref = v1.GitRef{Semver: "~1.1"}
		a.Spec.Destination.Namespace = f.ns + "-ranged" // its own copy of ConfigMap/settings
		a.Spec.Sync.CreateNamespace = true
	}))
	t.Cleanup(func() {
		_ = f.c.Delete(context.WithoutCancel(testenv.Context(t)), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-ranged"}})
	})
	f.waitFor(t, "pinned", metav1.ConditionTrue, v1.ReasonSucceeded, v1Hash)
	ranged := f.waitFor(t, "ranged", metav1.ConditionTrue, v1.ReasonSucceeded, v2Hash)
	if ranged.Status.LastAppliedRevision.Ref != "refs/tags/v1.1.0" {
		t.Errorf("semver ~1.1 applied %q, want refs/tags/v1.1.0", ranged.Status.LastAppliedRevision.Ref)
	}

	eventually(t, 10*time.Second, "a Succeeded event on Application/pinned", func(ctx context.Context) (bool, error) {
		list := &eventsv1.EventList{}
		if err := f.c.List(ctx, list, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind == "Application" && e.Regarding.Name == "pinned" && e.Reason == v1.ReasonSucceeded && strings.Contains(e.Note, v1Hash[:12]) {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d events, none a Succeeded sync of pinned", len(list.Items))
	})
}

// sandboxedRender renders in sandbox processes, as the controller does,
// stopped when t ends.
func sandboxedRender(t *testing.T) render.Func {
	t.Helper()
	opts := sandbox.DefaultOptions()
	fn, stop, err := controller.Renderer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return fn
}
