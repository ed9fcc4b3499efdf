package scale_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/config/crd"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/auth/authtest"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// TestMain starts the control plane only for a benchmark: `make test` runs
// this package's (absent) tests without one.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	testenv.Main(m)
}

const (
	listApps       = 10000
	listNamespaces = 100
	listProjects   = 20
	createWorkers  = 32
	password       = "a long enough password"
	// controllerGOGC is what `lockstep controller` sets unless GOGC is in the
	// environment (internal/cli/controller.go).
	controllerGOGC = 50
)

// BenchmarkListApplications lists 10,000 Applications through the operator
// API, served over HTTP on loopback by the real server.Server with the real
// authentication and an RBAC policy, reading from a controller-runtime cache
// of Applications and Projects built as the controller builds its own. Setup
// (not timed): the Applications, spread over 100 namespaces and 20 Projects
// with varied labels and statuses, are created on the real control plane and
// the cache synced. Each sub-benchmark is one kind of list, its op one list
// (or one walk of every page), with p50/p99 latency from the client's side
// (request sent to the last byte of the answer). Every API-server request any
// client of the server makes after the cache synced is counted, and any is a
// failure: a list is answered from the watch cache alone. The process's heap
// and RSS are reported after the cache synced and after the lists.
//
//	go test -run '^$' -bench ListApplications -benchtime 200x -timeout 30m ./internal/server/scale/
func BenchmarkListApplications(b *testing.B) {
	e := newBench(b)
	ctx, cfg, scheme := e.ctx, e.cfg, e.scheme
	f := newFleet(listApps)
	created := e.createFleet(b, f)
	debug.FreeOSMemory() // the setup's garbage is not the server's
	baseline := measureMemory()

	// The server's clients, every request counted: a controller-runtime cache
	// and a client reading from it, as the controller's manager makes them.
	requests := &requestCounter{}
	countedCfg := rest.CopyConfig(cfg)
	countedCfg.Wrap(requests.wrap)
	apps, synced := startCache(ctx, b, countedCfg, scheme)
	afterSync := measureMemory()
	phase := requests.snapshot()

	api := startAPI(ctx, b, server.Deps{Apps: apps, Writer: apps}, f)
	viewer, team := api.login(b, "viewer"), api.login(b, "team")
	teamSees := f.count(func(i int) bool { return i%listProjects <= 2 && i%listNamespaces != 1 })

	// The CLI's own client walks every page once, as a check of what the
	// benchmark's lists will see.
	if all, err := api.client(b, viewer).AllApplications(ctx, server.ListOptions{}); err != nil || len(all) != listApps {
		b.Fatalf("server.Client.AllApplications as viewer: %d Applications, %v; want %d", len(all), err, listApps)
	}

	b.Run("setup", func(b *testing.B) {
		b.ReportMetric(float64(listApps), "apps")
		b.ReportMetric(created.Seconds(), "create-s")
		b.ReportMetric(synced.Seconds(), "cache-sync-s")
		baseline.report(b, "before-cache-")
		afterSync.report(b, "after-sync-")
		b.ReportMetric(afterSync.heap-baseline.heap, "cache-heap-MiB")
	})
	for _, c := range []listCase{
		{name: "first-page", token: viewer, query: "limit=100", total: listApps},
		{name: "project", token: viewer, query: "project=" + f.project(7), total: listApps / listProjects},
		{name: "sync=OutOfSync", token: viewer, query: "sync=OutOfSync",
			total: f.count(func(i int) bool { return f.sync(i) == v1.OutOfSync })},
		{name: "labels", token: viewer, query: "labels=" + url.QueryEscape("tier=web,env=prod"),
			total: f.count(func(i int) bool { return f.labels(i)["tier"] == "web" && f.labels(i)["env"] == "prod" })},
		{name: "search", token: viewer, query: "search=svc-12",
			total: f.count(func(i int) bool { return strings.Contains(f.name(i), "svc-12") })},
		{name: "restricted-user", token: team, query: "", total: teamSees},
	} {
		b.Run(c.name, func(b *testing.B) { api.benchList(b, requests, c) })
	}
	b.Run("walk-all-pages", func(b *testing.B) { api.benchWalk(b, requests, viewer, listApps) })
	b.Run("first-page-parallel", func(b *testing.B) { api.benchParallel(b, requests, viewer, "limit=100") })
	b.Run("memory", func(b *testing.B) {
		after := measureMemory()
		after.report(b, "after-lists-")
		n, seen := requests.since(phase)
		b.ReportMetric(float64(n), "apiserver-requests")
		if n != 0 {
			b.Fatalf("%d API-server requests after the cache synced; the first: %v", n, seen)
		}
	})
	// What the same cache would hold without managedFields, which nothing
	// reads from it (the API strips them from its answers): a second cache,
	// its own requests not counted, its heap measured next to the first.
	var strippedHeap float64 // measured once: the sub-benchmark runs twice
	b.Run("cache-without-managed-fields", func(b *testing.B) {
		if strippedHeap == 0 {
			strippedHeap = strippedCacheHeap(ctx, b, cfg, scheme)
		}
		b.ReportMetric(strippedHeap, "cache-heap-MiB")
	})
}

// bench is where every benchmark of this package starts: the controller's
// logger and GOGC, the CRDs installed on the control plane, and a client of
// its own for the setup, not counted and not limited (the API server is the
// limit).
type bench struct {
	ctx    context.Context // ends with the benchmark, or after 20 minutes
	cfg    *rest.Config    // the control plane's admin
	scheme *k8sruntime.Scheme
	setup  client.Client
}

func newBench(b *testing.B) *bench {
	b.Helper()
	ctrllog.SetLogger(logr.Discard())
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(controllerGOGC)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.Context()), 20*time.Minute)
	b.Cleanup(cancel)
	scheme, err := kube.NewScheme()
	if err != nil {
		b.Fatal(err)
	}
	cfg := testenv.Config(b)
	if err := crd.Install(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	setupCfg := rest.CopyConfig(cfg)
	setupCfg.QPS, setupCfg.Burst = -1, 0
	setup, err := client.New(setupCfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	return &bench{ctx: ctx, cfg: cfg, scheme: scheme, setup: setup}
}

// createFleet creates f with the setup client, removes it when the benchmark
// ends, and returns how long the creation took.
func (e *bench) createFleet(b *testing.B, f fleet) time.Duration {
	b.Helper()
	created := f.create(e.ctx, b, e.setup, createWorkers)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.Context()), 5*time.Minute)
		defer cancel()
		f.remove(ctx, b, e.setup)
	})
	return created
}

// startCache starts a cache of Applications and Projects and returns a client
// reading from it, and how long the cache took to sync.
func startCache(ctx context.Context, b *testing.B, cfg *rest.Config, scheme *k8sruntime.Scheme) (client.Client, time.Duration) {
	b.Helper()
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{
		Reader: informers, DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			b.Errorf("the cache: %v", err)
		}
	})
	start := time.Now()
	go func() { done <- informers.Start(ctx) }()
	for _, o := range []client.Object{&v1.Application{}, &v1.Project{}} {
		if _, err := informers.GetInformer(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	if !informers.WaitForCacheSync(ctx) {
		b.Fatal("the cache did not sync")
	}
	return c, time.Since(start)
}

// strippedCacheHeap starts a second cache of Applications that drops their
// managedFields, as cache.TransformStripManagedFields does, and returns the
// heap it added once synced, in MiB.
func strippedCacheHeap(ctx context.Context, b *testing.B, cfg *rest.Config, scheme *k8sruntime.Scheme) float64 {
	b.Helper()
	before := measureMemory()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	stripped, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = stripped.Start(ctx) }()
	if _, err := stripped.GetInformer(ctx, &v1.Application{}); err != nil {
		b.Fatal(err)
	}
	if !stripped.WaitForCacheSync(ctx) {
		b.Fatal("the second cache did not sync")
	}
	var list v1.ApplicationList
	if err := stripped.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil || len(list.Items) < listApps || list.Items[0].ManagedFields != nil {
		b.Fatalf("the second cache holds %d Applications (%v); want %d without managedFields", len(list.Items), err, listApps)
	}
	list = v1.ApplicationList{}
	return measureMemory().heap - before.heap
}

// testPolicy: viewer reads everything; team reads three Projects by a glob,
// less one namespace of them that a deny takes away.
func testPolicy(f fleet) string {
	prefix := "list-" + f.id
	return fmt.Sprintf(`
g, viewer, role:readonly
g, team, role:team
p, role:team, applications, get, %[1]s-p0[0-2]/*, allow
p, role:team, applications, get, %[1]s-p01/%[1]s-01/*, deny
`, prefix)
}

// listAPI is the server under test, served on loopback.
type listAPI struct {
	url  string
	auth *auth.Authenticator
	http *http.Client
}

// startAPI serves the real server.Server on loopback with deps and, added to
// them, the real authentication (the accounts viewer and team) and the RBAC
// policy of f.
func startAPI(ctx context.Context, b *testing.B, deps server.Deps, f fleet) *listAPI {
	b.Helper()
	a := authtest.New(b, auth.Options{}, map[string]string{"viewer": password, "team": password})
	policy := &rbac.Store{}
	if err := policy.Load(map[string]string{"policy.csv": testPolicy(f)}); err != nil {
		b.Fatal(err)
	}
	deps.Auth, deps.Policy, deps.Log = a, policy, slog.New(slog.DiscardHandler)
	srv, err := server.New(deps)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, addr, srv.Handler(), "", "") }()
	b.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			b.Errorf("serving the API: %v", err)
		}
	})
	api := &listAPI{url: "http://" + addr, auth: a, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := api.http.Get(api.url + server.PathHealth)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the API did not answer: %v", err)
		}
	}
	return api
}

func (api *listAPI) login(b *testing.B, name string) string {
	return authtest.Login(b, api.auth, name, password)
}

func (api *listAPI) client(b *testing.B, token string) *server.Client {
	c, err := server.NewClient(api.url, token)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// list sends one list request and reads its answer into buf; the latency is
// from sending it to its last byte.
func (api *listAPI) list(token, query string, buf *bytes.Buffer) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, api.url+server.PathApplications+"?"+query, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	buf.Reset()
	start := time.Now()
	resp, err := api.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(buf, resp.Body)
	d := time.Since(start)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s?%s: %s: %s", server.PathApplications, query, resp.Status, buf.String())
	}
	return d, err
}

// page is the part of an answer the benchmark checks.
type page struct {
	Items    []json.RawMessage `json:"items"`
	Total    int               `json:"total"`
	Continue string            `json:"continue"`
}

func decodePage(buf *bytes.Buffer) (page, error) {
	var p page
	err := json.Unmarshal(buf.Bytes(), &p)
	return p, err
}

// listCase is one list: who asks, what, and how many Applications it must
// select in all.
type listCase struct {
	name, token, query string
	total              int
}

func (api *listAPI) benchList(b *testing.B, requests *requestCounter, c listCase) {
	b.ReportAllocs()
	buf := &bytes.Buffer{}
	lat := make([]time.Duration, 0, b.N)
	before := requests.snapshot()
	if _, err := api.list(c.token, c.query, buf); err != nil {
		b.Fatal(err)
	}
	// The answer is the same every time: checked once, so that the CPU
	// measured is the server's and the request's, not the client's parse.
	p, err := decodePage(buf)
	if err != nil || p.Total != c.total || len(p.Items) != min(c.total, server.DefaultPageSize) {
		b.Fatalf("?%s: %d of %d Applications, %v; want %d of %d", c.query, len(p.Items), p.Total, err, min(c.total, server.DefaultPageSize), c.total)
	}
	cpu := cpuTime()
	b.ResetTimer()
	for range b.N {
		d, err := api.list(c.token, c.query, buf)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	reportCPU(b, cpu, b.N)
	reportLatency(b, "", lat)
	b.ReportMetric(float64(c.total), "selected")
	requests.mustBeNone(b, before, b.N)
}

// benchWalk walks every page at the largest page size; an op is one walk.
func (api *listAPI) benchWalk(b *testing.B, requests *requestCounter, token string, total int) {
	b.ReportAllocs()
	buf := &bytes.Buffer{}
	var walks, pages []time.Duration
	before := requests.snapshot()
	cpu := cpuTime()
	b.ResetTimer()
	for range b.N {
		var walk time.Duration
		seen, next := 0, ""
		for {
			query := fmt.Sprintf("limit=%d", server.MaxPageSize)
			if next != "" {
				query += "&continue=" + url.QueryEscape(next)
			}
			d, err := api.list(token, query, buf)
			if err != nil {
				b.Fatal(err)
			}
			walk += d
			pages = append(pages, d)
			b.StopTimer()
			p, err := decodePage(buf)
			if err != nil || p.Total != total {
				b.Fatalf("?%s: total %d, %v; want %d", query, p.Total, err, total)
			}
			seen += len(p.Items)
			next = p.Continue
			b.StartTimer()
			if next == "" {
				break
			}
		}
		if seen != total {
			b.Fatalf("a walk of every page saw %d Applications; want %d", seen, total)
		}
		walks = append(walks, walk)
	}
	b.StopTimer()
	reportCPU(b, cpu, len(pages))
	reportLatency(b, "walk-", walks)
	reportLatency(b, "page-", pages)
	b.ReportMetric(float64(len(pages))/float64(b.N), "pages/walk")
	requests.mustBeNone(b, before, len(pages))
}

// benchParallel lists from several clients at once (4 on this 2-core
// machine), as several operators or UI tabs do.
func (api *listAPI) benchParallel(b *testing.B, requests *requestCounter, token, query string) {
	b.ReportAllocs()
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	before := requests.snapshot()
	clients := max(1, 4/runtime.GOMAXPROCS(0))
	b.SetParallelism(clients) // clients × GOMAXPROCS goroutines: 4 on 2 cores
	start, cpu := time.Now(), cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := &bytes.Buffer{}
		for pb.Next() {
			d, err := api.list(token, query, buf)
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/time.Since(start).Seconds(), "lists/s")
	b.ReportMetric(float64(clients*runtime.GOMAXPROCS(0)), "clients")
	reportCPU(b, cpu, len(lat))
	reportLatency(b, "", lat)
	requests.mustBeNone(b, before, len(lat))
}

// reportLatency reports the median and the 99th percentile, in milliseconds.
func reportLatency(b *testing.B, prefix string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := int(float64(len(d))*p+0.5) - 1
		return float64(d[max(0, min(i, len(d)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}

// cpuTime is the CPU time this process has used, user and system: the
// server's and the client's side of each request (both are in this process),
// and less sensitive than latency to other work on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per list since start.
func reportCPU(b *testing.B, start time.Duration, lists int) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(max(lists, 1)), "cpu-ms/list")
}

// memory is the process's live heap (after a collection) and resident set,
// in MiB.
type memory struct{ heap, rss, anon float64 }

func measureMemory() memory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memory{heap: float64(ms.HeapAlloc) / (1 << 20)}
	if p, err := proc.Memory(os.Getpid()); err == nil {
		m.rss, m.anon = float64(p["VmRSS"])/(1<<20), float64(p["RssAnon"])/(1<<20)
	}
	return m
}

func (m memory) report(b *testing.B, prefix string) {
	b.ReportMetric(m.heap, prefix+"heap-MiB")
	b.ReportMetric(m.rss, prefix+"RSS-MiB")
	b.ReportMetric(m.anon, prefix+"RSS-anon-MiB")
}

// requestCounter counts the requests sent through a rest.Config it wraps.
type requestCounter struct {
	mu   sync.Mutex
	sent []string // method and path of each, in order
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.sent = append(c.sent, r.Method+" "+r.URL.RequestURI())
		c.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (c *requestCounter) snapshot() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// since returns how many requests were sent after snapshot mark, and the
// first few of them.
func (c *requestCounter) since(mark int) (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	after := c.sent[mark:]
	return len(after), slices.Clone(after[:min(len(after), 5)])
}

// mustBeNone reports the API-server requests per list since mark and fails
// the benchmark if there was any.
func (c *requestCounter) mustBeNone(b *testing.B, mark, lists int) {
	n, seen := c.since(mark)
	b.ReportMetric(float64(n)/float64(max(lists, 1)), "apiserver-req/list")
	if n != 0 {
		b.Fatalf("%d API-server requests during %d lists; the first: %v", n, lists, seen)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// count is how many of the fleet's Applications pass keep.
func (f fleet) count(keep func(i int) bool) int {
	n := 0
	for i := range f.apps {
		if keep(i) {
			n++
		}
	}
	return n
}
