package reconcile_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

// BenchmarkCommitToApplied measures, over 20 commits each changing one
// ConfigMap, the time from the push to the change being in the cluster: waiting
// for the 10 s poll; with an immediate trigger (the reconcile-requested-at
// annotation `lockstep refresh` sets); and with the Git server's webhook to a
// Receiver on the controller's API (sent after the push returns, as Gitea
// does). "trigger-50-failing" repeats the triggered case, same Application and
// commits, beside 50 Applications that fail for good (failingApps): failures
// must not hold the workers the others need, so the p95 should not move.
func BenchmarkCommitToApplied(b *testing.B) {
	bin := buildLockstep(b)
	for _, mode := range []string{"poll", "trigger", "trigger-50-failing", "webhook"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				benchCommitToApplied(b, bin, mode)
			}
		})
	}
}

func benchCommitToApplied(b *testing.B, bin, mode string) {
	ctx := b.Context()
	ns := testenv.Namespace(b)
	git, repo, _ := benchRepo(b, 1)
	var args []string
	api := freeAddress(b)
	if mode == "webhook" {
		args = []string{"--api-address", api}
	}
	startController(b, bin, args...)
	c := benchClient(b)
	benchSecrets(b, c, ns, git)
	if mode == "webhook" {
		benchReceiver(b, c, ns, git, "http://"+api)
	}
	if err := c.Create(ctx, benchApp(git, repo.Name, ns, 0)); err != nil {
		b.Fatal(err)
	}
	if mode == "trigger-50-failing" {
		failingApps(b, c, ns, git, repo, 50)
	}
	testenv.Eventually(b, 2*time.Minute, "app-000 Ready", func(ctx context.Context) (bool, error) {
		app := &v1.Application{}
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app-000"}, app)
		return err == nil && isReadyBench(app), err
	})

	var latencies []time.Duration
	for i := range 20 {
		value := fmt.Sprintf("commit-%d-%d", i, time.Now().UnixNano())
		if _, err := repo.Commit(gitserver.CommitOptions{Message: value, Files: map[string][]byte{
			"apps/app-000/cm.yaml": fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-000}\ndata: {GREETING: %q, INDEX: \"0\"}\n", value),
		}}); err != nil {
			b.Fatal(err)
		}
		pushed := time.Now()
		if strings.HasPrefix(mode, "trigger") {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1.AnnotationReconcileRequestedAt, value)
			app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-000"}}
			if err := c.Patch(ctx, app, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				b.Fatal(err)
			}
		}
		for {
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "app-000"}, cm); err == nil && cm.Data["GREETING"] == value {
				break
			}
			if time.Since(pushed) > time.Minute {
				b.Fatalf("commit %d not applied within a minute", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		latencies = append(latencies, time.Since(pushed))
	}
	b.ReportMetric(percentile(latencies, 50).Seconds(), "commit-to-applied-p50-s")
	b.ReportMetric(percentile(latencies, 95).Seconds(), "commit-to-applied-p95-s")
}

func isReadyBench(app *v1.Application) bool {
	for _, c := range app.Status.Conditions {
		if c.Type == v1.ConditionReady && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

// failingApps creates n Applications in ns that fail for good, a third at
// each stage where a failure could hold one of the controller's workers, and
// waits until each says why (a benchmark whose failing Applications succeed
// measures nothing):
//   - fetch: a repository the Git server does not have (refused at once), and
//     a server that accepts connections and never answers (the worst case:
//     each attempt holds a worker until the TLS handshake gives up, 10 s);
//   - render: broken YAML;
//   - health: a Deployment no node can run, with sync.wait and a short
//     timeout, so that its health check fails again on every pass.
//
// All retry after 1 s, doubling up to the 10 s interval: as often as allowed.
func failingApps(b *testing.B, c client.Client, ns string, git *gitserver.Server, repo *gitserver.Repo, n int) {
	b.Helper()
	hanging := hangingServer(b)
	files := map[string][]byte{"broken/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n   bad: indent\n")}
	type kind struct{ name, reason string } // reason: what Ready must say
	kinds := []kind{{"missing repository", v1.ReasonSourceFailed}, {"broken YAML", v1.ReasonRenderFailed}, {"never healthy", v1.ReasonHealthCheckFailed},
		{"hanging server", v1.ReasonSourceFailed}, {"broken YAML", v1.ReasonRenderFailed}, {"never healthy", v1.ReasonHealthCheckFailed}}
	want := map[string]kind{}
	var apps []*v1.Application
	for i := range n {
		app := benchApp(git, repo.Name, ns, 0)
		app.Name = fmt.Sprintf("failing-%02d", i)
		app.Spec.Sync.Retry = &v1.RetryPolicy{Backoff: &metav1.Duration{Duration: time.Second}}
		want[app.Name] = kinds[i%len(kinds)]
		switch want[app.Name].name {
		case "missing repository":
			app.Spec.Source.Git.URL = git.HTTPSURL(app.Name)
		case "hanging server":
			app.Spec.Source.Git.URL = "https://" + hanging + "/" + app.Name + ".git"
		case "broken YAML":
			app.Spec.Source.Path = "broken"
		case "never healthy":
			app.Spec.Source.Path = "stuck/" + app.Name
			app.Spec.Sync.Wait, app.Spec.Sync.Timeout = true, &metav1.Duration{Duration: 15 * time.Second}
			files["stuck/"+app.Name+"/deploy.yaml"] = fmt.Appendf(nil, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %[1]s}\nspec:\n"+
				"  selector: {matchLabels: {app: %[1]s}}\n  template:\n    metadata: {labels: {app: %[1]s}}\n    spec:\n"+
				"      nodeSelector: {lockstep.dev/no-such-node: \"true\"}\n      containers: [{name: c, image: x}]\n", app.Name)
		}
		apps = append(apps, app)
	}
	if _, err := repo.Commit(gitserver.CommitOptions{Message: "broken and stuck", Files: files}); err != nil {
		b.Fatal(err)
	}
	for _, app := range apps {
		if err := c.Create(b.Context(), app); err != nil {
			b.Fatal(err)
		}
	}
	says := map[string]string{} // by kind: what one of them says
	testenv.Eventually(b, 3*time.Minute, "every failing Application fails as it should", func(context.Context) (bool, error) {
		list := &v1.ApplicationList{}
		if err := c.List(b.Context(), list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		failing := 0
		for _, app := range list.Items {
			ready, k := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady), want[app.Name]
			if k.reason != "" && ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == k.reason {
				failing++
				says[k.name] = app.Name + ": " + ready.Reason + ": " + ready.Message
			}
		}
		return failing == n, fmt.Errorf("%d of %d fail as they should", failing, n)
	})
	for _, msg := range says {
		b.Log(msg)
	}
}

// benchReceiver connects the Git server's pushes to a Receiver in ns on the
// controller's API at apiURL.
func benchReceiver(b *testing.B, c client.Client, ns string, git *gitserver.Server, apiURL string) {
	b.Helper()
	ctx := testenv.Context(b)
	secret := []byte(rand.Text())
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: ns, Labels: map[string]string{v1.LabelSecretUse: v1.SecretUseReceiver}}, Data: map[string][]byte{v1.ReceiverSecretKey: secret}}); err != nil {
		b.Fatal(err)
	}
	rcv := &v1.Receiver{ObjectMeta: metav1.ObjectMeta{Name: "git", Namespace: ns},
		Spec: v1.ReceiverSpec{Type: "gitea", SecretRef: v1.LocalObjectReference{Name: "hook"}}}
	if err := c.Create(ctx, rcv); err != nil {
		b.Fatal(err)
	}
	testenv.Eventually(b, time.Minute, "the Receiver is Ready", func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(rcv), rcv)
		return err == nil && meta.IsStatusConditionTrue(rcv.Status.Conditions, "Ready"), err
	})
	git.AddWebhook(gitserver.Webhook{URL: apiURL + rcv.Status.Path, Secret: secret})
}

// freeAddress is a loopback address whose port is free now.
func freeAddress(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
