// Package controller is Lockstep's composition root: it builds the clients,
// the manager, the watch cache, the Pipeline and the Reconciler, the ledger with
// its key, the API server and the retention loop, and runs them until the
// context ends. Nothing else in Lockstep starts a process-wide part.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/lockstep-dev/lockstep/config/crd"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/notify/subscription"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

// Options configure the controller.
type Options struct {
	// Concurrency is how many Applications reconcile at once.
	Concurrency int
	// LeaderElection makes only one of several replicas act.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease; created when missing.
	LeaderElectionNamespace string
	// InstallCRDs installs or upgrades the CRDs at start.
	InstallCRDs bool
	// Namespace is the controller's own: the Secrets of the ledger key and the
	// API token live there, and a Project's trusted keys unless it names
	// another namespace. Created when missing (and allowed).
	Namespace string
	// DefaultServiceAccount is the service account, in each Application's
	// namespace, that Applications act as when neither they nor their Project
	// name one. Empty: they act as the controller itself.
	DefaultServiceAccount string
	// TenantReadsAsController lets Applications without a service account have
	// the Secrets they name read as the controller (a single team's cluster).
	TenantReadsAsController bool
	// MaxSyncTimeout caps every Application's spec.sync.timeout: how long one
	// sync may hold a worker.
	MaxSyncTimeout time.Duration
	// FetchTimeout bounds one look at a repository (0: 3 minutes).
	FetchTimeout time.Duration
	// Render sizes the sandbox processes renders run in.
	Render sandbox.Options
	// RequireProjects makes a missing Project a denial, "default" included
	// (without it, a missing "default" allows everything).
	RequireProjects bool
	// DataDir holds the repository cache and the audit ledger (ledger.db,
	// unless LedgerDSN).
	DataDir string
	// RepositoryCacheSize bounds the repository cache, in bytes; 0: half the
	// data directory's file system, so fetches leave the ledger its room.
	RepositoryCacheSize int64
	// LedgerAcceptNewKey continues an existing ledger under a signing key that
	// is not the one its head was signed with (the key Secret was lost or
	// replaced), recording the change; without it the controller refuses to start.
	LedgerAcceptNewKey bool
	// LedgerRetention drops old records (with a signed cut); zero keeps all.
	LedgerRetention audit.Retention
	// LedgerDSN, when set, keeps the ledger in this PostgreSQL database
	// instead of ledger.db in DataDir, so that replicas on different nodes
	// share it (internal/audit/postgres).
	LedgerDSN string
	// APIAddress serves the HTTP API (ledger, blame); "" or "0" disables it.
	APIAddress string
	// APIToken is the API's bearer token; when empty, the token in the Secret
	// lockstep-api-token (generated on first start).
	APIToken string
	// APITLSCert and APITLSKey serve the API over TLS when set.
	APITLSCert, APITLSKey string
	// SessionTTL is how long an API session lasts (0: 12 hours).
	SessionTTL time.Duration
	// OIDC configures single sign-on (off without an issuer).
	OIDC OIDCOptions
	// APIInsecureHTTP allows plain HTTP on an address other than loopback,
	// where the bearer token crosses the network in clear text.
	APIInsecureHTTP bool
	// APIPublicURL is the URL users reach the API and the UI at
	// (https://lockstep.example), when a proxy in front of it (an ingress
	// that ends TLS) gives it another name or scheme: a browser's pages from
	// there are the API's own. Empty: the origin of OIDC.RedirectURL, if any.
	APIPublicURL string
	// APIService names a Service without a selector that the leader points
	// at itself (PodIP, PodName) with an EndpointSlice: only the leader
	// serves the API. Empty: none (out of a cluster).
	APIService, PodIP, PodName string
	// MetricsAddress serves Prometheus metrics; "0" disables them.
	MetricsAddress string
	// Profiling adds Go's /debug/pprof/ handlers to the metrics address.
	Profiling bool
	// Logger receives the controller's structured logs.
	Logger logr.Logger
}

// DefaultOptions are sensible for a single replica.
func DefaultOptions() Options {
	return Options{Render: sandbox.DefaultOptions(), MaxSyncTimeout: 30 * time.Minute, Concurrency: 4, Namespace: "lockstep-system", LeaderElectionNamespace: "lockstep-system", DataDir: filepath.Join(os.TempDir(), "lockstep"), MetricsAddress: "0"}
}

// warnUnconfined logs, as an error, that renders run without their sandbox:
// a controller's renders run what anyone who can push to a watched
// repository wrote, next to the controller's credentials.
func warnUnconfined(log logr.Logger, render sandbox.Options) {
	if render.Unconfined {
		log.Error(nil, "renders run unconfined (--unsafe-unconfined-renders): a repository can make them read this machine's files and the controller's environment (its service account token and $LOCKSTEP_LEDGER_DSN among them), reach the network and exhaust its memory; a controller should never run so")
	}
}

// Run runs the controller until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	ctrl.SetLogger(opts.Logger)
	warnUnconfined(opts.Logger, opts.Render)
	if opts.InstallCRDs {
		if err := crd.Install(ctx, cfg); err != nil {
			return err
		}
	}
	clients, err := kube.NewClients(cfg)
	if err != nil {
		return err
	}
	if !opts.InstallCRDs { // installed, they are this release's; the OpenAPI documents follow a moment later
		if err := crd.CheckServed(clients.Typed.Discovery()); errors.Is(err, crd.ErrOlder) {
			return err
		} else if err != nil {
			opts.Logger.Info("could not check the CustomResourceDefinitions the cluster serves against this release's", "error", err.Error())
		}
	}
	if opts.LeaderElection {
		if err := ensureNamespace(ctx, clients.Typed, opts.LeaderElectionNamespace); err != nil {
			return err
		}
	}
	scheme, err := kube.NewScheme()
	if err != nil {
		return err
	}
	probe := &probes{}
	if opts.Profiling {
		// Where goroutines wait (channels, locks, the client's rate limiter)
		// is what a CPU profile cannot show: sample about one blocking event
		// per millisecond spent blocked, and one contended lock in a hundred.
		runtime.SetBlockProfileRate(int(time.Millisecond))
		runtime.SetMutexProfileFraction(100)
	}
	extra := profilingHandlers(opts.Profiling)
	if extra == nil {
		extra = map[string]http.Handler{}
	}
	for path, h := range probe.handlers() {
		extra[path] = h
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  opts.Logger,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "lockstep-controller",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// The process ends when the manager stops, so the lease can be
		// given up at once: in a rolling upgrade the other replica takes
		// over now, not when the lease runs out (15 s).
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddress, ExtraHandlers: extra},
		HealthProbeBindAddress:        "0",
		// Secrets and ConfigMaps are read when needed (credentials only when the
		// repository must be asked, values only when rendering), never watched
		// cluster-wide: that would keep every Secret of the cluster in memory.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}},
	})
	if err != nil {
		return err
	}
	mgrCache := mgr.GetCache()
	probe.cache.Store(&mgrCache)
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return err
	}
	watchEvents := &liveEvents{}
	live := kube.NewCache(clients.Dynamic, watchEvents.handle)
	defer live.Stop()
	cacheSize, err := repositoryCacheSize(opts)
	if err != nil {
		return err
	}
	renderFn, closeRenders, err := Renderer(opts.Render)
	if err != nil {
		return err
	}
	defer closeRenders()
	pipeline, applier, err := NewPipeline(clients, mgr.GetClient(), PipelineConfig{
		Render: renderFn, RepositoryCacheSize: cacheSize,
		RepositoryDir: filepath.Join(opts.DataDir, "repositories"), Namespace: opts.Namespace,
		DefaultServiceAccount: opts.DefaultServiceAccount, Live: live, Logger: opts.Logger, RequireProjects: opts.RequireProjects, MaxSyncTimeout: opts.MaxSyncTimeout,
		TenantReadsAsController: opts.TenantReadsAsController, FetchTimeout: opts.FetchTimeout,
	})
	if err != nil {
		return err
	}
	watchEvents.applier = applier
	ledger, store, err := openLedger(ctx, clients.Typed, opts)
	if err != nil {
		return err
	}
	defer store.Close()
	// Notifications are delivered in the background; those still queued at
	// shutdown get a few seconds (after the syncs are recorded: defers run
	// last first).
	subs := subscription.New(subscription.Options{Client: mgr.GetClient(), Namespace: opts.Namespace, PublicURL: opts.APIPublicURL,
		Log: slog.New(logr.ToSlogHandler(opts.Logger))})
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyDrain)
		defer cancel()
		_ = subs.Close(ctx)
	}()
	if err := subs.SetupWithManager(mgr); err != nil {
		return err
	}
	r, err := reconcile.NewReconciler(reconcile.ReconcilerDeps{
		Client: mgr.GetClient(), Pipeline: pipeline, Events: mgr.GetEventRecorder("lockstep"), Ledger: ledger, Clock: time.Now,
		Notifier: subs,
	})
	if err != nil {
		return err
	}
	// Syncs running in the background live as long as this run: when it ends
	// (stopped, leadership lost, a runnable failed), they are cancelled and
	// recorded before the ledger closes (defers run last first).
	runCtx, stopSyncs := context.WithCancel(ctx)
	defer r.WaitForSyncs()
	defer stopSyncs()
	if err := r.SetupWithManager(runCtx, mgr, opts.Concurrency, watchEvents.source()); err != nil {
		return err
	}
	if err := addMetrics(mgr, opts.Logger); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		retain(ctx, ledger, opts.LedgerRetention, opts.Logger)
		return nil
	})); err != nil {
		return err
	}
	if opts.APIAddress != "" && opts.APIAddress != "0" {
		if err := addAPIServer(ctx, mgr, clients, pipeline, r, store, ledger, opts); err != nil {
			return err
		}
	}
	return mgr.Start(ctx)
}

// notifyDrain is how long a stopping controller waits for the
// notifications still queued.
const notifyDrain = 5 * time.Second

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, name string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	// A controller with least privilege may not create namespaces: the
	// install made its own, and a missing one is named by the next error.
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

func profilingHandlers(on bool) map[string]http.Handler {
	if !on {
		return nil
	}
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
		"/debug/pprof/heap":    pprof.Handler("heap"),
		"/debug/pprof/allocs":  pprof.Handler("allocs"),
		"/debug/pprof/block":   pprof.Handler("block"),
		"/debug/pprof/mutex":   pprof.Handler("mutex"),
	}
}
