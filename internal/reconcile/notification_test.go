package reconcile_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/notify"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/mailserver"
	"github.com/lockstep-dev/lockstep/internal/testenv/pki"
)

// hmacReceiver is an HTTP endpoint started by the test that takes
// Lockstep's signed webhook notifications and keeps those whose signature
// checks.
type hmacReceiver struct {
	*httptest.Server
	key []byte

	mu       sync.Mutex
	payloads []notify.WebhookPayload
	refused  int
}

func newHMACReceiver(t *testing.T) *hmacReceiver {
	r := &hmacReceiver{key: []byte(rand.Text())}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get(notify.TimestampHeader), 10, 64)
		r.mu.Lock()
		defer r.mu.Unlock()
		if notify.Sign(r.key, ts, body) != req.Header.Get(notify.SignatureHeader) {
			r.refused++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p notify.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("a notification that is not a WebhookPayload: %v\n%s", err, body)
		}
		r.payloads = append(r.payloads, p)
	}))
	t.Cleanup(r.Close)
	return r
}

// wait returns the first payload of trigger, waiting up to timeout.
func (r *hmacReceiver) wait(t *testing.T, trigger notify.Trigger, timeout time.Duration) notify.WebhookPayload {
	t.Helper()
	var got notify.WebhookPayload
	eventually(t, timeout, "a "+string(trigger)+" notification", func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.payloads {
			if p.Trigger == trigger {
				got = p
				return true, nil
			}
		}
		return false, fmt.Errorf("received %d (%d refused)", len(r.payloads), r.refused)
	})
	return got
}

func (f *repoFixture) notification(t *testing.T, name string, spec v1.NotificationSpec, secret map[string][]byte) {
	t.Helper()
	ctx := testenv.Context(t)
	if secret != nil {
		if err := f.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns,
			Labels: map[string]string{v1.LabelSecretUse: v1.SecretUseNotification}}, Data: secret}); err != nil {
			t.Fatal(err)
		}
		spec.SecretRef = &v1.LocalObjectReference{Name: name}
	}
	n := &v1.Notification{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: spec}
	if err := f.c.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "Notification "+name+" is Ready", func(ctx context.Context) (bool, error) {
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, n); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(n.Status.Conditions, "Ready"), fmt.Errorf("conditions %+v", n.Status.Conditions)
	})
}

// A failed sync and the fix's deployment reach a signed webhook, naming the
// Application, the commit, its author and the ledger record, while another
// Notification's receiver hangs; the Notification's status says what it
// last delivered.
func TestNotificationsReachTheirReceivers(t *testing.T) {
	f := newRepo(t)
	good := newHMACReceiver(t)
	stop := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(stop) }) // first: Close waits for the requests it holds
	f.notification(t, "hangs", v1.NotificationSpec{Type: "webhook", Address: hanging.URL}, nil)
	f.notification(t, "team-hook", v1.NotificationSpec{Type: "webhook-hmac", Address: good.URL,
		Triggers: []v1.NotificationTrigger{"SyncFailed", "Deployed"}, Applications: []string{"web*"}},
		map[string][]byte{"hmacKey": good.key})

	broken := f.commit(t, "break it", map[string]string{"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n   bad: indent\n"})
	f.create(t, f.application("web", "web", nil))
	failed := good.wait(t, notify.SyncFailed, 30*time.Second)
	if failed.Application != f.ns+"/web" || failed.Revision != broken || failed.Author != "Ada <ada@example.com>" ||
		failed.Reason != v1.ReasonRenderFailed || !strings.Contains(failed.Summary, "web/cm.yaml") || len(failed.Records) == 0 {
		t.Errorf("SyncFailed %+v", failed)
	}

	fixed := f.commit(t, "fix it", map[string]string{"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n"})
	f.refresh(t, "web")
	deployed := good.wait(t, notify.Deployed, 30*time.Second)
	if deployed.Revision != fixed || deployed.Subject != "fix it" || deployed.Sync != "Synced" || deployed.Health != "Healthy" {
		t.Errorf("Deployed %+v", deployed)
	}
	eventually(t, 15*time.Second, "the Notification's status records the delivery", func(ctx context.Context) (bool, error) {
		n := &v1.Notification{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "team-hook"}, n); err != nil {
			return false, err
		}
		d := n.Status.LastDelivery
		return d != nil && d.Trigger == "Deployed" && d.Revision == fixed, fmt.Errorf("last delivery %+v", d)
	})
	out := lockstep(t, "get", "notifications", "-n", f.ns, "--kubeconfig", testenv.ControlPlane(t).Kubeconfig)
	if !strings.Contains(out, "team-hook") || !strings.Contains(out, "SyncFailed,Deployed") || !strings.Contains(out, "Deployed "+f.ns+"/web") {
		t.Errorf("lockstep get notifications:\n%s", out)
	}
	good.mu.Lock()
	defer good.mu.Unlock()
	if good.refused > 0 {
		t.Errorf("%d notifications were not signed with the key", good.refused)
	}
	for _, p := range good.payloads {
		if p.Trigger != notify.SyncFailed && p.Trigger != notify.Deployed {
			t.Errorf("a %s notification was sent, not subscribed to", p.Trigger)
		}
	}
}

// A Notification or a Receiver that cannot work is not Ready, and says what
// to fix without repeating a secret.
func TestMisconfiguredNotificationsAndReceiversSayWhy(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	for name, use := range map[string]string{"short": v1.SecretUseReceiver, "for-notifications": v1.SecretUseNotification, "unmarked": ""} {
		labels := map[string]string{v1.LabelSecretUse: use}
		if use == "" {
			labels = nil
		}
		if err := f.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Labels: labels},
			Data: map[string][]byte{"token": []byte("s3cret-short"), "password": []byte("hunter2-long-password")}}); err != nil {
			t.Fatal(err)
		}
	}
	objects := []struct {
		obj  interface{ GetName() string }
		want string
	}{
		{&v1.Notification{ObjectMeta: metav1.ObjectMeta{Name: "no-address", Namespace: f.ns},
			Spec: v1.NotificationSpec{Type: "gitea", SecretRef: &v1.LocalObjectReference{Name: "for-notifications"}}}, "spec.address is required"},
		// A Secret not marked for Notifications is not sent anywhere, though the controller may read it.
		{&v1.Notification{ObjectMeta: metav1.ObjectMeta{Name: "steals", Namespace: f.ns},
			Spec: v1.NotificationSpec{Type: "webhook", Address: "https://collector.example", SecretRef: &v1.LocalObjectReference{Name: "unmarked"}}},
			"is not labelled lockstep.dev/secret-use=notification"},
		{&v1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: "unmarked", Namespace: f.ns},
			Spec: v1.ReceiverSpec{Type: "github", SecretRef: v1.LocalObjectReference{Name: "unmarked"}}}, "is not labelled lockstep.dev/secret-use=receiver"},
		{&v1.Notification{ObjectMeta: metav1.ObjectMeta{Name: "no-secret", Namespace: f.ns},
			Spec: v1.NotificationSpec{Type: "slack", SecretRef: &v1.LocalObjectReference{Name: "missing"}}}, "Secret missing not found"},
		{&v1.Notification{ObjectMeta: metav1.ObjectMeta{Name: "mail-no-from", Namespace: f.ns},
			Spec: v1.NotificationSpec{Type: "smtp", Address: "smtp://mail.internal:587", To: []string{"ops@x.io"}}}, "from is missing"},
		{&v1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: "short", Namespace: f.ns},
			Spec: v1.ReceiverSpec{Type: "github", SecretRef: v1.LocalObjectReference{Name: "short"}}}, "too short"},
		{&v1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: "missing", Namespace: f.ns},
			Spec: v1.ReceiverSpec{Type: "github", SecretRef: v1.LocalObjectReference{Name: "missing"}}}, "Secret missing not found"},
	}
	for _, o := range objects {
		if err := f.c.Create(ctx, o.obj.(client.Object)); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objects {
		eventually(t, 30*time.Second, o.obj.GetName()+" says why it is not Ready", func(ctx context.Context) (bool, error) {
			obj := o.obj.(client.Object)
			if err := f.c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err
			}
			var conds []metav1.Condition
			switch x := obj.(type) {
			case *v1.Notification:
				conds = x.Status.Conditions
			case *v1.Receiver:
				conds = x.Status.Conditions
			}
			c := meta.FindStatusCondition(conds, "Ready")
			if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, o.want) {
				return false, fmt.Errorf("Ready %+v, want False saying %q", c, o.want)
			}
			if strings.Contains(c.Message, "s3cret-short") || strings.Contains(c.Message, "hunter2") {
				t.Errorf("%s: the condition repeats a secret: %s", obj.GetName(), c.Message)
			}
			return true, nil
		})
	}

	// Fixed by its owner (labelled), the Secret is read at once when the
	// Receiver is annotated, not in 5 minutes.
	fixed := &corev1.Secret{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "unmarked"}, fixed); err != nil {
		t.Fatal(err)
	}
	fixed.Labels = map[string]string{v1.LabelSecretUse: v1.SecretUseReceiver}
	fixed.Data["token"] = []byte("now long enough for a webhook secret")
	if err := f.c.Update(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	rcv := &v1.Receiver{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "unmarked"}, rcv); err != nil {
		t.Fatal(err)
	}
	rcv.Annotations = map[string]string{v1.AnnotationReconcileRequestedAt: time.Now().Format(time.RFC3339Nano)}
	if err := f.c.Update(ctx, rcv); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the annotated Receiver is Ready", func(ctx context.Context) (bool, error) {
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "unmarked"}, rcv); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(rcv.Status.Conditions, "Ready"), fmt.Errorf("conditions %+v", rcv.Status.Conditions)
	})
}

// A mail Notification, configured as a user would (an smtp:// address,
// from and to, the account in a labelled Secret, the server's CA in
// another), reaches a real SMTP server over STARTTLS with a login, naming
// the Application, the commit and its author.
func TestMailNotificationReachesARealSMTPServer(t *testing.T) {
	f := newRepo(t)
	ctx := testenv.Context(t)
	ca, err := pki.NewCA("mail test CA")
	if err != nil {
		t.Fatal(err)
	}
	dns, ips := pki.Loopback()
	pair, err := ca.Issue(pki.Request{CommonName: "mail", DNSNames: dns, IPs: ips, Usage: pki.Server})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	mail := mailserver.Start(t, mailserver.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err := f.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mail-ca", Namespace: f.ns}, Data: map[string][]byte{"ca.crt": ca.CertPEM}}); err != nil {
		t.Fatal(err)
	}
	f.notification(t, "ops-mail", v1.NotificationSpec{Type: "smtp", Address: "smtp://" + mail.Addr,
		From: "Lockstep <lockstep@example.org>", To: []string{"ops@example.org"},
		CASecretRef: &v1.LocalObjectReference{Name: "mail-ca"}},
		map[string][]byte{"username": []byte(mailserver.Username), "password": []byte(mailserver.Password)})

	broken := f.commit(t, "break the config map", map[string]string{"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n   bad: indent\n"})
	f.create(t, f.application("web", "web", nil))
	var got []mailserver.Mail
	eventually(t, 30*time.Second, "a mail", func(context.Context) (bool, error) {
		got, _ = mail.Got()
		return len(got) > 0, fmt.Errorf("%d mails", len(got))
	})
	m := got[0]
	body := string(m.Data)
	if !m.TLS || m.User != mailserver.Username || m.From != "lockstep@example.org" || len(m.To) != 1 || m.To[0] != "ops@example.org" {
		t.Errorf("mail over TLS %v as %q from %q to %v", m.TLS, m.User, m.From, m.To)
	}
	for _, want := range []string{"Subject: [Lockstep] SyncFailed " + f.ns + "/web", broken[:7], "Ada"} {
		if !strings.Contains(body, want) {
			t.Errorf("the mail does not say %q:\n%s", want, body)
		}
	}
}
