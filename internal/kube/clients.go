package kube

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Clients are one identity's clients of one cluster. They are built here and
// nowhere else, so every part of Lockstep talks to the API server the same way:
// one discovery cache per cluster, shared by every identity derived with As.
type Clients struct {
	// Config is the identity's REST configuration (impersonation included).
	Config *rest.Config
	// Dynamic reads and writes objects of any kind.
	Dynamic dynamic.Interface
	// Lookups reads objects the watch cache cannot see (those Lockstep does
	// not track), with a rate limit of its own: a sync that must know whether
	// what it creates already exists does not wait behind the applies.
	Lookups dynamic.Interface
	// LookupsMetadata lists what exists where many objects must be looked
	// up at once (names only), sharing Lookups' rate limit.
	LookupsMetadata metadata.Interface
	// Typed is client-go's clientset, for the API server's own resources.
	Typed kubernetes.Interface
	// Mapper maps kinds to resources from cached discovery; Reset forgets it
	// (after a CRD is established). Shared by every identity.
	Mapper meta.ResettableRESTMapper
	// Shortcuts maps kinds as kubectl users type them (deploy, deployments.apps)
	// over the same discovery cache.
	Shortcuts meta.RESTMapper

	mu         sync.Mutex
	identities map[string]*Clients // by impersonated user
	reader     client.Client       // built on first use
}

// NewClients builds the clients of the identity cfg describes.
func NewClients(cfg *rest.Config) (*Clients, error) {
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(disco)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	c := &Clients{Mapper: mapper, Shortcuts: restmapper.NewShortcutExpander(mapper, cached, nil)}
	return c, c.connect(cfg)
}

func (c *Clients) connect(cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lookupsCfg := rest.CopyConfig(cfg)
	lookupsCfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst) // its own, shared by both lookup clients
	if cfg.QPS <= 0 {
		lookupsCfg.RateLimiter = nil // client-go's default, or none when QPS < 0
	}
	lookups, err := dynamic.NewForConfig(lookupsCfg)
	if err != nil {
		return err
	}
	lookupsMeta, err := metadata.NewForConfig(lookupsCfg)
	if err != nil {
		return err
	}
	typed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.Config, c.Dynamic, c.Lookups, c.LookupsMetadata, c.Typed, c.identities = cfg, dyn, lookups, lookupsMeta, typed, map[string]*Clients{}
	return nil
}

// As returns the clients that act as user through impersonation (for a service
// account, system:serviceaccount:NAMESPACE:NAME), sharing discovery with c.
// The same user gets the same clients; an empty user is c itself.
func (c *Clients) As(user string) (*Clients, error) {
	if user == "" {
		return c, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.identities[user]; ok {
		return d, nil
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	d := &Clients{Mapper: c.Mapper, Shortcuts: c.Shortcuts}
	if err := d.connect(cfg); err != nil {
		return nil, fmt.Errorf("acting as %s: %w", user, err)
	}
	c.identities[user] = d
	return d, nil
}

// ServiceAccountUser is the user name Kubernetes gives a service account.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// NewScheme knows Kubernetes' own kinds and Lockstep's.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// NewClient returns a controller-runtime client that knows Applications and
// Projects, reading straight from the API server (no cache): for the CLI.
func NewClient(cfg *rest.Config) (client.Client, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// Reader returns a controller-runtime client of this identity that reads
// straight from the API server, with the shared discovery cache. Built once.
func (c *Clients) Reader() (client.Reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reader != nil {
		return c.reader, nil
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	r, err := client.New(c.Config, client.Options{Scheme: scheme, Mapper: c.Mapper})
	if err != nil {
		return nil, err
	}
	c.reader = r
	return r, nil
}
