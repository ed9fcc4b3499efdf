package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/notify"
	"github.com/lockstep-dev/lockstep/internal/receiver"
	"github.com/lockstep-dev/lockstep/internal/reconcile"
	"github.com/lockstep-dev/lockstep/internal/server"
)

// appInfo is lockstep_app_info, Argo CD's argocd_app_info under Lockstep's
// name with the same labels (but operation).
var appInfo = prometheus.NewDesc("lockstep_app_info",
	"Information about an Application: always 1, its labels say where it comes from and goes, and its sync and health status.",
	[]string{"namespace", "name", "project", "autosync_enabled", "repo", "dest_server", "dest_namespace", "sync_status", "health_status"}, nil)

// appCollectorTimeout bounds one scrape's read of the cache; a scrape before
// the cache synced would otherwise wait for it.
const appCollectorTimeout = 5 * time.Second

// appCollector computes lockstep_app_info at each scrape from the Applications
// in the watch cache: no request to the API server, and a deleted Application's
// series goes with it.
type appCollector struct {
	// ctx is the run that registered the collector (the manager's, while
	// this process leads): Collect has no context of its own, and a scrape
	// must end when the run does.
	ctx  context.Context
	apps client.Reader // the manager's cache; read only
	log  logr.Logger
}

func newAppCollector(ctx context.Context, apps client.Reader, log logr.Logger) *appCollector {
	return &appCollector{ctx: ctx, apps: apps, log: log}
}

// Describe implements prometheus.Collector.
func (c *appCollector) Describe(ch chan<- *prometheus.Desc) { ch <- appInfo }

// Collect implements prometheus.Collector. A failed read leaves
// lockstep_app_info out of this scrape and is logged: an error would fail the
// whole scrape, every other metric with it.
func (c *appCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(c.ctx, appCollectorTimeout)
	defer cancel()
	var list v1.ApplicationList
	// The cache's own objects, not copies: 10,000 Applications are not copied
	// at every scrape. Nothing here writes to them.
	if err := c.apps.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		c.log.Error(err, "listing Applications for lockstep_app_info")
		return
	}
	for i := range list.Items {
		ch <- prometheus.MustNewConstMetric(appInfo, prometheus.GaugeValue, 1, appInfoLabels(&list.Items[i])...)
	}
}

// appInfoLabels are the label values of app's lockstep_app_info, in appInfo's
// order. A status not known yet is Unknown, as in Argo CD.
func appInfoLabels(app *v1.Application) []string {
	project := app.Spec.Project
	if project == "" {
		project = v1.DefaultProject
	}
	sync := string(app.Status.Sync.Status)
	if sync == "" {
		sync = string(v1.Unknown)
	}
	health := "Unknown"
	if h := app.Status.Health; h != nil && h.Status != "" {
		health = h.Status
	}
	return []string{app.Namespace, app.Name, project, strconv.FormatBool(app.Spec.Sync.IsAutomated()),
		reconcile.RepositoryLabel(app.Spec.Source.Git.URL), reconcile.DestinationLabel(app),
		app.Spec.Destination.Namespace, sync, health}
}

// metricCollectors are every metric Lockstep serves besides controller-runtime's
// own; lockstep_app_info is read from apps.
func metricCollectors(ctx context.Context, apps client.Reader, log logr.Logger) []prometheus.Collector {
	return slices.Concat(reconcile.Metrics(), server.Metrics(), notify.Metrics(), receiver.Metrics(), []prometheus.Collector{newAppCollector(ctx, apps, log)})
}

// addMetrics serves Lockstep's metrics on the manager's metrics address while
// this process leads: a replica on standby would count every Application again.
func addMetrics(mgr manager.Manager, log logr.Logger) error {
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		unregister, err := registerMetrics(ctx, metrics.Registry, mgr.GetCache(), log)
		if err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
		<-ctx.Done()
		unregister()
		return nil
	}))
}

// registerMetrics registers Lockstep's metrics with reg, lockstep_app_info
// read from apps; unregister removes what belongs to this run (the cache it
// reads). Run may start more than once in a process: the other metrics stay
// registered, and while another run serves lockstep_app_info, this one leaves it.
func registerMetrics(ctx context.Context, reg prometheus.Registerer, apps client.Reader, log logr.Logger) (unregister func(), err error) {
	unregister = func() {}
	for _, c := range metricCollectors(ctx, apps, log) {
		err := reg.Register(c)
		var already prometheus.AlreadyRegisteredError
		switch {
		case errors.As(err, &already):
			continue
		case err != nil:
			return nil, err
		}
		if _, ok := c.(*appCollector); ok {
			unregister = func() { reg.Unregister(c) }
		}
	}
	return unregister, nil
}
