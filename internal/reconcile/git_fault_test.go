package reconcile_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/faultproxy"
)

// The Git server goes down, then flaps: the cluster stays exactly as it
// was, each Application says why (a transient source failure), nothing is
// pruned; once the server is back, every Application applies the commit
// pushed meanwhile within one interval, once.
func TestGitServerDownThenFlapping(t *testing.T) {
	f := newRepo(t)
	u, err := url.Parse(sharedGit.HTTPSURL(f.repo.Name))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	u.Host = proxy.Addr
	const interval = 10 * time.Second
	apps := []string{"web-0", "web-1", "web-2"}
	settings := func(name, value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings-" + name + "}\ndata: {GREETING: " + value + "}\n"
	}
	files := map[string]string{"app0/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {A: b}\n"}
	for i, name := range apps {
		files[fmt.Sprintf("app%d/cm.yaml", i)] = settings(name, "hello")
	}
	first := f.commit(t, "first", files)
	for i, name := range apps {
		f.create(t, f.application(name, fmt.Sprintf("app%d", i), func(a *v1.Application) {
			a.Spec.Source.Git.URL = u.String()
			a.Spec.Sync.Interval = &metav1.Duration{Duration: interval}
		}))
	}
	for _, name := range apps {
		f.refresh(t, name)
		f.waitFor(t, name, metav1.ConditionTrue, v1.ReasonSucceeded, first)
	}

	// Down: a commit that changes a value and removes an object is pushed,
	// and every Application is asked to look.
	proxy.Down()
	changed := map[string]string{"app0/extra.yaml": ""}
	for i, name := range apps {
		changed[fmt.Sprintf("app%d/cm.yaml", i)] = settings(name, "again")
	}
	second := f.commit(t, "second", changed)
	for _, name := range apps {
		f.refresh(t, name)
	}
	for _, name := range apps {
		app := f.waitFor(t, name, metav1.ConditionFalse, v1.ReasonSourceFailed, "")
		// Refused, or cut mid-answer when the proxy went down under a fetch.
		if msg := readyMessage(app); !strings.Contains(msg, "fetching branch main of "+u.String()) ||
			!strings.Contains(msg, "connection refused") && !strings.Contains(msg, "EOF") && !strings.Contains(msg, "reset") {
			t.Errorf("%s: the condition does not say why: %s", name, msg)
		}
	}
	if !f.configMapExists(t, f.ns, "extra") {
		t.Fatal("an object was pruned while the Git server was down")
	}
	for _, name := range apps {
		cm := &corev1.ConfigMap{}
		if err := f.c.Get(testenv.Context(t), types.NamespacedName{Namespace: f.ns, Name: "settings-" + name}, cm); err != nil || cm.Data["GREETING"] != "hello" {
			t.Fatalf("settings-%s during the outage: %v, %v; want it as it was", name, cm.Data, err)
		}
		if app := f.get(t, name); app.Status.LastAppliedRevision == nil || app.Status.LastAppliedRevision.Commit != first {
			t.Fatalf("%s applied %+v during the outage", name, app.Status.LastAppliedRevision)
		}
	}

	// Flapping for a few seconds: a look may get through, or fail half-way.
	for i := range 10 {
		if i%2 == 0 {
			if err := proxy.Up(); err != nil {
				t.Fatal(err)
			}
		} else {
			proxy.Down()
		}
		for _, name := range apps {
			f.refresh(t, name)
		}
		time.Sleep(150 * time.Millisecond)
	}
	proxy.Down()
	time.Sleep(2 * time.Second)

	// Back: within one interval every Application has applied the second commit.
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for _, name := range apps {
		app := f.waitFor(t, name, metav1.ConditionTrue, v1.ReasonSucceeded, second)
		if app.Status.LastAppliedRevision.Commit != second {
			t.Errorf("%s applied %+v", name, app.Status.LastAppliedRevision)
		}
	}
	recovered := time.Since(back)
	t.Logf("all %d Applications applied the commit pushed during the outage %s after the Git server came back (interval %s)", len(apps), recovered.Round(time.Millisecond), interval)
	if recovered > interval+5*time.Second {
		t.Errorf("recovery took %s, more than one interval (%s) and a margin", recovered, interval)
	}
	if f.configMapExists(t, f.ns, "extra") {
		t.Error("the object removed from Git was not pruned after the server came back")
	}
	for _, name := range apps {
		applied, failures := 0, map[string]int{}
		for _, r := range f.records(t, name, audit.EventSync) {
			switch {
			case r.Revision == second && r.Result == audit.Succeeded:
				applied++
			case r.Result == audit.Failed:
				failures[r.Message]++
			}
		}
		if applied != 1 {
			t.Errorf("%s: %d successful Sync records of the second commit, want 1", name, applied)
		}
		for msg, n := range failures {
			t.Logf("%s: %d× %s", name, n, msg)
		}
	}
}
