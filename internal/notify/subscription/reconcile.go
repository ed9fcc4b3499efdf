package subscription

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/notify"
)

// SetupWithManager reconciles Notifications on changes and every
// recheckInterval (their Secrets are not watched).
func (s *Subscriptions) SetupWithManager(mgr ctrl.Manager) error {
	// Status writes (deliveries, up to one a second) are not changes to
	// reconcile: each would read the Secrets and rebuild the receiver. An
	// annotation is: it is how a person has the Secrets read now.
	return ctrl.NewControllerManagedBy(mgr).For(&v1.Notification{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).Named("notification").
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: ptr.To(true)}).
		Complete(s)
}

// recheckInterval is how often a Notification's Secrets are read again.
const recheckInterval = 5 * time.Minute

// Reconcile builds a Notification's receiver and says whether it is Ready.
func (s *Subscriptions) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	n := &v1.Notification{}
	if err := s.o.Client.Get(ctx, req.NamespacedName, n); err != nil {
		if apierrors.IsNotFound(err) {
			s.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sub, err := s.build(ctx, n)
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: n.Generation,
		Message: fmt.Sprintf("Sends %v to %s, %s", sub.triggersOrNone(), n.Spec.Type, s.audience(ctx, sub))}
	switch {
	case err != nil:
		s.forget(req.NamespacedName)
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "InvalidConfiguration", err.Error()
	case n.Spec.Suspend:
		s.forget(req.NamespacedName)
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Suspended", "Suspended: nothing is sent"
	default:
		s.mu.Lock()
		s.subs[req.NamespacedName] = sub
		s.mu.Unlock()
	}
	next := n.Status.DeepCopy()
	meta.SetStatusCondition(&next.Conditions, cond)
	next.ObservedGeneration = n.Generation
	if !equality.Semantic.DeepEqual(&n.Status, next) {
		n.Status = *next
		if err := s.o.Client.Status().Update(ctx, n); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: recheckInterval}, nil
}

// audience says how many Applications the subscription hears now, so that
// filters that match nothing show (the count is as of the last reconcile).
func (s *Subscriptions) audience(ctx context.Context, sub *subscription) string {
	apps := &v1.ApplicationList{}
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if sub.scope != "" {
		opts = append(opts, client.InNamespace(sub.scope))
	}
	if err := s.o.Client.List(ctx, apps, opts...); err != nil {
		return "for the Applications its filters match"
	}
	n := 0
	for i := range apps.Items {
		if sub.hears(&apps.Items[i]) {
			n++
		}
	}
	switch n {
	case 0:
		return "but no Application matches its filters yet"
	case 1:
		return "for 1 Application"
	}
	return fmt.Sprintf("for %d Applications", n)
}

func (s *Subscriptions) forget(key types.NamespacedName) {
	s.mu.Lock()
	_, known := s.subs[key]
	delete(s.subs, key)
	s.mu.Unlock()
	if known {
		s.dispatch.Forget(key.String())
	}
}

func (sub *subscription) triggersOrNone() []notify.Trigger {
	if sub == nil {
		return nil
	}
	return sub.triggers
}

// failures are what a Notification sends when it names no triggers, with
// Recovered: who heard of a failure hears of its end.
var failures = []notify.Trigger{notify.SyncFailed, notify.HealthDegraded, notify.DriftDetected,
	notify.PolicyDenied, notify.VerificationFailed, notify.ApprovalMissing, notify.Recovered}

// build makes the subscription of a Notification: its receiver from the
// spec and Secrets, and its filters. Errors say what to fix, never a secret.
func (s *Subscriptions) build(ctx context.Context, n *v1.Notification) (*subscription, error) {
	sub := &subscription{name: n.Namespace + "/" + n.Name, apps: n.Spec.Applications, projects: n.Spec.Projects}
	if n.Namespace != s.o.Namespace {
		sub.scope = n.Namespace
	}
	typ := notify.Type(n.Spec.Type)
	status := slices.Contains(notify.StatusTypes, typ)
	sub.status = status
	for _, t := range n.Spec.Triggers {
		sub.triggers = append(sub.triggers, notify.Trigger(t))
	}
	switch {
	case len(sub.triggers) > 0:
	case status:
		sub.triggers = notify.Triggers
	default:
		sub.triggers = failures
	}
	for _, glob := range sub.apps {
		if _, err := pathMatch(glob); err != nil {
			return sub, fmt.Errorf("spec.applications: %q is not a valid pattern: %w", glob, err)
		}
	}
	if n.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(n.Spec.Selector)
		if err != nil {
			return sub, fmt.Errorf("spec.selector: %w", err)
		}
		sub.selector = sel
	}
	secret, err := s.secretData(ctx, n.Namespace, n.Spec.SecretRef, "spec.secretRef", true)
	if err != nil {
		return sub, err
	}
	var roots *x509.CertPool
	if n.Spec.CASecretRef != nil {
		ca, err := s.secretData(ctx, n.Namespace, n.Spec.CASecretRef, "spec.caSecretRef", false)
		if err != nil {
			return sub, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca["ca.crt"]) {
			return sub, fmt.Errorf("spec.caSecretRef: Secret %s has no PEM certificate in ca.crt", n.Spec.CASecretRef.Name)
		}
	}
	address := n.Spec.Address
	if a := secret["address"]; len(a) > 0 {
		address = string(a)
	}
	if status && address == "" {
		// Else the token would go to whichever server an Application's
		// repository URL names: anyone who may write an Application could
		// collect it.
		return sub, fmt.Errorf("spec.address is required for %s commit statuses: the API of the Git server the token belongs to (https://git.example)", typ)
	}
	if status {
		sub.provider, err = notify.NewStatus(notify.StatusConfig{Type: typ, Address: address, Token: string(secret["token"]), RootCAs: roots})
	} else {
		sub.provider, err = notify.New(notify.Config{Type: typ, Address: address, Token: string(secret["token"]),
			Username: string(secret["username"]), Password: string(secret["password"]), HMACKey: secret["hmacKey"],
			From: n.Spec.From, To: n.Spec.To, Room: n.Spec.Room, RootCAs: roots})
	}
	return sub, err
}

// secretData reads a Notification's Secret; none is asked for when ref is
// nil. One whose values are sent (marked) must carry the label saying
// Notifications may: the controller may read any Secret, and a Notification
// sends what it reads to an address its author chose. A CA bundle is only
// trusted, never sent.
func (s *Subscriptions) secretData(ctx context.Context, namespace string, ref *v1.LocalObjectReference, field string, marked bool) (map[string][]byte, error) {
	if ref == nil {
		return map[string][]byte{}, nil
	}
	secret := &corev1.Secret{}
	if err := s.o.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%s: Secret %s not found", field, ref.Name)
		}
		return nil, fmt.Errorf("%s: reading Secret %s: %w", field, ref.Name, err)
	}
	if marked && secret.Labels[v1.LabelSecretUse] != v1.SecretUseNotification {
		return nil, fmt.Errorf("%s: Secret %s is not labelled %s=%s: label it (kubectl label secret %s %s=%s) to let Notifications send what it holds",
			field, ref.Name, v1.LabelSecretUse, v1.SecretUseNotification, ref.Name, v1.LabelSecretUse, v1.SecretUseNotification)
	}
	return secret.Data, nil
}

// Close stops delivery, waiting until ctx ends for the messages queued.
func (s *Subscriptions) Close(ctx context.Context) error {
	err := s.dispatch.Close(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.o.Log.Warn("notifications still queued were dropped at shutdown")
	}
	return err
}
