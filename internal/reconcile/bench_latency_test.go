package reconcile_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
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
// does). The "isolation" runs repeat the triggered case
// while two other Applications fail for good: one whose render fails (retried
// with backoff) and one that never gets healthy (sync.wait); the p95 should not
// move.
func BenchmarkCommitToApplied(b *testing.B) {
	bin := buildLockstep(b)
	for _, mode := range []string{"poll", "trigger", "trigger-isolation", "webhook"} {
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
	if mode == "trigger-isolation" {
		if _, err := repo.Commit(gitserver.CommitOptions{Message: "broken and stuck", Files: map[string][]byte{
			"broken/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n   bad: indent\n"),
			"stuck/deploy.yaml": []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: stuck}\nspec:\n  selector: {matchLabels: {app: stuck}}\n" +
				"  template:\n    metadata: {labels: {app: stuck}}\n    spec:\n      nodeSelector: {lockstep.dev/no-such-node: \"true\"}\n      containers: [{name: c, image: x}]\n"),
		}}); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"broken", "stuck"} {
			app := benchApp(git, repo.Name, ns, 0)
			app.Name, app.Spec.Source.Path = name, name
			app.Spec.Sync.Wait = true
			app.Spec.Sync.Retry = &v1.RetryPolicy{Backoff: &metav1.Duration{Duration: time.Second}}
			if err := c.Create(ctx, app); err != nil {
				b.Fatal(err)
			}
		}
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
		if mode == "trigger" || mode == "trigger-isolation" {
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
