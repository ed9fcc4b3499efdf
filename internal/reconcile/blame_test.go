package reconcile_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/controller"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

func apiDeployment(memory string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: registry.internal/api:1.0
        resources:
          limits: {cpu: 500m, memory: ` + memory + `}
`
}

// editMemoryLimit sets the first container's memory limit of a Deployment as
// kubectl edit does: another field manager, an update retried on a conflict
// (the Deployment controller writes the object too).
func (f *repoFixture) editMemoryLimit(t *testing.T, name, limit string) {
	t.Helper()
	ctx := testenv.Context(t)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := &appsv1.Deployment{}
		if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: name}, d); err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Resources.Limits["memory"] = resource.MustParse(limit)
		return f.c.Update(ctx, d, client.FieldOwner("kubectl-edit"))
	}); err != nil {
		t.Fatal(err)
	}
}

// lockstep runs the CLI as a user would, against the shared controller's API.
func lockstep(t *testing.T, args ...string) string {
	t.Helper()
	cmd := cli.NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(testenv.Context(t)); err != nil {
		t.Fatalf("lockstep %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// "The prod memory limit changed unexpectedly": blame the field, find the
// commit, its author and approvers, when it was applied and which Pods it
// replaced; then the same question after someone edited the limit by hand.
func TestBlameAnswersWhoChangedTheMemoryLimit(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "Deploy the API", map[string]string{
		"prod/api.yaml": apiDeployment("256Mi"),
		"prod/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-settings}\ndata: {CACHE_MB: '64'}\n",
	})
	f.create(t, f.application("prod-api", "prod", nil))
	f.waitFor(t, "prod-api", metav1.ConditionTrue, v1.ReasonSucceeded, first)

	raise, err := f.repo.Commit(gitserver.CommitOptions{
		Files: map[string][]byte{
			"prod/api.yaml": []byte(apiDeployment("512Mi")),
			"prod/cm.yaml":  []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-settings}\ndata: {CACHE_MB: '256'}\n"),
		},
		Message: "Raise the API memory limit for the cache (OPS-42)\n\nThe bigger cache needs room.\n\n" +
			"Reviewed-by: Rita Review <rita@example.com>\nApproved-by: Lena Lead <lena@example.com>\nApproved-by: Sam Sec <sam@example.com>\n",
		Author: gitserver.Person{Name: "Bob Builder", Email: "bob@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.refresh(t, "prod-api")
	f.waitFor(t, "prod-api", metav1.ConditionTrue, v1.ReasonSucceeded, raise)
	f.waitRecords(t, "prod-api", 2, audit.EventSync)

	const memory = "spec.template.spec.containers[0].resources.limits.memory"
	server := []string{"--server", shared.apiURL, "--token", apiToken}
	out := lockstep(t, append([]string{"blame", "deployment/api", "-n", f.ns, "--field", memory}, server...)...)
	for _, want := range []string{
		memory + ` = "512Mi"`,
		"revision   " + raise,
		"commit     Raise the API memory limit for the cache (OPS-42)",
		"author     Bob Builder <bob@example.com>",
		"approved   Lena Lead <lena@example.com>, Sam Sec <sam@example.com>",
		"reviewed   Rita Review <rita@example.com>",
		"tickets    OPS-42",
		`changed    ` + memory + `: "256Mi" → "512Mi"`,
		"update Deployment.apps/" + f.ns + "/api (Pods recreated)",
		"update ConfigMap/" + f.ns + "/api-settings",
		"owner      " + "lockstep (Apply)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("blame --field lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "!") {
		t.Errorf("a field Git set and nobody touched is flagged:\n%s", out)
	}
	// When: the sync time printed is the record's.
	b := blameJSON(t, f.ns, server)
	mem := fieldOf(t, b, memory)
	if mem.SetBy == nil || mem.SetBy.Revision != raise || time.Since(mem.SetBy.Time) > 5*time.Minute ||
		!strings.Contains(out, mem.SetBy.Time.UTC().Format("2006-01-02T15:04:05Z")) {
		t.Fatalf("memory limit set by %+v", mem.SetBy)
	}
	if img := fieldOf(t, b, "spec.template.spec.containers[0].image"); img.SetBy == nil || img.SetBy.Revision != first || b.Created == nil || b.Created.Revision != first {
		t.Errorf("the image was set by the first sync: %+v (created by %+v)", img.SetBy, b.Created)
	}

	// Someone raises the limit by hand: blame now flags the field with who and when.
	f.editMemoryLimit(t, "api", "1Gi")
	f.waitFor(t, "prod-api", metav1.ConditionFalse, v1.ReasonDriftDetected, "")
	f.waitRecords(t, "prod-api", 1, audit.EventDrift)
	out = lockstep(t, append([]string{"blame", "deployment/api", "-n", f.ns}, server...)...)
	for _, want := range []string{
		`! differs from Git: changed by kubectl-edit at `,
		`! owned by kubectl-edit (Update) since `,
		memory, `"1Gi"`, "Bob Builder", "Lena Lead, Sam Sec",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("blame after the edit lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "! "); n != 2 {
		t.Errorf("%d flags, want the memory limit's 2:\n%s", n, out)
	}

	// Offline: the database file and the cluster, no API.
	db := filepath.Join(shared.opts.DataDir, controller.LedgerFile)
	kubeconfig := testenv.ControlPlane(t).Kubeconfig
	offline := lockstep(t, "blame", "deployment/api", "-n", f.ns, "--field", memory, "--db", db, "--kubeconfig", kubeconfig)
	if !strings.Contains(offline, "author     Bob Builder <bob@example.com>") {
		t.Errorf("offline blame:\n%s", offline)
	}

	// The rest of the CLI over the same records.
	history := lockstep(t, append([]string{"history", "prod-api", "-n", f.ns}, server...)...)
	if !strings.Contains(history, raise[:12]) || !strings.Contains(history, "Bob Builder") || !strings.Contains(history, "Succeeded") {
		t.Errorf("history:\n%s", history)
	}
	audited := lockstep(t, append([]string{"audit", "--app", f.ns + "/prod-api", "--kind", "drift", "-o", "json"}, server...)...)
	var drifts []audit.Record
	if err := json.Unmarshal([]byte(audited), &drifts); err != nil || len(drifts) != 1 || drifts[0].Changes[0].ChangedBy.Manager != "kubectl-edit" {
		t.Errorf("audit --kind drift: %v\n%s", err, audited)
	}
	if byAuthor := lockstep(t, append([]string{"audit", "--author", "bob builder", "--since", "1h"}, server...)...); !strings.Contains(byAuthor, "prod-api") {
		t.Errorf("audit --author:\n%s", byAuthor)
	}
	if v := lockstep(t, append([]string{"audit", "verify"}, server...)...); !strings.Contains(v, "OK: ") {
		t.Errorf("audit verify:\n%s", v)
	}
}

func blameJSON(t *testing.T, ns string, server []string) audit.Blame {
	t.Helper()
	var b audit.Blame
	out := lockstep(t, append([]string{"blame", "deployment/api", "-n", ns, "-o", "json"}, server...)...)
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("blame -o json: %v\n%s", err, out)
	}
	return b
}

func fieldOf(t *testing.T, b audit.Blame, path string) audit.FieldBlame {
	t.Helper()
	for _, f := range b.Fields {
		if f.Path == path {
			return f
		}
	}
	var paths []string
	for _, f := range b.Fields {
		paths = append(paths, f.Path)
	}
	t.Fatalf("no blame for %s; fields: %s", path, strings.Join(paths, ", "))
	return audit.FieldBlame{}
}
