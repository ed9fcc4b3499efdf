package reconcile_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// receiverFixture is a Gitea-type Receiver in the fixture's namespace, Ready.
type receiverFixture struct {
	url    string // the webhook's whole URL on the controller's API
	secret []byte
}

func (f *repoFixture) receiver(t *testing.T) *receiverFixture {
	t.Helper()
	ctx := testenv.Context(t)
	secret := []byte(rand.Text())
	if err := f.c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: f.ns, Labels: map[string]string{v1.LabelSecretUse: v1.SecretUseReceiver}}, Data: map[string][]byte{"token": secret}}); err != nil {
		t.Fatal(err)
	}
	rcv := &v1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: "gitea", Namespace: f.ns},
		Spec: v1.ReceiverSpec{Type: "gitea", SecretRef: v1.LocalObjectReference{Name: "hook"}}}
	if err := f.c.Create(ctx, rcv); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the Receiver is Ready", func(ctx context.Context) (bool, error) {
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "gitea"}, rcv); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(rcv.Status.Conditions, "Ready"), fmt.Errorf("status %+v", rcv.Status)
	})
	if !strings.HasPrefix(rcv.Status.Path, "/hooks/") || len(rcv.Status.Path) < 30 {
		t.Fatalf("path %q is not an unguessable /hooks/ path", rcv.Status.Path)
	}
	return &receiverFixture{url: shared.apiURL + rcv.Status.Path, secret: secret}
}

// giteaPush is the body Gitea sends for a push from before to commit (the
// fields Lockstep reads).
func (f *repoFixture) giteaPush(before, commit string, files ...string) []byte {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": before, "after": commit, "total_commits": 1,
		"repository": map[string]any{"clone_url": sharedGit.HTTPSURL(f.repo.Name), "full_name": "lockstep/" + f.repo.Name},
		"commits":    []map[string]any{{"id": commit, "added": []string{}, "modified": files, "removed": []string{}}},
	})
	return body
}

// send posts body as Gitea would, signed with secret (unsigned when nil).
func (r *receiverFixture) send(t *testing.T, method, url string, body []byte, secret []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testenv.Context(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Event", "push")
	if secret != nil {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data))
}

// A signed push applies the commit at once, for the Application whose folder
// it changed and no other, though their interval is an hour; a request that
// proves nothing is refused, says why, and changes nothing.
func TestWebhookPushAppliesAtOnce(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{
		"web/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {v: '1'}\n",
		"other/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {v: '1'}\n",
	})
	f.create(t, f.application("web", "web", nil))
	f.create(t, f.application("other", "other", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	f.waitFor(t, "other", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	rcv := f.receiver(t)

	second := f.commit(t, "second", map[string]string{"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {v: '2'}\n"})
	push := f.giteaPush(first, second, "web/cm.yaml")

	// Refused, and nothing refreshed.
	for _, tc := range []struct {
		name, method, url string
		body, secret      []byte
		status            int
	}{
		{"unsigned", http.MethodPost, rcv.url, push, nil, http.StatusUnauthorized},
		{"signed with another secret", http.MethodPost, rcv.url, push, []byte("not the receiver's secret at all"), http.StatusUnauthorized},
		{"a path no Receiver has", http.MethodPost, shared.apiURL + "/hooks/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", push, rcv.secret, http.StatusNotFound},
		{"GET", http.MethodGet, rcv.url, nil, rcv.secret, http.StatusMethodNotAllowed},
		{"malformed JSON, signed", http.MethodPost, rcv.url, []byte(`{"ref": `), rcv.secret, http.StatusBadRequest},
		{"larger than any push", http.MethodPost, rcv.url, bytes.Repeat([]byte(" "), 26<<20), rcv.secret, http.StatusRequestEntityTooLarge},
	} {
		status, body := rcv.send(t, tc.method, tc.url, tc.body, tc.secret)
		if status != tc.status || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want %d with an error", tc.name, status, body, tc.status)
		}
	}
	time.Sleep(time.Second)
	if got := f.get(t, "web").Status.LastAttemptedRevision.Commit; got != first {
		t.Fatalf("a refused request refreshed web: it attempted %s", got)
	}

	// A stranger who knows the path cannot use up the Receiver's rate: only
	// signed events count against it.
	for range 80 {
		if status, _ := rcv.send(t, http.MethodPost, rcv.url, push, nil); status != http.StatusUnauthorized {
			t.Fatalf("an unsigned request: %d, want 401", status)
		}
	}

	sent := time.Now()
	status, body := rcv.send(t, http.MethodPost, rcv.url, push, rcv.secret)
	if status != http.StatusOK || body != `{"refreshed":1}` {
		t.Fatalf("signed push: %d %s, want 200 and one Application refreshed", status, body)
	}
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, second)
	t.Logf("push event → applied in %s", time.Since(sent).Round(time.Millisecond))
	if got := f.get(t, "other").Status.LastAttemptedRevision.Commit; got != first {
		t.Errorf("other, whose folder the push did not change, was refreshed: it attempted %s", got)
	}
	eventually(t, 10*time.Second, "the Receiver records the push", func(ctx context.Context) (bool, error) {
		r := &v1.Receiver{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "gitea"}, r); err != nil {
			return false, err
		}
		ev := r.Status.LastEvent
		return ev != nil && ev.Commit == second && ev.Ref == "refs/heads/main" && ev.Refreshed == 1, fmt.Errorf("last event %+v", ev)
	})

	// lockstep get receivers says where to send, that it is ready, and the push.
	out := lockstep(t, "get", "receivers", "-n", f.ns, "--kubeconfig", testenv.ControlPlane(t).Kubeconfig)
	if !strings.Contains(out, strings.TrimPrefix(rcv.url, shared.apiURL)) || !strings.Contains(out, "gitea") ||
		!strings.Contains(out, "main at "+second[:12]+", 1 refreshed") {
		t.Errorf("lockstep get receivers:\n%s", out)
	}

	// A ping (not a push) is answered and ignored.
	req, _ := http.NewRequestWithContext(testenv.Context(t), http.MethodPost, rcv.url, strings.NewReader(`{}`))
	mac := hmac.New(sha256.New, rcv.secret)
	mac.Write([]byte(`{}`))
	req.Header.Set("X-Gitea-Event", "create")
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("a create event: %d, want 202 (ignored)", resp.StatusCode)
	}
}
