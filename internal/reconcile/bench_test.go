package reconcile_test

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// The benchmarks run the controller as its own process (`lockstep controller`),
// so its CPU, memory and API requests are its own, read from /proc and from its
// Prometheus metrics. Run them with `make bench`.

const (
	benchInterval    = 10 * time.Second
	benchConcurrency = 4
	benchQPS         = 100 // the controller's client-side rate limit, given to the floor too
	benchBurst       = 200
)

// BenchmarkConverge measures, for N Applications of 4 objects each (all from one
// repository): time from creating them to all Ready; the same objects applied by
// a plain parallel server-side-apply client (the floor); then, converged, the
// controller's API requests, CPU and memory over a minute; then how fast a
// `kubectl scale` of a managed Deployment is reverted. The guarded variant puts
// the Applications in a Project with every object rule on and applies as a
// service account (impersonation): the cost of the perimeter rules.
func BenchmarkConverge(b *testing.B) {
	bin := buildLockstep(b)
	for _, v := range []convergeCase{
		{apps: 100}, {apps: 100, guarded: true}, {apps: 500}, {apps: 500, guarded: true},
		{apps: 1000}, {apps: 2000}, {objects: 10000}, {apps: 100, unmanaged: 10000},
	} {
		b.Run(v.name(), func(b *testing.B) {
			for range b.N {
				benchConverge(b, bin, v)
			}
		})
	}
}

// waitQuiet waits until no namespace of an earlier run is still being
// deleted: its objects' deletion (hundreds of Deployments and their pods)
// loads the API server as much as a converge, and a run beside it measured
// 1.1x and 2.1x the floor by turns.
func waitQuiet(b *testing.B) {
	b.Helper()
	cs := kubernetes.NewForConfigOrDie(benchConfig(b))
	started := time.Now()
	for {
		list, err := cs.CoreV1().Namespaces().List(b.Context(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		terminating := 0
		for _, ns := range list.Items {
			if ns.Status.Phase == corev1.NamespaceTerminating {
				terminating++
			}
		}
		if terminating == 0 {
			if waited := time.Since(started); waited > time.Second {
				b.Logf("waited %s for an earlier run's namespaces to go", waited.Round(time.Second))
			}
			return
		}
		if time.Since(started) > 15*time.Minute {
			b.Fatalf("%d namespaces still terminating after 15 minutes", terminating)
		}
		time.Sleep(time.Second)
	}
}

// convergeCase is one size BenchmarkConverge measures: apps Applications of 4
// objects each, or one Application of objects ConfigMaps; with unmanaged
// ConfigMaps no Application manages in the same namespace, made before the
// controller starts (its memory must not grow with them).
type convergeCase struct {
	apps, objects, unmanaged int
	guarded                  bool
}

func (v convergeCase) name() string {
	name := fmt.Sprintf("apps=%d", v.apps)
	if v.objects > 0 {
		name = fmt.Sprintf("objects=%d", v.objects)
	}
	if v.unmanaged > 0 {
		name += fmt.Sprintf(",unmanaged=%d", v.unmanaged)
	}
	if v.guarded {
		name += ",guarded"
	}
	return name
}

// createUnmanaged creates n ConfigMaps of about 1 KiB in ns that no
// Application manages.
func createUnmanaged(b *testing.B, ns string, n int) {
	b.Helper()
	cfg := rest.CopyConfig(testenv.Config(b))
	cfg.QPS, cfg.Burst = 1000, 1000 // not the controller's limit: only setting the scene
	cs := kubernetes.NewForConfigOrDie(cfg)
	filler := strings.Repeat("x", 1024)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unmanaged-%05d", i), Namespace: ns}, Data: map[string]string{"filler": filler}}
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(b.Context(), cm, metav1.CreateOptions{}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func benchConverge(b *testing.B, bin string, v convergeCase) {
	ctx := b.Context() // no deadline: N = 500 takes minutes
	waitQuiet(b)
	ns, floorNS := testenv.Namespace(b), testenv.Namespace(b)
	n, size := v.apps, v.apps // size: the work, in Applications of 4 objects
	var git *gitserver.Server
	var repo *gitserver.Repo
	var files map[string][]byte
	if v.objects > 0 {
		n, size = 1, v.objects/4
		git, repo, files = benchLargeRepo(b, v.objects)
	} else {
		git, repo, files = benchRepo(b, n)
	}
	if v.unmanaged > 0 {
		createUnmanaged(b, ns, v.unmanaged)
	}
	guarded := v.guarded
	var extra []string
	if guarded {
		extra = []string{"--default-service-account", "deployer"}
	}
	ctrl := startController(b, bin, extra...)
	c := benchClient(b)
	benchSecrets(b, c, ns, git)
	project := ""
	if guarded {
		project = benchProject(b, c, ns)
	}

	// converge
	startRequests := ctrl.requests(b)
	profiled := ctrl.profileConverge(b, v.name(), size)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			app := benchApp(git, repo.Name, ns, i)
			app.Spec.Project = project
			if err := c.Create(ctx, app); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	waitAllReady(b, c, ns, n)
	converge := time.Since(start)
	convergeRequests := 0.0
	for method, v := range ctrl.requests(b) {
		convergeRequests += v - startRequests[method]
		b.ReportMetric((v-startRequests[method])/float64(n), "converge-"+method+"/app")
	}
	b.ReportMetric(convergeRequests/float64(n), "converge-requests/app")

	profiled()
	floor := applyFloor(b, files, floorNS)
	b.ReportMetric(converge.Seconds(), "converge-s")
	b.ReportMetric(floor.Seconds(), "floor-s")
	b.ReportMetric(converge.Seconds()/floor.Seconds(), "converge/floor")

	// steady state, once every rollout has finished (status writes for health
	// changes are real changes, not steady-state cost)
	waitAll(b, c, ns, n, "Healthy", func(app *v1.Application) bool {
		return app.Status.Health != nil && app.Status.Health.Status == "Healthy"
	})
	b.ReportMetric(time.Since(start).Seconds(), "create-to-healthy-s")
	time.Sleep(benchInterval) // let a periodic pass of every Application go by
	before, cpuBefore := ctrl.requests(b), ctrl.cpuSeconds(b)
	const window = time.Minute
	time.Sleep(window)
	after, cpuAfter := ctrl.requests(b), ctrl.cpuSeconds(b)
	total, writes := 0.0, 0.0
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		d := after[method] - before[method]
		total += d
		if method != "GET" {
			writes += d
		}
		b.ReportMetric(d/window.Minutes(), "steady-"+method+"/min")
	}
	passes := float64(n) * window.Seconds() / benchInterval.Seconds()
	b.ReportMetric(total/passes, "requests/app/interval")
	b.ReportMetric(writes/window.Minutes(), "steady-writes/min")
	b.ReportMetric((cpuAfter-cpuBefore)/window.Minutes(), "controller-CPU-s/min")
	rss := ctrl.memoryMiB(b)
	gauges := ctrl.gauges(b, "go_memstats_heap_inuse_bytes", "go_memstats_next_gc_bytes", "go_memstats_stack_inuse_bytes")
	b.ReportMetric(gauges["go_memstats_heap_inuse_bytes"]/(1<<20), "controller-heap-inuse-MiB")
	b.ReportMetric(gauges["go_memstats_next_gc_bytes"]/(1<<20), "controller-heap-goal-MiB")
	b.ReportMetric(gauges["go_memstats_stack_inuse_bytes"]/(1<<20), "controller-stacks-MiB")
	b.ReportMetric(rss["VmRSS"], "controller-RSS-MiB")
	b.ReportMetric(rss["RssAnon"], "controller-RSS-anon-MiB")
	b.ReportMetric(rss["RssFile"], "controller-RSS-file-MiB")
	b.ReportMetric(rss["VmHWM"], "controller-peak-RSS-MiB")
	b.ReportMetric(rss["renders"], "render-processes-RSS-MiB")
	b.ReportMetric(rss["Pss"]+rss["renders-Pss"], "controller-and-renders-PSS-MiB")
	if dir := os.Getenv("LOCKSTEP_BENCH_PROFILES"); dir != "" {
		ctrl.saveProfile(b, "heap", filepath.Join(dir, "heap-"+v.name()+".pprof"))
	}

	// drift → reverted
	var latencies []time.Duration
	for i := range 20 {
		latencies = append(latencies, driftReverted(b, ns, i, n, v.objects > 0))
	}
	b.ReportMetric(percentile(latencies, 50).Seconds(), "drift-revert-p50-s")
	b.ReportMetric(percentile(latencies, 95).Seconds(), "drift-revert-p95-s")
}

// driftReverted changes a managed object behind Lockstep's back and returns
// how long Lockstep took to put it back: a `kubectl scale` of the Deployment
// of app i (of n), or (large) an edit of the ith ConfigMap of app-000.
func driftReverted(b *testing.B, ns string, i, n int, large bool) time.Duration {
	ctx := b.Context()
	cs := kubernetes.NewForConfigOrDie(benchConfig(b))
	var reverted func() bool
	if large {
		name := fmt.Sprintf("cm-%05d", i)
		patch := []byte(`{"data":{"GREETING":"drifted"}}`)
		if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			b.Fatal(err)
		}
		reverted = func() bool {
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && cm.Data["GREETING"] == "hello"
		}
	} else {
		name := fmt.Sprintf("app-%03d", i%n)
		if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, name,
			&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}},
			metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
			b.Fatal(err)
		}
		reverted = func() bool {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && *d.Spec.Replicas == 1
		}
	}
	changed := time.Now()
	for !reverted() {
		if time.Since(changed) > 30*time.Second {
			b.Fatalf("drift %d not reverted in 30s", i)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(changed)
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// benchLargeRepo commits apps/app-000/cm-NNNNN.yaml: one Application of
// objects ConfigMaps, in one commit.
func benchLargeRepo(b *testing.B, objects int) (*gitserver.Server, *gitserver.Repo, map[string][]byte) {
	b.Helper()
	files := map[string][]byte{}
	for i := range objects {
		files[fmt.Sprintf("apps/app-000/cm-%05d.yaml", i)] = fmt.Appendf(nil,
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%05d}\ndata: {GREETING: hello, INDEX: %q}\n", i, strconv.Itoa(i))
	}
	git, repo := benchGit(b, files)
	return git, repo, files
}

// benchRepo commits apps/app-NNN/{sa,cm,svc,deploy}.yaml for n apps in one commit.
func benchRepo(b *testing.B, n int) (*gitserver.Server, *gitserver.Repo, map[string][]byte) {
	b.Helper()
	files := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("app-%03d", i)
		dir := "apps/" + name + "/"
		files[dir+"sa.yaml"] = fmt.Appendf(nil, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s}\n", name)
		files[dir+"cm.yaml"] = fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {GREETING: hello, INDEX: %q}\n", name, strconv.Itoa(i))
		files[dir+"svc.yaml"] = fmt.Appendf(nil, "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: %s}\n  ports: [{port: 80, targetPort: 8080}]\n", name, name)
		files[dir+"deploy.yaml"] = fmt.Appendf(nil, `apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      serviceAccountName: %[1]s
      containers:
      - name: web
        image: registry.internal/web@sha256:4b4e1c2a3f0d9e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0
        envFrom: [{configMapRef: {name: %[1]s}}]
        resources: {requests: {cpu: 10m, memory: 16Mi}}
`, name)
	}
	git, repo := benchGit(b, files)
	return git, repo, files
}

// benchGit starts a Git server whose repository "bench" holds files in one
// commit on main.
func benchGit(b *testing.B, files map[string][]byte) (*gitserver.Server, *gitserver.Repo) {
	b.Helper()
	git, err := gitserver.Start(testenv.Context(b), gitserver.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(git.Close)
	git.AddUser("lockstep", gitPassword, gitserver.Read)
	repo, err := git.CreateRepo("bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := repo.Commit(gitserver.CommitOptions{Files: files, Message: "bench", Author: gitserver.Person{Name: "Ada", Email: "ada@example.com"}}); err != nil {
		b.Fatal(err)
	}
	return git, repo
}

func benchApp(git *gitserver.Server, repo, ns string, i int) *v1.Application {
	automated := true
	return &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%03d", i), Namespace: ns},
		Spec: v1.ApplicationSpec{
			Source: v1.Source{
				Git: v1.GitSource{URL: git.HTTPSURL(repo), Ref: v1.GitRef{Branch: "main"},
					SecretRef: &v1.LocalObjectReference{Name: "git-auth"}, CASecretRef: &v1.LocalObjectReference{Name: "git-ca"}},
				Path: fmt.Sprintf("apps/app-%03d", i),
			},
			Destination: v1.Destination{Namespace: ns},
			Sync:        v1.SyncPolicy{Automated: &automated, Prune: true, SelfHeal: true, Interval: &metav1.Duration{Duration: benchInterval}},
		},
	}
}

// benchProject creates a Project with every object rule on and a service
// account "deployer" allowed what the namespace's admin is, and returns the
// Project's name.
func benchProject(b *testing.B, c client.Client, ns string) string {
	b.Helper()
	ctx := testenv.Context(b)
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: ns}}},
		&v1.Project{ObjectMeta: metav1.ObjectMeta{Name: ns}, Spec: v1.ProjectSpec{
			SourceNamespaces:    []string{ns},
			SourceRepos:         []string{"**"},
			Destinations:        []v1.ProjectDestination{{Namespace: ns}},
			NamespacedResources: v1.ResourceRules{Deny: []v1.GroupKind{{Group: "rbac.authorization.k8s.io", Kind: "*"}}},
			Images:              &v1.ImagePolicy{Registries: []string{"registry.internal"}, RequireDigest: true},
			Secrets:             &v1.SecretPolicy{RefusePlain: true},
		}},
	} {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	return ns
}

func benchSecrets(b *testing.B, c client.Client, ns string, git *gitserver.Server) {
	b.Helper()
	ca, err := os.ReadFile(git.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "git-auth", Namespace: ns}, Data: map[string][]byte{"username": []byte("lockstep"), "password": []byte(gitPassword)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "git-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": ca}},
	} {
		if err := c.Create(testenv.Context(b), s); err != nil {
			b.Fatal(err)
		}
	}
}

func benchConfig(b *testing.B) *rest.Config {
	cfg := rest.CopyConfig(testenv.Config(b))
	cfg.QPS, cfg.Burst = benchQPS, benchBurst
	return cfg
}

func benchClient(b *testing.B) client.Client {
	b.Helper()
	ctrllog.SetLogger(logr.Discard()) // the controller under test is another process
	c, err := client.New(benchConfig(b), client.Options{Scheme: benchScheme()})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func waitAllReady(b *testing.B, c client.Client, ns string, n int) {
	b.Helper()
	waitAll(b, c, ns, n, "Ready", func(app *v1.Application) bool {
		return meta.IsStatusConditionTrue(app.Status.Conditions, v1.ConditionReady)
	})
}

// waitAll waits until ok holds for all n Applications in ns. It watches them
// instead of listing them again and again: a list of 500 Applications every
// 200 ms was a tenth of the API server's CPU during a converge, a cost the
// floor did not carry.
func waitAll(b *testing.B, c client.Client, ns string, n int, what string, ok func(*v1.Application) bool) {
	b.Helper()
	limit := 10*time.Minute + time.Duration(n)*300*time.Millisecond // 2,000 rollouts take the control plane minutes
	ctx, cancel := context.WithTimeout(b.Context(), limit)
	defer cancel()
	wc, err := client.NewWithWatch(benchConfig(b), client.Options{Scheme: benchScheme()})
	if err != nil {
		b.Fatal(err)
	}
	done := map[string]bool{}
	var lastErr error
	for ctx.Err() == nil {
		list := &v1.ApplicationList{}
		if lastErr = c.List(ctx, list, client.InNamespace(ns)); lastErr != nil {
			time.Sleep(time.Second)
			continue
		}
		for i := range list.Items {
			done[list.Items[i].Name] = ok(&list.Items[i])
		}
		if countDone(done) == n {
			return
		}
		w, err := wc.Watch(ctx, &v1.ApplicationList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if lastErr = err; err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if app, isApp := ev.Object.(*v1.Application); isApp {
				done[app.Name] = ev.Type != watch.Deleted && ok(app)
			}
			if countDone(done) == n {
				w.Stop()
				return
			}
		}
		w.Stop() // the watch ended (expired, or the deadline): list again
	}
	b.Fatalf("%d of %d Applications %s after %s (last error: %v)", countDone(done), n, what, limit, lastErr)
}

func countDone(done map[string]bool) int {
	n := 0
	for _, d := range done {
		if d {
			n++
		}
	}
	return n
}

// applyFloor server-side applies the same objects with benchConcurrency workers
// and the controller's rate limits: the time no GitOps engine can beat.
func applyFloor(b *testing.B, files map[string][]byte, ns string) time.Duration {
	b.Helper()
	dyn := dynamic.NewForConfigOrDie(benchConfig(b))
	mapper := testenvMapper(b)
	var objs []*unstructured.Unstructured
	for _, data := range files {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &u.Object); err != nil {
			b.Fatal(err)
		}
		u.SetNamespace(ns)
		objs = append(objs, u)
	}
	ctx := b.Context()
	work := make(chan *unstructured.Unstructured)
	var wg sync.WaitGroup
	start := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
				if err != nil {
					b.Error(err)
					continue
				}
				if _, err := dyn.Resource(m.Resource).Namespace(ns).Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "floor", Force: true}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	return time.Since(start)
}

// controllerProcess is `lockstep controller` running as a child process.
type controllerProcess struct {
	pid     int
	metrics string
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "lockstep-bench-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "lockstep")
	_, here, _, _ := runtime.Caller(0)
	// Built as the image's binary is (make static), without cgo: with it, Go's
	// plugin package (which Kustomize imports) makes the linker export every
	// symbol and keep every exported method, and the loader touches all of
	// it: 98 against 61 MiB resident at idle.
	// lockstep-render beside it, where the controller looks for it.
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+"/", "./cmd/lockstep", "./cmd/lockstep-render")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = filepath.Join(filepath.Dir(here), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func buildLockstep(b *testing.B) string {
	b.Helper()
	bin, err := buildOnce()
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// startController starts the controller built as bin, with args and the
// flags in $LOCKSTEP_BENCH_CONTROLLER_ARGS (to compare settings, such as
// --kube-api-qps, without editing the benchmark).
func startController(b *testing.B, bin string, args ...string) *controllerProcess {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// Through proc, so the controller dies with the test binary however it ends.
	cp, err := proc.Start(proc.Spec{Name: "lockstep-controller", Path: bin,
		Args: append([]string{"controller", "--kubeconfig", testenv.ControlPlane(b).Kubeconfig, "--install-crds",
			"--concurrency", strconv.Itoa(benchConcurrency), "--metrics-address", addr, "--data-dir", b.TempDir(),
			"--tenant-reads-as-controller"}, append(append(profiling(), strings.Fields(os.Getenv("LOCKSTEP_BENCH_CONTROLLER_ARGS"))...), args...)...),
		LogPath: filepath.Join(cmp.Or(os.Getenv("LOCKSTEP_BENCH_LOGS"), b.TempDir()), "controller.log")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cp.Stop(5 * time.Second) })
	p := &controllerProcess{pid: cp.PID(), metrics: "http://" + addr + "/metrics"}
	testenv.Eventually(b, time.Minute, "the controller serves metrics", func(ctx context.Context) (bool, error) {
		_, err := p.scrape(ctx)
		return err == nil, err
	})
	return p
}

func (p *controllerProcess) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	byMethod := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `method="`)
		method, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return nil, err
		}
		byMethod[method] += v
	}
	return byMethod, sc.Err()
}

// gauges reads the named metrics (without labels) from the controller.
func (p *controllerProcess) gauges(b *testing.B, names ...string) map[string]float64 {
	b.Helper()
	resp, err := http.Get(p.metrics)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if out[name], err = strconv.ParseFloat(value, 64); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

func (p *controllerProcess) requests(b *testing.B) map[string]float64 {
	b.Helper()
	m, err := p.scrape(testenv.Context(b))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// profiling turns the controller's profiles on when LOCKSTEP_BENCH_PROFILES
// asks for them (sampling where goroutines block has a cost of its own).
func profiling() []string {
	if os.Getenv("LOCKSTEP_BENCH_PROFILES") == "" {
		return nil
	}
	return []string{"--profiling"}
}

// profileConverge, with LOCKSTEP_BENCH_PROFILES=dir, records a CPU profile of
// the controller's converge, and saves its block and mutex profiles once the
// returned func is called; without it, it does nothing.
func (p *controllerProcess) profileConverge(b *testing.B, name string, size int) func() {
	dir := os.Getenv("LOCKSTEP_BENCH_PROFILES")
	if dir == "" {
		return func() {}
	}
	done := make(chan struct{})
	seconds := max(5, size/25) // about the converge: 20 s at 500 Applications
	go func() {
		defer close(done)
		p.saveProfile(b, fmt.Sprintf("profile?seconds=%d", seconds), filepath.Join(dir, "cpu-"+name+".pprof"))
	}()
	return func() {
		<-done
		p.saveProfile(b, "block", filepath.Join(dir, "block-"+name+".pprof"))
		p.saveProfile(b, "mutex", filepath.Join(dir, "mutex-"+name+".pprof"))
	}
}

// saveProfile saves the controller's /debug/pprof/NAME at path.
func (p *controllerProcess) saveProfile(b *testing.B, name, path string) {
	b.Helper()
	resp, err := http.Get(strings.TrimSuffix(p.metrics, "/metrics") + "/debug/pprof/" + name)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	// Error, not Fatal: profileConverge calls this from its own goroutine.
	if resp.StatusCode != http.StatusOK {
		b.Errorf("/debug/pprof/%s: %s", name, resp.Status)
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Error(err)
	}
}

// cpuSeconds reads utime+stime of the controller from /proc/PID/stat.
func (p *controllerProcess) cpuSeconds(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		b.Fatal(err)
	}
	_, after, _ := strings.Cut(string(data), ") ") // the command name may hold spaces
	f := strings.Fields(after)
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// memoryMiB reads the controller's resident memory (proc.Memory) in MiB, and
// as "renders" and "renders-Pss" the VmRSS and Pss of its render processes
// together. The controller's Pss and its renders' add up to the memory the
// container uses: the binary's pages they share are counted once.
func (p *controllerProcess) memoryMiB(b *testing.B) map[string]float64 {
	b.Helper()
	mem, err := proc.Memory(p.pid)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for name, bytes := range mem {
		out[name] = float64(bytes) / (1 << 20)
	}
	for _, child := range proc.Children(p.pid) {
		if m, err := proc.Memory(child); err == nil {
			out["renders"] += float64(m["VmRSS"]) / (1 << 20)
			out["renders-Pss"] += float64(m["Pss"]) / (1 << 20)
		}
	}
	return out
}

func benchScheme() *k8sruntime.Scheme {
	scheme := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1.AddToScheme(scheme)
	return scheme
}

func testenvMapper(b *testing.B) meta.RESTMapper {
	b.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(testenv.Config(b))
	if err != nil {
		b.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(disco)
	if err != nil {
		b.Fatal(err)
	}
	return restmapper.NewDiscoveryRESTMapper(groups)
}
