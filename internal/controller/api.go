package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/go-logr/logr"
	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/receiver"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/release"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/server/rbac"
	"github.com/lockstep-dev/lockstep/internal/source"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// addAPIServer adds the operator API to mgr: its accounts and session key
// made on first start, its Secrets and RBAC policy watched, served on
// opts.APIAddress. Only the leader serves: the ledger is the leader's (a
// PostgreSQL store would let every replica answer).
func addAPIServer(ctx context.Context, mgr manager.Manager, clients *kube.Clients, pipeline *reconcile.Pipeline, refresher receiver.Refresher, store audit.Store, ledger *audit.Ledger, opts Options) error {
	if err := server.CheckPlainHTTP(opts.APIAddress, opts.APITLSCert != "", opts.APIInsecureHTTP); err != nil {
		return err
	}
	var redirectURL string
	if opts.OIDC.Enabled() {
		redirectURL = opts.OIDC.RedirectURL
	}
	origin, err := publicOrigin(opts.APIPublicURL, redirectURL)
	if err != nil {
		return err
	}
	if server.LacksPublicURL(opts.APIAddress, opts.APITLSCert != "", origin) {
		opts.Logger.Info("API warning", "warning", "the API serves plain HTTP on "+opts.APIAddress+" without --api-public-url: "+
			"behind a proxy that ends TLS, the browser's pages are https://NAME and their logins and actions are refused (403); "+
			"give --api-public-url=https://NAME, the URL users reach the UI at")
	}
	ledgerToken, err := apiToken(ctx, clients.Typed, opts)
	if err != nil {
		return err
	}
	if err := bootstrapAuth(ctx, clients.Typed, opts.Namespace, opts.Logger); err != nil {
		return err
	}
	authn := auth.New(secretWriter{cs: clients.Typed, namespace: opts.Namespace}, auth.Options{LedgerToken: ledgerToken, SessionTTL: opts.SessionTTL})
	policy := &rbac.Store{}
	children := kube.NewChildren(clients.Dynamic)
	hub, err := publishChanges(ctx, mgr)
	if err != nil {
		return err
	}
	log := slog.New(logr.ToSlogHandler(opts.Logger))
	// Git servers' push events arrive on the API's address: Receivers live
	// only where it is served (the leader).
	hooks, err := receiver.New(receiver.Options{Client: mgr.GetClient(), Refresher: refresher, Namespace: opts.Namespace, PublicURL: origin, Log: log})
	if err != nil {
		return err
	}
	if err := hooks.SetupWithManager(mgr); err != nil {
		return err
	}
	deps := server.Deps{
		Apps: mgr.GetClient(), Writer: mgr.GetClient(), Previewer: previewer{pipeline}, Releaser: releaser{pipeline}, Recorder: ledger,
		Cluster: newCluster(clients, children, pipeline), Hub: hub,
		Ledger:    &server.Service{Store: store, Live: server.NewKubeLive(clients), FieldManager: apply.FieldManager},
		PublicKey: ledger.PublicKey(), Auth: authn, Policy: policy, SecureCookies: opts.APITLSCert != "", Log: log,
		RequireProjects: opts.RequireProjects, PublicOrigin: origin, Hooks: hooks,
	}
	// Single sign-on: a misconfiguration stops the start; a provider that
	// cannot be reached does not (the relying party retries discovery).
	var sso *auth.OIDCConfig
	var rp *relyingParty
	if opts.OIDC.Enabled() {
		cfg, caPEM, err := opts.OIDC.config()
		if err != nil {
			return err
		}
		sso, rp = &cfg, &relyingParty{issuer: cfg.Issuer}
		deps.OIDC, deps.OIDCPublic = rp, server.PublicOIDC(cfg, caPEM)
	}
	srv, err := server.New(deps)
	if err != nil {
		return err
	}
	if opts.APIService != "" {
		err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			return advertiseAPI(ctx, clients.Typed, opts.Namespace, opts.APIService, opts.PodIP, opts.PodName, opts.APIAddress, opts.Logger)
		}))
		if err != nil {
			return err
		}
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		defer children.Stop()
		if rp != nil {
			go rp.discover(ctx, *sso, discoveryRetryMin, opts.Logger)
		}
		if err := watchAuth(ctx, clients.Typed, opts.Namespace, authn, policy, sso, opts.Logger); err != nil {
			return err
		}
		return server.Serve(ctx, opts.APIAddress, srv.Handler(), opts.APITLSCert, opts.APITLSKey)
	}))
}

// publicOrigin is the origin users reach the API at: --api-public-url's,
// else --oidc-redirect-url's (the callback is on the API's public name);
// empty when neither is given. Given both, their origins must agree: a
// browser sign-in's session cookie is set on the callback's name.
func publicOrigin(publicURL, redirectURL string) (string, error) {
	var redirect string
	if redirectURL != "" {
		o, err := server.OriginOf(redirectURL)
		if err != nil {
			return "", fmt.Errorf("--oidc-redirect-url %w", err)
		}
		redirect = o
	}
	if publicURL == "" {
		return redirect, nil
	}
	u, err := url.Parse(publicURL)
	if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--api-public-url %q: want the URL users reach the UI at, with no path (https://lockstep.example)", publicURL)
	}
	public, err := server.OriginOf(publicURL)
	if err != nil {
		return "", fmt.Errorf("--api-public-url %w", err)
	}
	if redirect != "" && redirect != public {
		return "", fmt.Errorf("--api-public-url %s and --oidc-redirect-url %s name different origins: the callback must be on the name users reach the UI at", public, redirect)
	}
	return public, nil
}

// previewer is server.Previewer over the controller's Pipeline: the ref is
// resolved anew, so the preview shows what a sync would apply now.
type previewer struct{ pipeline *reconcile.Pipeline }

func (p previewer) Preview(ctx context.Context, app *v1.Application, revision *source.Ref) (*pass.Pass, error) {
	return p.pipeline.Preview(ctx, app, reconcile.PreviewOptions{Fresh: true, Revision: revision})
}

// releaser is server.Releaser over the controller's Pipeline.
type releaser struct{ pipeline *reconcile.Pipeline }

func (r releaser) Rollback(ctx context.Context, app *v1.Application, by string, req server.RollbackRequest) (release.RollbackResult, error) {
	return r.pipeline.Rollback(ctx, app, reconcile.RollbackOptions{To: req.To, By: by, Reason: req.Reason, Include: req.Include, PathOnly: req.PathOnly, DryRun: req.DryRun})
}

func (r releaser) Promote(ctx context.Context, app *v1.Application, by string, req server.PromoteRequest, ledger func(context.Context, string, string) string) (release.PromotionResult, error) {
	return r.pipeline.Promote(ctx, app, reconcile.PromoteOptions{By: by, Reason: req.Reason, Ledger: ledger, DryRun: req.DryRun})
}

// publishChanges feeds every change the manager's watch sees of an
// Application to a Hub, for the API's live streams.
func publishChanges(ctx context.Context, mgr manager.Manager) (*server.Hub, error) {
	hub := server.NewHub()
	informer, err := mgr.GetCache().GetInformer(ctx, &v1.Application{})
	if err != nil {
		return nil, err
	}
	publish := func(o any, deleted bool) {
		if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		if app, ok := o.(*v1.Application); ok {
			hub.Publish(app, deleted)
		}
	}
	_, err = informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { publish(o, false) },
		UpdateFunc: func(_, o any) { publish(o, false) },
		DeleteFunc: func(o any) { publish(o, true) },
	})
	return hub, err
}
