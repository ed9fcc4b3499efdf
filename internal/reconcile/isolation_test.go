package reconcile_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv/proc"
)

// maxControllerRSS is the bound this test holds the controller's process to
// (here the test binary, which runs the controller) while hostile
// Applications render: a gigabyte template rendered in the process would
// take it past.
const maxControllerRSS = 1 << 30

// Four hostile Applications (a template that allocates a gigabyte, a Jsonnet
// comprehension over 10^12 elements, a PreSync hook that never ends under a
// year-long sync timeout, and a repository whose server never answers) do not
// stall a benign one in another namespace (a namespace is a tenant: renders
// are scheduled fairly between namespaces): it applies each new commit within
// its interval plus 5 s,
// the controller's memory stays under maxControllerRSS, and each hostile one
// shows why it is stuck.
func TestHostileApplicationsDoNotStallABenignOne(t *testing.T) {
	f := newRepo(t)
	hang := hangingServer(t)
	f.commit(t, "hostile", map[string]string{
		"bomb/Chart.yaml":        "apiVersion: v2\nname: bomb\nversion: 1.0.0\n",
		"bomb/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: {{ repeat 1073741824 \"x\" | quote }}\n",
		"loop/main.jsonnet":      `{apiVersion: "v1", kind: "ConfigMap", metadata: {name: "n"}, data: {n: std.toString(std.length([i * j for i in std.range(1, 1000000) for j in std.range(1, 1000000)]))}}`,
		"hook/cm.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-hook}\n",
		"hook/never.yaml":        neverEndingHook,
	})
	g := newRepo(t) // the benign team's namespace and repository
	benignRev := g.commit(t, "benign", map[string]string{"benign/cm.yaml": configMapYAML})
	interval := 10 * time.Second
	g.create(t, g.application("benign", "benign", func(a *v1.Application) { a.Spec.Sync.Interval = &metav1.Duration{Duration: interval} }))
	g.waitFor(t, "benign", metav1.ConditionTrue, v1.ReasonSucceeded, benignRev)

	var peak atomic.Int64
	stop := watchRSS(t, &peak)
	defer stop()
	f.create(t, f.application("bomb", "bomb", nil))
	f.create(t, f.application("loop", "loop", nil))
	f.create(t, f.application("hook", "hook", func(a *v1.Application) { a.Spec.Sync.Timeout = &metav1.Duration{Duration: 8760 * time.Hour} }))
	f.create(t, f.application("unreachable", "app", func(a *v1.Application) { a.Spec.Source.Git.URL = "https://" + hang + "/config.git" }))

	for i := range 3 {
		time.Sleep(2 * time.Second) // let the hostile ones take what they can
		pushed := time.Now()
		rev := g.commit(t, fmt.Sprintf("benign change %d", i), map[string]string{
			"benign/cm.yaml": strings.Replace(configMapYAML, "hello", fmt.Sprintf("hello-%d", i), 1),
		})
		deadline := interval + 5*time.Second
		eventually(t, deadline, fmt.Sprintf("benign change %d applied within %v", i, deadline), func(ctx context.Context) (bool, error) {
			app := &v1.Application{}
			if err := g.c.Get(ctx, types.NamespacedName{Namespace: g.ns, Name: "benign"}, app); err != nil {
				return false, err
			}
			applied := app.Status.Sync.Revision
			return applied == rev, nil
		})
		t.Logf("benign change %d applied %v after the push", i, time.Since(pushed).Round(100*time.Millisecond))
	}

	for _, c := range []struct{ name, condition, reason, says string }{
		{"bomb", v1.ConditionReady, v1.ReasonRenderFailed, "memory budget of 512 MiB"},
		{"loop", v1.ConditionReady, v1.ReasonRenderFailed, "the render's"},
		{"hook", v1.ConditionReconciling, v1.ReasonProgressing, "1 PreSync hook(s)"},
		{"unreachable", v1.ConditionReady, v1.ReasonSourceFailed, ""},
	} {
		eventually(t, 90*time.Second, c.name+" says why it is stuck", func(ctx context.Context) (bool, error) {
			app := &v1.Application{}
			if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: c.name}, app); err != nil {
				return false, err
			}
			cond := meta.FindStatusCondition(app.Status.Conditions, c.condition)
			if cond == nil || cond.Reason != c.reason || !strings.Contains(cond.Message, c.says) {
				return false, fmt.Errorf("conditions %+v", app.Status.Conditions)
			}
			t.Logf("%s: %s %s: %.200s", c.name, c.condition, cond.Reason, cond.Message)
			return true, nil
		})
	}
	stop()
	t.Logf("the controller's process peaked at %d MiB resident", peak.Load()>>20)
	if p := peak.Load(); p > maxControllerRSS {
		t.Errorf("the controller's process reached %d MiB resident, over the bound of %d MiB", p>>20, maxControllerRSS>>20)
	}
}

// neverEndingHook is a PreSync Job whose pod no node can take, with no
// deadline: it never finishes.
const neverEndingHook = `apiVersion: batch/v1
kind: Job
metadata:
  name: never
  annotations: {lockstep.dev/hook: PreSync}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {lockstep.dev/no-such-node: "true"}
      containers: [{name: run, image: registry.internal/tools:1}]
`

// hangingServer accepts connections and never answers: a Git server that
// hangs. It returns its address.
func hangingServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// watchRSS samples this process's resident memory every 100 ms into peak
// until stop is called.
func watchRSS(t *testing.T, peak *atomic.Int64) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var once sync.Once
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if rss, err := residentBytes(); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}

func residentBytes() (int64, error) {
	m, err := proc.Memory(os.Getpid())
	return m["VmRSS"], err
}

// A sync running in the background when its Application is deleted is still
// recorded, with what it applied.
func TestADeletedApplicationsBackgroundSyncIsRecorded(t *testing.T) {
	f := newRepo(t)
	rev := f.commit(t, "a wave that never gets healthy", map[string]string{
		"app/job.yaml": strings.Replace(strings.Replace(neverEndingHook, "lockstep.dev/hook: PreSync", "lockstep.dev/sync-wave: \"0\"", 1), "name: never", "name: stuck", 1),
		"app/cm.yaml":  strings.Replace(configMapYAML, "metadata: {name: settings}", "metadata: {name: settings, annotations: {lockstep.dev/sync-wave: \"1\"}}", 1),
	})
	f.create(t, f.application("web", "app", nil))
	eventually(t, 45*time.Second, "the sync runs in the background", func(ctx context.Context) (bool, error) {
		app := &v1.Application{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web"}, app); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReconciling)
		return c != nil && strings.Contains(c.Message, rev[:12]), nil
	})
	if err := f.c.Delete(t.Context(), f.get(t, "web")); err != nil {
		t.Fatal(err)
	}
	sync := f.waitRecords(t, "web", 1, audit.EventSync)[0]
	applied := false
	for _, c := range sync.Changes {
		applied = applied || (c.Kind == "Job" && c.Name == "stuck" && c.Action == audit.Create)
	}
	if sync.Revision != rev || !applied {
		t.Errorf("the interrupted sync's record: %+v, want the Job of wave 0 created at %.7s", sync, rev)
	}
}
