package reconcile_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
	raw, _ := os.ReadFile(config)
	token := strings.TrimSpace(strings.TrimPrefix(regexp.MustCompile(`token: \S+`).FindString(string(raw)), "token: "))
	notInControllerLog(t, password, token)
}

// notInControllerLog fails when the controller's log holds any of values.
func notInControllerLog(t *testing.T, values ...string) {
	t.Helper()
	logs, err := os.ReadFile(shared.logs)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if len(v) < 8 {
			t.Fatalf("%q is too short to look for", v)
		}
		if strings.Contains(string(logs), v) {
			t.Errorf("the controller's log holds %.12s…", v)
		}
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
	grantReadOnly(t, f.c, viewer)
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

// adminClient logs in as the controller's admin account.
func adminClient(t *testing.T, c client.Client) *server.Client {
	t.Helper()
	anon, err := server.NewClientWith(server.ClientOptions{Server: shared.apiURL, AllowNoToken: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := anon.Login(testenv.Context(t), auth.AdminAccount, initialAdmin(t, c))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := server.NewClient(shared.apiURL, s.Token)
	if err != nil {
		t.Fatal(err)
	}
	return admin
}

// The resource tree comes from watches: the Deployment, its ReplicaSet and
// its Pods with their health; one object reads live and desired with its
// Secret values masked; a restart is recorded with its actor and is not
// drift.
func TestTheResourceTreeAndARestartThroughTheAPI(t *testing.T) {
	f := newRepo(t)
	const password = "planted-secret-value-9f3a"
	deploy := strings.Replace(deploymentYAML("registry.internal/web:1.0", "info"), "replicas: 1", "replicas: 2", 1)
	first := f.commit(t, "first", map[string]string{
		"app/deploy.yaml": deploy,
		"app/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: " + password + "}\n",
		// The same value copied into a ConfigMap, as a chart using one value twice does.
		"app/dsn.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dsn}\ndata: {url: 'postgres://app:" + password + "@db/app'}\n",
	})
	f.create(t, f.application("web", "app", func(a *v1.Application) { a.Spec.Sync.SelfHeal = true }))
	f.waitFor(t, "web", metav1.ConditionTrue, v1.ReasonSucceeded, first)
	admin := adminClient(t, f.c)
	ctx := testenv.Context(t)

	var tree server.Tree
	eventually(t, 30*time.Second, "the tree shows the Deployment's two ready Pods", func(ctx context.Context) (bool, error) {
		var err error
		if tree, err = admin.Tree(ctx, f.ns, "web"); err != nil {
			return false, err
		}
		pods, rsReady := 0, false
		for _, n := range tree.Nodes {
			if n.Kind == "Pod" && n.Health == "Healthy" && strings.HasPrefix(n.Parent, "apps/ReplicaSet/"+f.ns+"/web-") {
				pods++
			}
			rsReady = rsReady || (n.Kind == "ReplicaSet" && n.Info == "2/2 ready")
		}
		return pods == 2 && rsReady, fmt.Errorf("nodes %+v", tree.Nodes)
	})
	var rs server.TreeNode
	for _, n := range tree.Nodes {
		if n.Kind == "ReplicaSet" {
			rs = n
		}
	}
	if rs.Parent != "apps/Deployment/"+f.ns+"/web" || rs.Managed || rs.Health != "Healthy" {
		t.Errorf("the ReplicaSet node: %+v", rs)
	}

	res, err := admin.Resource(ctx, f.ns, "web", server.ResourceQuery{Kind: "Secret", Namespace: f.ns, Name: "db"}, true)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res)
	if strings.Contains(string(raw), password) || strings.Contains(string(raw), base64.StdEncoding.EncodeToString([]byte(password))) || res.Live == nil || res.Revision != first {
		t.Errorf("the Secret's view shows its value or lacks its parts: %s", raw)
	}
	// Nor does the ConfigMap that holds a copy: its manifests, diff, Events
	// and blame hide it as the ledger does.
	res, err = admin.Resource(ctx, f.ns, "web", server.ResourceQuery{Kind: "ConfigMap", Namespace: f.ns, Name: "dsn"}, true)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(res)
	if strings.Contains(string(raw), password) || res.Live == nil || res.Desired == nil || !strings.Contains(string(raw), audit.Redacted) {
		t.Errorf("the ConfigMap's view shows the Secret's value or lacks its parts: %s", raw)
	}
	blame, err := admin.Blame(ctx, server.BlameRequest{Kind: "configmap", Namespace: f.ns, Name: "dsn"})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(blame); strings.Contains(string(raw), password) || !strings.Contains(string(raw), audit.Redacted) {
		t.Errorf("the ConfigMap's blame shows the Secret's value: %s", raw)
	}
	var se *server.StatusError
	if _, err := admin.Resource(ctx, f.ns, "web", server.ResourceQuery{Kind: "Secret", Namespace: "kube-system", Name: "anything"}, false); !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("an object outside the tree: %v", err)
	}

	if _, err := admin.Restart(ctx, f.ns, "web", server.ResourceQuery{Group: "apps", Kind: "Deployment", Namespace: f.ns, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Fatalf("the restart did not reach the pod template: %v", d.Spec.Template.Annotations)
	}
	recs := f.waitRecords(t, "web", 1, audit.EventAction)
	if recs[0].Actor != auth.AdminAccount || !strings.Contains(recs[0].Message, "restart") {
		t.Errorf("the restart's record: %+v", recs[0])
	}
	f.refresh(t, "web")
	time.Sleep(2 * time.Second)
	if drift := f.records(t, "web", audit.EventDrift); len(drift) > 0 {
		t.Errorf("the restart was taken for drift: %+v", drift)
	}
	if _, err := admin.Restart(ctx, f.ns, "web", server.ResourceQuery{Kind: "Secret", Namespace: f.ns, Name: "db"}); !errors.As(err, &se) || se.Code != 400 {
		t.Errorf("restarting a Secret: %v", err)
	}
	notInControllerLog(t, password, base64.StdEncoding.EncodeToString([]byte(password)), initialAdmin(t, f.c))
}

// grantReadOnly adds "g, account, role:readonly" to the shared controller's
// RBAC ConfigMap, keeping the lines other tests added.
func grantReadOnly(t *testing.T, c client.Client, account string) {
	t.Helper()
	grantPolicy(t, c, "g, "+account+", role:readonly")
}

// grantPolicy adds lines to the RBAC policy.
func grantPolicy(t *testing.T, c client.Client, lines ...string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shared.opts.Namespace, Name: "lockstep-rbac"}}
	_, err := controllerutil.CreateOrUpdate(testenv.Context(t), c, cm, func() error {
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data["policy.csv"] += strings.Join(lines, "\n") + "\n"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
