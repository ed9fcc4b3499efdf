package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/cli"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv"
)

// asUser runs the CLI with its own configuration file (so its login is its
// own) and no kubeconfig: everything goes through the API.
func asUser(t *testing.T, config string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("LOCKSTEP_CONFIG", config)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	cmd := cli.NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(""))
	err := cmd.ExecuteContext(testenv.Context(t))
	return out.String(), err
}

// initialAdmin is the admin password the controller made on its first start.
func initialAdmin(t *testing.T, c client.Client) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(testenv.Context(t), types.NamespacedName{Namespace: shared.opts.Namespace, Name: auth.SecretInitialAdmin}, s); err != nil {
		t.Fatal(err)
	}
	return string(s.Data["password"])
}

// An operator with no kubeconfig logs in, lists, previews and syncs an
// Application through the API: the sync applies the commit they previewed or
// nothing, and the ledger names them.
func TestAnOperatorSyncsThroughTheAPIWithoutAKubeconfig(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", func(a *v1.Application) { a.Spec.Sync.Automated = ptr.To(false) }))
	f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonOutOfSync, first)

	config := filepath.Join(t.TempDir(), "config.yaml")
	password := initialAdmin(t, f.c)
	login := []string{"login", "--server", shared.apiURL, "--username", auth.AdminAccount, "--password-stdin", "--name", "test"}
	t.Setenv("LOCKSTEP_CONFIG", config)
	cmd := cli.NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(password + "\n"))
	cmd.SetArgs(login)
	if err := cmd.ExecuteContext(testenv.Context(t)); err != nil || !strings.Contains(out.String(), "logged in to "+shared.apiURL+" as admin") {
		t.Fatalf("login: %v\n%s", err, out.String())
	}
	if info, err := os.Stat(config); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the configuration file: %v, %v; want mode 0600", info, err)
	}

	list, err := asUser(t, config, "get", "apps", "--project", "default", "--search", f.ns+"/web")
	if err != nil || !strings.Contains(list, f.ns) || !strings.Contains(list, "OutOfSync") || !strings.Contains(list, first[:12]) {
		t.Fatalf("get apps: %v\n%s", err, list)
	}
	diff, err := asUser(t, config, "diff", f.ns+"/web")
	if err != nil || !strings.Contains(diff, "+  GREETING: hello") || !strings.Contains(diff, "--revision "+first[:12]) {
		t.Fatalf("diff: %v\n%s", err, diff)
	}

	// A commit lands after the preview: the sync pinned to the previewed
	// commit applies nothing and says why.
	second := f.commit(t, "second", map[string]string{"app/cm.yaml": strings.Replace(configMapYAML, "hello", "bonjour", 1)})
	refused, err := asUser(t, config, "sync", f.ns+"/web", "--revision", first[:12])
	if !errors.Is(err, cli.ErrSyncFailed) || !strings.Contains(err.Error(), "preview the new commit") {
		t.Fatalf("a sync pinned to an older commit: %v\n%s", err, refused)
	}
	if f.configMapExists(t, f.ns, "settings") {
		t.Fatal("the refused sync applied something")
	}
	recs := f.waitRecords(t, "web", 1, audit.EventSync)
	if recs[0].Reason != v1.ReasonRevisionChanged || recs[0].Actor != auth.AdminAccount || recs[0].Revision != first {
		t.Errorf("the refusal's record: %+v", recs[0])
	}

	// Synced without --revision, the sync is pinned to the newest commit the
	// Application now shows.
	synced, err := asUser(t, config, "sync", f.ns+"/web")
	if err != nil || !strings.Contains(synced, "synced "+second[:12]) {
		t.Fatalf("sync: %v\n%s", err, synced)
	}
	recs = f.waitRecords(t, "web", 2, audit.EventSync)
	if last := recs[1]; last.Revision != second || last.Actor != auth.AdminAccount || last.Result != audit.Succeeded {
		t.Errorf("the sync's record: %+v", last)
	}
	history, err := asUser(t, config, "history", f.ns+"/web")
	if err != nil || !strings.Contains(history, "admin") {
		t.Errorf("history through the API: %v\n%s", err, history)
	}
}

// A read-only account sees Applications but may not act on them, and an
// action it was refused changes nothing.
func TestAReadOnlyAccountIsRefusedActions(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	f.create(t, f.application("web", "app", nil))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	ctx := testenv.Context(t)

	admin, err := server.NewClientWith(server.ClientOptions{Server: shared.apiURL, AllowNoToken: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := admin.Login(ctx, auth.AdminAccount, initialAdmin(t, f.c))
	if err != nil {
		t.Fatal(err)
	}
	admin, _ = server.NewClient(shared.apiURL, s.Token)
	viewer := "viewer-" + f.ns
	if err := admin.CreateAccount(ctx, viewer, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	rbacCM := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shared.opts.Namespace, Name: "lockstep-rbac"}}
	_, err = controllerutil.CreateOrUpdate(ctx, f.c, rbacCM, func() error {
		rbacCM.Data = map[string]string{"policy.csv": "g, " + viewer + ", role:readonly\n"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := server.NewClientWith(server.ClientOptions{Server: shared.apiURL, AllowNoToken: true})
	vs, err := c.Login(ctx, viewer, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	c, _ = server.NewClient(shared.apiURL, vs.Token)
	eventually(t, 10*time.Second, "the viewer sees the Application once the RBAC ConfigMap is loaded", func(ctx2 context.Context) (bool, error) {
		_, err := c.Application(ctx2, f.ns, "web")
		return err == nil, err
	})
	var se *server.StatusError
	if _, err := c.Act(ctx, f.ns, "web", "suspend"); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("a viewer suspends: %v", err)
	}
	if f.get(t, "web").Spec.Suspend {
		t.Error("the refused suspend changed the Application")
	}
}
