package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/webhook"
)

// ServeHTTP takes one event at a Receiver's path. Every refusal is logged
// with why and counted, and changes nothing; only a request signed with the
// Receiver's secret is read past its headers.
func (r *Receivers) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	e := r.rs.at(req.URL.Path)
	if e == nil {
		// A scanner's requests are answered, but logged at a bounded rate.
		if r.unknown.Allow() {
			r.refuse(w, req, "", http.StatusNotFound, "no Receiver has this path")
		} else {
			observe("", "not-found")
			http.Error(w, "no Receiver has this path", http.StatusNotFound)
		}
		return
	}
	name := e.key.String()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, req, name, http.StatusMethodNotAllowed, "events are sent with POST, not "+req.Method)
		return
	}
	if e.suspend {
		r.refuse(w, req, name, http.StatusServiceUnavailable, "the Receiver is suspended")
		return
	}
	// Bodies are read a few at a time for each Receiver and for all: one
	// whose path leaked, sent slowly, holds its own slots, not everyone's.
	release, ok := r.slot(e)
	if !ok {
		w.Header().Set("Retry-After", "1")
		r.refuse(w, req, name, http.StatusServiceUnavailable, "too many events are being read at once")
		return
	}
	defer func() {
		if release != nil {
			release()
		}
	}()
	// GitLab sends its secret in a header: a request without it is refused
	// before its body is read.
	if e.provider == webhook.GitLab {
		if _, err := r.parse(req, e, nil); errors.Is(err, webhook.ErrSignature) || errors.Is(err, errNoSecret) {
			r.refuse(w, req, name, http.StatusUnauthorized, err.Error())
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, webhook.MaxBody))
	if err != nil {
		status := http.StatusBadRequest
		if errors.As(err, new(*http.MaxBytesError)) {
			status = http.StatusRequestEntityTooLarge
		}
		r.refuse(w, req, name, status, "reading the body: "+err.Error())
		return
	}
	ev, err := r.parse(req, e, body)
	switch {
	case errors.Is(err, webhook.ErrNotPush):
		observe(name, "ignored")
		r.o.Log.Info("webhook event ignored", "receiver", name, "why", err.Error())
		writeJSON(w, http.StatusAccepted, map[string]any{"ignored": err.Error()})
		return
	case errors.Is(err, webhook.ErrSignature), errors.Is(err, errNoSecret):
		r.refuse(w, req, name, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		r.refuse(w, req, name, http.StatusBadRequest, err.Error())
		return
	}
	release() // the body is checked; what it costs from here is the refresh's
	release = nil
	// Only signed events count against the rate: a stranger who knows the
	// path cannot use up the Git server's.
	if !e.limiter.Allow() {
		w.Header().Set("Retry-After", "1")
		r.refuse(w, req, name, http.StatusTooManyRequests, "more than its rate of events")
		return
	}
	refreshed, err := r.refresh(req, e, ev)
	if err != nil {
		r.refuse(w, req, name, http.StatusServiceUnavailable, "refreshing: "+err.Error())
		return
	}
	observe(name, "accepted")
	r.o.Log.Info("webhook push", "receiver", name, "ref", ev.Ref, "commit", ev.Commit, "refreshed", refreshed)
	r.statuses.Patch(e.key, map[string]any{"lastEvent": v1.ReceiverEvent{Time: metav1.NewTime(r.o.Clock()), Ref: ev.Ref, Commit: ev.Commit, Refreshed: len(refreshed)}})
	// The count, not the names: the Git server's delivery log is read by the
	// repository's admins, who may not see every namespace.
	writeJSON(w, http.StatusOK, map[string]any{"refreshed": len(refreshed)})
}

var errNoSecret = errors.New("the Receiver's Secret holds no usable token (see its Ready condition)")

// parse checks the signature; one that does not match sends us to read the
// Secret again (it may have been rotated), at most every secretRecheck.
func (r *Receivers) parse(req *http.Request, e *entry, body []byte) (webhook.Event, error) {
	secret, _ := e.token()
	var ev webhook.Event
	var err error
	if secret != nil {
		ev, err = webhook.Parse(e.provider, req.Header, body, secret)
		if !errors.Is(err, webhook.ErrSignature) {
			return ev, err
		}
	}
	if !e.claimRecheck(r.o.Clock()) {
		if secret == nil {
			return ev, errNoSecret
		}
		return ev, err
	}
	// Read apart from the request: a sender who hangs up must not make the
	// read fail, and a read that fails for a moment keeps the token known.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), 5*time.Second)
	defer cancel()
	rcv := &v1.Receiver{}
	if getErr := r.o.Client.Get(ctx, e.key, rcv); getErr != nil {
		return ev, errors.Join(webhook.ErrSignature, getErr)
	}
	fresh, _, transient := r.readSecret(ctx, rcv)
	if transient {
		if secret == nil {
			return ev, errNoSecret
		}
		return ev, err
	}
	e.setToken(fresh, r.o.Clock())
	if fresh == nil {
		return ev, errNoSecret
	}
	return webhook.Parse(e.provider, req.Header, body, fresh)
}

// refresh has the Applications the push concerns look now: those of the
// Receiver's namespace, or of every namespace for a Receiver in the
// controller's. It returns their names.
func (r *Receivers) refresh(req *http.Request, e *entry, ev webhook.Event) ([]string, error) {
	opts := []client.ListOption{client.UnsafeDisableDeepCopy} // read only: names and specs
	if e.key.Namespace != r.o.Namespace {
		opts = append(opts, client.InNamespace(e.key.Namespace))
	}
	apps := &v1.ApplicationList{}
	if err := r.o.Client.List(req.Context(), apps, opts...); err != nil {
		return nil, err
	}
	targets := Targets(ev, apps.Items, r.o.Refresher.Inputs)
	byURL := map[string][]*v1.Application{}
	names := make([]string, 0, len(targets))
	for _, app := range targets {
		byURL[app.Spec.Source.Git.URL] = append(byURL[app.Spec.Source.Git.URL], app)
		names = append(names, app.Namespace+"/"+app.Name)
	}
	now := r.o.Clock()
	for url, apps := range byURL {
		if err := r.o.Refresher.Refresh(req.Context(), url, now, apps); err != nil {
			return nil, err
		}
	}
	r.followUp(ev, byURL)
	return names, nil
}

// slot takes a body-reading slot of e, of its namespace and of all
// Receivers, or none: one namespace's slow senders hold at most its own
// share.
func (r *Receivers) slot(e *entry) (release func(), ok bool) {
	select {
	case e.reading <- struct{}{}:
	default:
		return nil, false
	}
	ns := e.key.Namespace
	r.slotsMu.Lock()
	defer r.slotsMu.Unlock()
	if r.slotsIn[ns] >= readingPerNamespace || r.slotsTaken >= readingBodies {
		<-e.reading
		return nil, false
	}
	r.slotsIn[ns]++
	r.slotsTaken++
	return func() {
		r.slotsMu.Lock()
		r.slotsIn[ns]--
		if r.slotsIn[ns] == 0 {
			delete(r.slotsIn, ns)
		}
		r.slotsTaken--
		r.slotsMu.Unlock()
		<-e.reading
	}, true
}

// refuse answers a refused request and logs why, naming the Receiver ("" for
// an unknown path) and the sender's address, never the secret or the body.
// Each Receiver's refusals are logged at a bounded rate (each is counted).
func (r *Receivers) refuse(w http.ResponseWriter, req *http.Request, receiver string, status int, why string) {
	observe(receiver, strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-")))
	e := r.rs.at(req.URL.Path)
	logs := (*rate.Limiter)(nil)
	if e != nil {
		// A stranger's unsigned requests do not silence the rest.
		logs = e.logs
		if status == http.StatusUnauthorized {
			logs = e.unsignedLogs
		}
	}
	if logs == nil || logs.Allow() {
		r.o.Log.Warn("webhook refused", "receiver", receiver, "status", status, "why", why, "remote", req.RemoteAddr,
			"event", eventName(req.Header))
	}
	writeJSON(w, status, map[string]any{"error": why})
}

// eventName is the event header the Git server sent, for the log.
func eventName(h http.Header) string {
	for _, k := range []string{"X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gitlab-Event", "X-Event-Key"} {
		if v := h.Get(k); v != "" {
			return truncate(v, 64)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
