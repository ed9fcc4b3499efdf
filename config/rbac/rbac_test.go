package rbac_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	discoveryv1 "k8s.io/api/discovery/v1"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/config"
	"github.com/lockstep-dev/lockstep/config/rbac"
	"github.com/lockstep-dev/lockstep/internal/apply"
	"github.com/lockstep-dev/lockstep/internal/server"
	"github.com/lockstep-dev/lockstep/internal/server/auth"
	"github.com/lockstep-dev/lockstep/internal/testenv"
	"github.com/lockstep-dev/lockstep/internal/testenv/gitserver"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The controller runs with nothing but controller.yaml's permissions: it syncs
// an Application as the default service account, and that account's RBAC,
// not the controller's, decides what reaches the cluster.
func TestTheControllerRunsWithItsDocumentedPermissionsOnly(t *testing.T) {
	ctx := testenv.Context(t)
	c := adminClient(t)
	// The installer's part: everything lockstep install applies (the
	// namespace, the CRDs, controller.yaml, the strict default Project, ...).
	objs := installAsAdmin(t, c, config.InstallOptions{})
	controllerCfg := testenv.ServiceAccountConfig(t, rbac.Namespace, rbac.ServiceAccount)

	// A team: its namespace, and a deployer allowed ConfigMaps there only, and
	// to read its repository's credentials (read as the deployer, not the
	// controller).
	ns := testenv.Namespace(t)
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"*"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"git-auth", "git-ca"}, Verbs: []string{"get"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "deployer", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: ns}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	git := testenv.GitServer(t)
	git.AddUser("lockstep", "reads-repos", gitserver.Read)
	repo, err := git.CreateRepo("team")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(git.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "git-auth", Namespace: ns}, Data: map[string][]byte{"username": []byte("lockstep"), "password": []byte("reads-repos")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "git-ca", Namespace: ns}, Data: map[string][]byte{"ca.crt": ca}},
	} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	head, err := repo.Commit(gitserver.CommitOptions{Message: "settings", Files: map[string][]byte{
		"ok/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n"),
		"ok/deploy.yaml": []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n" +
			"  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: registry.internal/web:1}]}\n"),
		"deny/sa.yaml": []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sneaky}\n"),
	}})
	if err != nil {
		t.Fatal(err)
	}

	// The administrator's part: the strict default Project lets the team's
	// namespace use its repository, there.
	project := &v1.Project{}
	if err := c.Get(ctx, client.ObjectKey{Name: "default"}, project); err != nil {
		t.Fatal(err)
	}
	project.Spec.SourceNamespaces = []string{ns}
	project.Spec.SourceRepos = []string{git.HTTPSURL("team")}
	project.Spec.Destinations = []v1.ProjectDestination{{Namespace: ns}}
	project.Spec.ServiceAccountName = "deployer"
	if err := c.Update(ctx, project); err != nil {
		t.Fatal(err)
	}

	// The controller as the install's Deployment runs it, as the installed
	// service account.
	// Once stopped (this runs after the controller's own cleanup), it has
	// taken its address out of the API's Service.
	t.Cleanup(func() {
		err := c.Get(context.Background(), client.ObjectKey{Namespace: config.DefaultNamespace, Name: "lockstep"}, &discoveryv1.EndpointSlice{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("the API's EndpointSlice after the leader stopped: %v", err)
		}
	})
	installed := runInstalledController(t, objs, controllerCfg)

	application := func(name, path string) {
		app := &v1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: v1.ApplicationSpec{
			Source: v1.Source{Git: v1.GitSource{URL: git.HTTPSURL("team"), SecretRef: &v1.LocalObjectReference{Name: "git-auth"},
				CASecretRef: &v1.LocalObjectReference{Name: "git-ca"}}, Path: path},
			Destination: v1.Destination{Namespace: ns},
		}}
		if err := c.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string, status metav1.ConditionStatus) *metav1.Condition {
		var cond *metav1.Condition
		testenv.Eventually(t, 60*time.Second, fmt.Sprintf("%s Ready=%s", name, status), func(ctx context.Context) (bool, error) {
			app := &v1.Application{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, app); err != nil {
				return false, err
			}
			cond = meta.FindStatusCondition(app.Status.Conditions, v1.ConditionReady)
			if cond == nil || cond.Status != status || app.Status.LastAttemptedRevision == nil || app.Status.LastAttemptedRevision.Commit != head {
				return false, fmt.Errorf("status %+v", app.Status.Conditions)
			}
			return true, nil
		})
		return cond
	}
	// The leader points the API's Service at its own Pod.
	testenv.Eventually(t, 30*time.Second, "the API's EndpointSlice", func(ctx context.Context) (bool, error) {
		slice := &discoveryv1.EndpointSlice{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: config.DefaultNamespace, Name: "lockstep"}, slice); err != nil {
			return false, err
		}
		ok := len(slice.Endpoints) == 1 && slices.Equal(slice.Endpoints[0].Addresses, []string{testPodIP}) &&
			slice.Endpoints[0].TargetRef != nil && slice.Endpoints[0].TargetRef.Name == "lockstep-controller-0" &&
			len(slice.Ports) == 1 && *slice.Ports[0].Port == int32(installed.apiPort) && *slice.Ports[0].Name == "https" &&
			slice.Labels[discoveryv1.LabelServiceName] == "lockstep"
		if !ok {
			return false, fmt.Errorf("%+v", slice)
		}
		return true, nil
	})
	// The Deployment's probes are served, on the port they name.
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		path, _, _ := unstructured.NestedString(installed.container, probe, "httpGet", "path")
		port, _, _ := unstructured.NestedString(installed.container, probe, "httpGet", "port")
		if path == "" || port != "metrics" {
			t.Fatalf("the Deployment's %s: %v", probe, installed.container[probe])
		}
		testenv.Eventually(t, 30*time.Second, probe+" "+path, func(ctx context.Context) (bool, error) {
			resp, err := http.Get(installed.metricsURL + path)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("%s", resp.Status)
		})
	}
	application("ok", "ok")
	application("deny", "deny")
	ready("ok", metav1.ConditionTrue)
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	if managers := managersOf(cm); !strings.Contains(managers, apply.FieldManager) {
		t.Errorf("managers %s lack %s", managers, apply.FieldManager)
	}
	cond := ready("deny", metav1.ConditionFalse)
	want := `User "system:serviceaccount:` + ns + `:deployer" cannot get resource "serviceaccounts"`
	if !strings.Contains(cond.Message, want) {
		t.Errorf("message %q lacks %q", cond.Message, want)
	}
	// The ledger was written with the controller's own namespace Secrets.
	if _, err := os.Stat(filepath.Join(installed.dataDir, "ledger.db")); err != nil {
		t.Errorf("no ledger: %v", err)
	}
	useTheAPI(t, c, installed.apiURL, installed.caPEM, ns)
}

// useTheAPI logs in and takes every kind of step the API takes with the
// controller's permissions: read the watch cache, preview, sync, look at
// the tree, restart (as the deployer), create a token, log out.
func useTheAPI(t *testing.T, c client.Client, url string, caPEM []byte, ns string) {
	ctx := testenv.Context(t)
	initial := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: rbac.Namespace, Name: auth.SecretInitialAdmin}, initial); err != nil {
		t.Fatal(err)
	}
	anon, err := server.NewClientWith(server.ClientOptions{Server: url, CAData: caPEM, AllowNoToken: true})
	if err != nil {
		t.Fatal(err)
	}
	var sess auth.Session
	testenv.Eventually(t, 30*time.Second, "the API answers a login", func(ctx context.Context) (bool, error) {
		sess, err = anon.Login(ctx, auth.AdminAccount, string(initial.Data["password"]))
		return err == nil, err
	})
	api, err := server.NewClientWith(server.ClientOptions{Server: url, CAData: caPEM, Token: sess.Token})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := api.AllApplications(ctx, server.ListOptions{Namespace: ns}); err != nil || len(list) != 2 {
		t.Fatalf("list: %v, %v", list, err)
	}
	pv, err := api.Preview(ctx, ns, "ok", "")
	if err != nil || !pv.InSync {
		t.Fatalf("preview: %+v, %v", pv, err)
	}
	if _, err := api.Sync(ctx, ns, "ok", server.SyncRequest{Revision: pv.Revision, Generation: pv.Generation}); err != nil {
		t.Fatalf("sync: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the tree shows the Deployment's Pod", func(ctx context.Context) (bool, error) {
		tree, err := api.Tree(ctx, ns, "ok")
		if err != nil {
			return false, err
		}
		for _, n := range tree.Nodes {
			if n.Kind == "Pod" {
				return true, nil
			}
		}
		return false, fmt.Errorf("nodes %+v", tree.Nodes)
	})
	if _, err := api.Restart(ctx, ns, "ok", server.ResourceQuery{Group: "apps", Kind: "Deployment", Namespace: ns, Name: "web"}); err != nil {
		t.Fatalf("restart as the deployer: %v", err)
	}
	if _, err := api.CreateToken(ctx, auth.TokenRequest{Name: "ci", Roles: []string{"role:readonly"}, ExpiresIn: "1h"}); err != nil {
		t.Fatalf("token: %v", err)
	}
	if err := api.Logout(ctx); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if _, err := api.Whoami(ctx); err == nil {
		t.Error("the session works after logout")
	}
}

func managersOf(o metav1.Object) string {
	var names []string
	for _, m := range o.GetManagedFields() {
		names = append(names, m.Manager)
	}
	return strings.Join(names, ",")
}
