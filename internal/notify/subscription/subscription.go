// Package subscription connects Notification objects to the notify package:
// it builds each one's receiver from its spec and Secrets (Reconcile), finds
// the Notifications an Application is subscribed to and hands them its
// news (Notify), and records in each Notification's status what it last
// delivered and failed to (from the Dispatcher's reports).
package subscription

import (
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/notify"
)

// Options configure Subscriptions.
type Options struct {
	// Client reads Notifications from the controller's cache, Secrets from
	// the API server (one at a time, never cached), and writes status.
	Client client.Client
	// Namespace is the controller's: a Notification there is subscribed to
	// every namespace's Applications.
	Namespace string
	// PublicURL is where people reach the UI (--api-public-url): messages
	// link to the Application's page. "" when unknown.
	PublicURL string
	// Dispatcher tunes delivery; its Report and Logger are set here.
	Dispatcher notify.DispatcherOptions
	Log        *slog.Logger
}

// Subscriptions are the Notifications the controller knows.
type Subscriptions struct {
	o        Options
	dispatch *notify.Dispatcher
	statuses *kube.StatusPatcher

	mu   sync.RWMutex
	subs map[types.NamespacedName]*subscription // guarded by mu
}

// subscription is one Notification, ready to send.
type subscription struct {
	name     string // namespace/name: the Dispatcher's receiver
	scope    string // the namespace whose Applications it hears; "" every one
	provider notify.Provider
	triggers []notify.Trigger
	apps     []string // name globs; empty: all
	projects []string
	selector labels.Selector // nil: all
	status   bool            // a commit-status writer: only messages that set one
}

// New returns Subscriptions delivering through their own Dispatcher; Close
// it when the controller stops.
func New(o Options) *Subscriptions {
	s := &Subscriptions{o: o, subs: map[types.NamespacedName]*subscription{}}
	s.statuses = &kube.StatusPatcher{Client: o.Client, New: func() client.Object { return &v1.Notification{} }, Delay: time.Second, Log: o.Log}
	d := o.Dispatcher
	d.Logger, d.Report = o.Log, s.report
	s.dispatch = notify.NewDispatcher(d)
	o.PublicURL = strings.TrimSuffix(o.PublicURL, "/")
	s.o = o
	return s
}

// Notify hands an Application's messages to every Notification subscribed
// to them. It never blocks: delivery is in the background.
func (s *Subscriptions) Notify(app *v1.Application, msgs []notify.Message) {
	if s.o.PublicURL != "" {
		for i := range msgs {
			msgs[i].URL = s.o.PublicURL + "/#/apps/" + app.Namespace + "/" + app.Name
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sub := range s.subs {
		if !sub.hears(app) {
			continue
		}
		for _, m := range msgs {
			if slices.Contains(sub.triggers, m.Trigger) && (!sub.status || notify.SetsStatus(m)) {
				s.dispatch.Enqueue(notify.Receiver{Name: sub.name, Provider: sub.provider}, m)
			}
		}
	}
}

// hears says whether the subscription covers the Application.
func (sub *subscription) hears(app *v1.Application) bool {
	if sub.scope != "" && app.Namespace != sub.scope {
		return false
	}
	if len(sub.projects) > 0 && !slices.Contains(sub.projects, projectOf(app)) {
		return false
	}
	if sub.selector != nil && !sub.selector.Matches(labels.Set(app.Labels)) {
		return false
	}
	if len(sub.apps) == 0 {
		return true
	}
	return slices.ContainsFunc(sub.apps, func(glob string) bool {
		ok, _ := path.Match(glob, app.Name)
		return ok
	})
}

func projectOf(app *v1.Application) string {
	if app.Spec.Project == "" {
		return v1.DefaultProject
	}
	return app.Spec.Project
}

// report records a message's fate in its Notification's status.
func (s *Subscriptions) report(o notify.Outcome) {
	ns, name, _ := strings.Cut(o.Receiver, "/")
	d := v1.NotificationDelivery{Time: metav1.NewTime(time.Now()), Trigger: string(o.Message.Trigger),
		Application: o.Message.Application, Revision: o.Message.Revision}
	field := "lastDelivery"
	if o.Result != notify.Delivered {
		field = "lastFailure"
		d.Message = string(o.Result)
		if o.Err != nil {
			d.Message += ": " + truncate(o.Err.Error(), 512)
		}
	}
	s.statuses.Patch(types.NamespacedName{Namespace: ns, Name: name}, map[string]any{field: d})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func pathMatch(glob string) (bool, error) { return path.Match(glob, "") }
