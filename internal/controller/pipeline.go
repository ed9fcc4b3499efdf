package controller

import (
	"context"
	"fmt"

	"time"

	"golang.org/x/sys/unix"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/render"
	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
	"github.com/lockstep-dev/lockstep/internal/source"
)

// maxCachedRenders bounds the render cache; one entry per Application is typical.
const maxCachedRenders = 2048

// PipelineConfig is what NewPipeline needs besides the cluster.
type PipelineConfig struct {
	// Render renders; see Renderer. Required.
	Render render.Func
	// RepositoryDir holds the repository cache.
	RepositoryDir string
	// RepositoryCacheSize bounds it, in bytes; 0: unbounded.
	RepositoryCacheSize int64
	// Namespace is the controller's: Projects' trusted keys live there unless
	// they name another namespace.
	Namespace string
	// DefaultServiceAccount is the controller's --default-service-account.
	DefaultServiceAccount string
	// Live, when set, is the watch cache the Applier reads live objects from;
	// without one it reads them from the API server.
	Live *kube.Cache
	// Logger gets what a pass cannot report otherwise.
	Logger logr.Logger
	// RequireProjects fails closed on a missing Project, "default" included.
	RequireProjects bool
	// MaxSyncTimeout caps every Application's spec.sync.timeout.
	MaxSyncTimeout time.Duration
	// FetchTimeout bounds one look at a repository; 0: the default.
	FetchTimeout time.Duration
	// TenantReadsAsController: see reconcile.Deps.
	TenantReadsAsController bool
}

// NewPipeline builds the Pipeline exactly as the controller runs it, for the
// controller, `lockstep diff` and the API alike: a preview from any of them is
// the pass the controller would run. reader reads Applications, Projects and
// the Secrets of credentials and keys. It asks the API server its version once,
// for Helm's .Capabilities. It returns the Applier the Pipeline acts through.
func NewPipeline(clients *kube.Clients, reader client.Reader, cfg PipelineConfig) (*reconcile.Pipeline, *apply.Applier, error) {
	if cfg.Render == nil {
		return nil, nil, fmt.Errorf("PipelineConfig.Render is required: renders are confined by choice, never by default omission")
	}
	version, err := clients.Typed.Discovery().ServerVersion()
	if err != nil {
		return nil, nil, fmt.Errorf("reaching the API server: %w", err)
	}
	var opts []apply.Option
	if cfg.Live != nil {
		opts = append(opts, apply.WithLiveCache(cfg.Live))
	}
	applier := apply.New(clients, opts...)
	pipeline, err := reconcile.NewPipeline(reconcile.Deps{
		Reader:                  reader,
		Clients:                 clients,
		Sources:                 source.NewCache(cfg.RepositoryDir, source.WithMaxSize(cfg.RepositoryCacheSize)),
		Renders:                 render.NewCache(maxCachedRenders, reconcile.MeasuredRender(cfg.Render)),
		Applier:                 applier,
		Clock:                   time.Now,
		Logger:                  cfg.Logger,
		Namespace:               cfg.Namespace,
		DefaultServiceAccount:   cfg.DefaultServiceAccount,
		KubeVersion:             version.GitVersion,
		RequireProjects:         cfg.RequireProjects,
		MaxSyncTimeout:          cfg.MaxSyncTimeout,
		FetchTimeout:            cfg.FetchTimeout,
		TenantReadsAsController: cfg.TenantReadsAsController,
	})
	return pipeline, applier, err
}

// Renderer returns how renders run: in sandbox processes of lockstep-render
// with opts. This binary links no renderer to run them itself (see package
// render). close stops the processes.
func Renderer(opts sandbox.Options) (fn render.Func, close func(), err error) {
	pool, err := sandbox.New(opts)
	if err != nil {
		return nil, nil, err
	}
	if err := pool.Check(context.Background()); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool.Render, pool.Close, nil
}

// repositoryCacheSize is opts.RepositoryCacheSize, or half the size of the
// file system the data directory is on.
func repositoryCacheSize(opts Options) (int64, error) {
	if opts.RepositoryCacheSize > 0 {
		return opts.RepositoryCacheSize, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(opts.DataDir, &st); err != nil {
		return 0, fmt.Errorf("sizing the repository cache from %s: %w", opts.DataDir, err)
	}
	return int64(st.Blocks) * int64(st.Bsize) / 2, nil //nolint:unconvert // Bsize is uint32 on some systems
}
