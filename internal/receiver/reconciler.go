package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	"github.com/lockstep-dev/lockstep/internal/kube"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// Options configure Receivers.
type Options struct {
	// Client reads Receivers and Applications from the controller's cache,
	// Secrets from the API server (one at a time, never cached), and writes
	// the Receivers' status.
	Client client.Client
	// Refresher is the controller.
	Refresher Refresher
	// Namespace is the controller's: a Receiver there refreshes every
	// namespace's Applications.
	Namespace string
	// PublicURL is where Git servers reach the API (--api-public-url), for
	// status.url; "" when unknown.
	PublicURL string
	Log       *slog.Logger
	// Clock is time.Now unless a test sets it.
	Clock func() time.Time
}

// Receivers keeps the Receivers' paths and secrets (Reconcile) and serves
// their events (ServeHTTP).
type Receivers struct {
	o       Options
	rs      *receivers
	unknown *rate.Limiter // requests to paths no Receiver has
	// followUps are when a push's Applications are looked at again
	// (defaultFollowUps; tests shorten them).
	followUps []time.Duration
	statuses  *kube.StatusPatcher

	slotsMu    sync.Mutex     // guards the two below
	slotsIn    map[string]int // bodies being read, by namespace
	slotsTaken int            // bodies being read in all
}

// New returns Receivers; Client, Refresher and Log are required.
func New(o Options) (*Receivers, error) {
	if o.Client == nil || o.Refresher == nil || o.Log == nil {
		return nil, fmt.Errorf("receiver.New: Client, Refresher and Log are required")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.PublicURL = strings.TrimSuffix(o.PublicURL, "/")
	return &Receivers{o: o, rs: newReceivers(), unknown: rate.NewLimiter(unknownRate, unknownBurst), followUps: defaultFollowUps, slotsIn: map[string]int{}, statuses: &kube.StatusPatcher{Client: o.Client, New: func() client.Object { return &v1.Receiver{} }, Delay: time.Second, Log: o.Log}}, nil
}

// SetupWithManager reconciles Receivers on changes, and every
// recheckInterval (a Secret is not watched: reading every Secret of the
// cluster would be needed for that).
func (r *Receivers) SetupWithManager(mgr ctrl.Manager) error {
	// Status writes (the last push, up to one a second) are not changes to
	// reconcile: each would read the Secret again. An annotation is: it is
	// how a person has the Secret read now (docs/webhooks.md).
	return ctrl.NewControllerManagedBy(mgr).For(&v1.Receiver{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).Named("receiver").
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: ptr.To(true)}).
		Complete(r)
}

// recheckInterval is how often a Receiver's Secret is read again when
// nothing else asks.
const recheckInterval = 5 * time.Minute

// Reconcile gives a Receiver its path, reads its Secret, and says whether it
// is Ready.
func (r *Receivers) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rcv := &v1.Receiver{}
	if err := r.o.Client.Get(ctx, req.NamespacedName, rcv); err != nil {
		if apierrors.IsNotFound(err) {
			r.rs.remove(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	next := rcv.Status.DeepCopy()
	// A path is chosen once; one that is not ours (set by hand, or copied
	// from another Receiver in a restore) is chosen again.
	if other := r.rs.at(next.Path); !validPath(next.Path) || (other != nil && other.key != req.NamespacedName) {
		token, err := newToken()
		if err != nil {
			return ctrl.Result{}, err
		}
		next.Path = v1.ReceiverPathPrefix + token
	}
	next.URL = ""
	if r.o.PublicURL != "" {
		next.URL = r.o.PublicURL + next.Path
	}
	e := &entry{key: req.NamespacedName, provider: webhook.Provider(rcv.Spec.Type), suspend: rcv.Spec.Suspend}
	secret, why, transient := r.readSecret(ctx, rcv)
	if transient {
		return ctrl.Result{}, errors.New(why) // tried again with backoff; what is known stays
	}
	e.setToken(secret, r.o.Clock())
	r.rs.set(next.Path, e)

	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready",
		Message: "Waiting for " + rcv.Spec.Type + " push events at " + next.Path, ObservedGeneration: rcv.Generation}
	switch {
	case why != "":
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "SecretNotReady", why
	case rcv.Spec.Suspend:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Suspended", "Suspended: events are refused"
	}
	meta.SetStatusCondition(&next.Conditions, cond)
	next.ObservedGeneration = rcv.Generation
	if !equality.Semantic.DeepEqual(&rcv.Status, next) {
		rcv.Status = *next
		if err := r.o.Client.Status().Update(ctx, rcv); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: recheckInterval}, nil
}

// readSecret reads the Receiver's token; why says what is wrong when there
// is none (never the value), and transient that the read itself failed
// (the Secret may be fine).
func (r *Receivers) readSecret(ctx context.Context, rcv *v1.Receiver) (token []byte, why string, transient bool) {
	s := &corev1.Secret{}
	key := types.NamespacedName{Namespace: rcv.Namespace, Name: rcv.Spec.SecretRef.Name}
	if err := r.o.Client.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("Secret %s not found: create it with the webhook's secret in %q", key.Name, v1.ReceiverSecretKey), false
		}
		return nil, fmt.Sprintf("reading Secret %s: %v", key.Name, err), true
	}
	if s.Labels[v1.LabelSecretUse] != v1.SecretUseReceiver {
		return nil, fmt.Sprintf("Secret %s is not labelled %s=%s: label it (kubectl label secret %s %s=%s) to let Receivers use it",
			key.Name, v1.LabelSecretUse, v1.SecretUseReceiver, key.Name, v1.LabelSecretUse, v1.SecretUseReceiver), false
	}
	// A secret written with kubectl --from-file ends in a newline the Git
	// server's setting does not have.
	token = bytes.TrimRight(s.Data[v1.ReceiverSecretKey], "\r\n")
	switch {
	case len(token) == 0:
		return nil, fmt.Sprintf("Secret %s has no %q entry: put the webhook's secret there", key.Name, v1.ReceiverSecretKey), false
	case len(token) < minSecret:
		return nil, fmt.Sprintf("the webhook's secret in Secret %s is too short: use at least %d random bytes (openssl rand -hex 32)", key.Name, minSecret), false
	}
	return token, "", false
}

// minSecret is the shortest secret taken: anything shorter could be guessed
// by someone who sees the signatures of a few requests.
const minSecret = 16

func validPath(p string) bool {
	token, ok := strings.CutPrefix(p, v1.ReceiverPathPrefix)
	if !ok || len(token) != tokenLength {
		return false
	}
	for _, c := range token {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// tokenLength is the length of a path's token: 20 bytes in base32.
const tokenLength = 32

// newToken is a path element no one can guess: 160 random bits.
func newToken() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}
