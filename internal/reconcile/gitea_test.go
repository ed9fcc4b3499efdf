package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitea"
)

// giteaConfigMap is web/cm.yaml holding v.
func giteaConfigMap(v string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {v: '" + v + "'}\n"
}

// The whole loop against a real Git server product: a commit pushed to
// Gitea (over HTTPS, with its own CA) reaches the Application through
// Gitea's own signed webhook, though its interval is an hour, and the
// outcome comes back to the commit as a Gitea commit status: success once
// applied, error for a commit that does not render, which leaves the
// cluster as it was.
func TestGiteaPushIsAppliedAndReportedBack(t *testing.T) {
	srv := gitea.NewWith(t, gitea.Options{HTTPS: true})
	f := &repoFixture{c: env(t)}
	f.ns = testenv.Namespace(t)
	ctx := testenv.Context(t)

	repo, err := srv.CreateRepo(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	first, err := srv.Commit(ctx, repo, "", map[string]string{"web/cm.yaml": giteaConfigMap("1")}, "first")
	if err != nil {
		t.Fatal(err)
	}
	// Git is read with the administrator's token as the password, as
	// people give Lockstep a Gitea token.
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "gitea-auth", Namespace: f.ns}, Data: map[string][]byte{"username": []byte(gitea.Username), "password": []byte(srv.Token)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gitea-ca", Namespace: f.ns}, Data: map[string][]byte{"ca.crt": srv.CAPEM}},
	} {
		if err := f.c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	f.notification(t, "gitea-status", v1.NotificationSpec{Type: "gitea", Address: srv.URL,
		CASecretRef: &v1.LocalObjectReference{Name: "gitea-ca"}}, map[string][]byte{"token": []byte(srv.Token)})
	rcv := f.receiver(t)
	if _, err := srv.AddWebhook(ctx, repo, gitea.Webhook{URL: rcv.url, Secret: string(rcv.secret), Events: []string{"push"}}); err != nil {
		t.Fatal(err)
	}

	automated := true
	f.create(t, &v1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns},
		Spec: v1.ApplicationSpec{
			Source: v1.Source{
				Git: v1.GitSource{URL: repo.CloneURL, Ref: v1.GitRef{Branch: "main"},
					SecretRef: &v1.LocalObjectReference{Name: "gitea-auth"}, CASecretRef: &v1.LocalObjectReference{Name: "gitea-ca"}},
				Path: "web",
			},
			Destination: v1.Destination{Namespace: f.ns},
			// An hour: only the webhook can explain a commit applied in
			// seconds.
			Sync: v1.SyncPolicy{Automated: &automated, Prune: true, Interval: &metav1.Duration{Duration: time.Hour}},
		},
	})
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	statusContext := "lockstep/" + f.ns + "/web"
	giteaStatus(t, srv, repo, first, statusContext, "success", 30*time.Second)

	// A commit through Gitea: its push webhook refreshes the Application.
	second, err := srv.Commit(ctx, repo, "", map[string]string{"web/cm.yaml": giteaConfigMap("2")}, "second")
	if err != nil {
		t.Fatal(err)
	}
	pushed := time.Now()
	eventually(t, 30*time.Second, "ConfigMap/web holds the pushed v: 2", func(ctx context.Context) (bool, error) {
		cm := &corev1.ConfigMap{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web"}, cm); err != nil {
			return false, err
		}
		return cm.Data["v"] == "2", fmt.Errorf("v = %q", cm.Data["v"])
	})
	t.Logf("push → applied in %s", time.Since(pushed).Round(time.Millisecond))
	_, seen := giteaStatus(t, srv, repo, second, statusContext, "success", 30*time.Second)
	t.Logf("push → commit status success in %s", seen.Sub(pushed).Round(time.Millisecond))
	eventually(t, 10*time.Second, "the Receiver records Gitea's push", func(ctx context.Context) (bool, error) {
		r := &v1.Receiver{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "gitea"}, r); err != nil {
			return false, err
		}
		ev := r.Status.LastEvent
		return ev != nil && ev.Commit == second && ev.Ref == "refs/heads/main" && ev.Refreshed == 1, fmt.Errorf("last event %+v", ev)
	})

	// A commit that does not render: error on it, the cluster untouched.
	broken, err := srv.Commit(ctx, repo, "", map[string]string{"web/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n   bad: indent\n"}, "broken")
	if err != nil {
		t.Fatal(err)
	}
	pushed = time.Now()
	// A sync that failed is "error" (internal/notify/status_state.go).
	failed, seen := giteaStatus(t, srv, repo, broken, statusContext, "error", 30*time.Second)
	t.Logf("push → commit status error in %s", seen.Sub(pushed).Round(time.Millisecond))
	if !strings.Contains(failed.Description, v1.ReasonRenderFailed) {
		t.Errorf("status description %q does not say the render failed", failed.Description)
	}
	f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonRenderFailed, broken)
	cm := &corev1.ConfigMap{}
	if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "web"}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["v"] != "2" {
		t.Errorf("a commit that does not render changed ConfigMap/web: v = %q, want still 2", cm.Data["v"])
	}
}

// giteaStatus waits until Gitea's API shows commit's status named name in
// state, and returns it and when it was first seen.
func giteaStatus(t *testing.T, srv *gitea.Server, repo gitea.Repo, commit, name, state string, timeout time.Duration) (gitea.Status, time.Time) {
	t.Helper()
	var got gitea.Status
	eventually(t, timeout, fmt.Sprintf("Gitea shows status %s %s on %.12s", name, state, commit), func(ctx context.Context) (bool, error) {
		_, statuses, err := srv.Statuses(ctx, repo, commit)
		if err != nil {
			return false, err
		}
		for _, s := range statuses {
			if s.Context == name {
				got = s
				return s.State == state, fmt.Errorf("%+v", s)
			}
		}
		return false, fmt.Errorf("statuses %+v", statuses)
	})
	return got, time.Now()
}
