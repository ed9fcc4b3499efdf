package migrate_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/migrate"
	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// written is everything lockstep import prints: the YAML and the report.
func written(t *testing.T, res *migrate.Result) string {
	t.Helper()
	var out bytes.Buffer
	if err := res.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	if err := res.Report.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func project(t *testing.T, res *migrate.Result, name string) *v1.Project {
	t.Helper()
	for _, p := range res.Projects {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no Project %s among %d", name, len(res.Projects))
	return nil
}

// allowed asks Lockstep's policy whether the Project lets an object of
// group/kind into namespace ns ("" for a cluster-scoped one).
func allowed(t *testing.T, p *v1.Project, group, kind, ns string) bool {
	t.Helper()
	rules, err := policy.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return rules.CheckPrunes(v1.InCluster, []object.Key{{Group: group, Kind: kind, Namespace: ns, Name: "x"}}) == nil
}

func appProject(name, spec string) string {
	return "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: " + name + ", namespace: argocd}\nspec:\n" + spec
}

// An allow list none of whose entries translates stays closed: in Lockstep
// an empty namespacedResources.allow allows every kind, where the source
// allowed only the kinds it listed.
func TestAnAllowListThatTranslatesToNothingStaysClosed(t *testing.T) {
	dest := "  sourceRepos: ['*']\n  destinations: [{namespace: guestbook, server: '*'}]\n"
	for name, whitelist := range map[string]string{
		"globs":    "  namespaceResourceWhitelist: [{group: apps, kind: 'Deploy*'}, {group: '', kind: 'ConfigMap?'}]\n",
		"no kind":  "  namespaceResourceWhitelist: [{group: apps}, {group: ''}]\n",
		"not maps": "  namespaceResourceWhitelist: [apps/Deployment]\n",
	} {
		t.Run(name, func(t *testing.T) {
			res := translate(t, migrate.Options{}, appProject("p", dest+whitelist+"  clusterResourceWhitelist: [{group: '*', kind: 'Name*'}]\n"))
			p := project(t, res, "p")
			for _, gk := range [][2]string{{"apps", "Deployment"}, {"", "ConfigMap"}, {"", "Secret"}, {"rbac.authorization.k8s.io", "RoleBinding"}} {
				if allowed(t, p, gk[0], gk[1], "guestbook") {
					t.Errorf("%s/%s allowed by %+v", gk[0], gk[1], p.Spec.NamespacedResources)
				}
			}
			if allowed(t, p, "", "Namespace", "") {
				t.Errorf("Namespace allowed by %+v", p.Spec.ClusterResources)
			}
			wantFindings(t, item(t, res, "AppProject/argocd/p"), "to do spec.namespaceResourceWhitelist")
			if r := written(t, res); !strings.Contains(r, "allows no namespaced kind") {
				t.Errorf("report:\n%s", r)
			}
		})
	}
	// An entry that translates: only it is allowed, as before.
	res := translate(t, migrate.Options{}, appProject("p", dest+"  namespaceResourceWhitelist: [{group: apps, kind: 'Deploy*'}, {group: apps, kind: StatefulSet}]\n"))
	p := project(t, res, "p")
	if !slices.Equal(p.Spec.NamespacedResources.Allow, []v1.GroupKind{{Group: "apps", Kind: "StatefulSet"}}) || allowed(t, p, "apps", "Deployment", "guestbook") {
		t.Errorf("allow = %+v", p.Spec.NamespacedResources.Allow)
	}
	// No whitelist at all: every kind, in both.
	res = translate(t, migrate.Options{}, appProject("p", dest))
	if p := project(t, res, "p"); !allowed(t, p, "apps", "Deployment", "guestbook") {
		t.Errorf("no whitelist: %+v", p.Spec.NamespacedResources)
	}
	// A deny list cut at Lockstep's limit lets the rest through: LOOSER.
	deny := "  namespaceResourceBlacklist:\n"
	for i := range 300 {
		deny += "  - {group: '', kind: K" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + "}\n"
	}
	res = translate(t, migrate.Options{}, appProject("p", dest+deny))
	wantFindings(t, item(t, res, "AppProject/argocd/p"), "LOOSER spec.namespaceResourceBlacklist[256]")
	// Argo CD chose the service accounts; without one in the Project, an
	// Application may name any of its namespace.
	res = translate(t, migrate.Options{}, appProject("p", dest+"  destinationServiceAccounts: [{server: '*', namespace: '*', defaultServiceAccount: deployer}]\n"))
	wantFindings(t, item(t, res, "AppProject/argocd/p"), "LOOSER spec.destinationServiceAccounts")
}

// Credentials in a repository URL are never written anywhere: the URL is
// written without them, and the report asks for a Secret instead.
func TestCredentialsInURLsAreNeverWritten(t *testing.T) {
	in := "https://kubernetes.default.svc"
	const secret = "TOPSECRETPW2"
	res := translate(t, migrate.Options{},
		argoApp("a", "https://bob:TOPSECRETPW2@git.internal/x.git", "p", "main", in, "ns")+"---\n"+
			argoApp("token", "https://TOPSECRETPW2@git.internal/y.git", "p", "main", in, "ns")+"---\n"+
			argoApp("ssh", "ssh://git:TOPSECRETPW2@git.internal/z.git", "p", "main", in, "ns")+"---\n"+
			argoApp("scp", "git:TOPSECRETPW2@git.internal:org/z.git", "p", "main", in, "ns")+"---\n"+
			argoApp("plain-http", "http://bob:TOPSECRETPW2@git.internal/x.git", "p", "main", in, "ns")+"---\n"+
			argoApp("space", "'https://bob:TOPSECRET PW2@git.internal/x.git'", "p", "main", in, "ns")+"---\n"+
			strings.Replace(argoApp("chart", "https://bob:TOPSECRETPW2@charts.internal", "p", "main", in, "ns"), "path:", "chart: web, path:", 1)+"---\n"+
			appProject("p", "  sourceRepos: ['https://bob:TOPSECRETPW2@git.internal/*', 'https://bob:TOPSECRETPW2@git.internal/x.git']\n")+"---\n"+
			"apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: repo, namespace: flux-system}\nspec: {url: 'https://bob:TOPSECRETPW2@git.internal/flux.git', interval: 1m}\n---\n"+
			"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: flux-system}\nspec: {sourceRef: {kind: GitRepository, name: repo}, path: ./x, prune: true, interval: 1m}\n")
	out := written(t, res)
	if strings.Contains(out, secret) || strings.Contains(out, "TOPSECRET") || strings.Contains(out, "bob") {
		t.Errorf("the password is written:\n%s", out)
	}
	for ns, urls := range map[string]map[string]string{
		"argocd":      {"a": "https://git.internal/x.git", "token": "https://git.internal/y.git", "ssh": "ssh://git@git.internal/z.git", "scp": "ssh://git@git.internal/org/z.git"},
		"flux-system": {"k": "https://git.internal/flux.git"},
	} {
		for name, url := range urls {
			app := application(t, res, ns, name)
			if app.Spec.Source.Git.URL != url || app.Spec.Source.Git.SecretRef == nil {
				t.Errorf("%s: url %s, secretRef %v", name, app.Spec.Source.Git.URL, app.Spec.Source.Git.SecretRef)
			}
		}
	}
	if got := project(t, res, "p").Spec.SourceRepos; !slices.Equal(got, []string{"https://git.internal/**", "https://git.internal/x.git"}) {
		t.Errorf("sourceRepos = %v", got)
	}
	for _, id := range []string{"Application/argocd/a", "Application/argocd/token"} {
		wantFindings(t, item(t, res, id), "to do spec.source.repoURL")
	}
	wantFindings(t, item(t, res, "GitRepository/flux-system/repo"), "to do spec.url")
	if !strings.Contains(out, "a-git-credentials in namespace argocd with the keys username and password") {
		t.Errorf("no Secret asked for:\n%s", out)
	}
}

// --namespace opens a Project only to the namespaces of the imported
// Applications that name it; a namespace the AppProject did not allow is
// LOOSER.
func TestNamespaceOpensOnlyTheProjectsItsApplicationsName(t *testing.T) {
	in := "https://kubernetes.default.svc"
	docs := appProject("platform", "  sourceRepos: ['*']\n  destinations: [{namespace: '*', server: '*'}]\n  clusterResourceWhitelist: [{group: '*', kind: '*'}]\n") + "---\n" +
		appProject("team", "  sourceRepos: ['https://git.internal/team/*']\n  destinations: [{namespace: team-a, server: '*'}]\n") + "---\n" +
		strings.Replace(argoApp("a", "https://git.internal/team/x", "p", "main", in, "team-a"), "spec:\n", "spec:\n  project: team\n", 1)

	res := translate(t, migrate.Options{Namespace: "team-a"}, docs)
	if got := project(t, res, "platform").Spec.SourceNamespaces; len(got) != 0 {
		t.Errorf("platform opened to %v", got)
	}
	if got := project(t, res, "team").Spec.SourceNamespaces; !slices.Equal(got, []string{"team-a"}) {
		t.Errorf("team opened to %v", got)
	}
	if slices.Contains(findings(item(t, res, "AppProject/argocd/platform")), "LOOSER spec.sourceNamespaces") {
		t.Error("platform: LOOSER sourceNamespaces")
	}
	wantFindings(t, item(t, res, "AppProject/argocd/team"), "LOOSER spec.sourceNamespaces")

	// In place, the Application stays in Argo CD's namespace, which could
	// use every project: nothing looser.
	res = translate(t, migrate.Options{}, docs)
	if got := project(t, res, "team").Spec.SourceNamespaces; !slices.Equal(got, []string{"argocd"}) {
		t.Errorf("team opened to %v", got)
	}
	if got := project(t, res, "platform").Spec.SourceNamespaces; len(got) != 0 {
		t.Errorf("platform opened to %v", got)
	}
	for _, it := range res.Report.Items {
		if slices.Contains(findings(it), "LOOSER spec.sourceNamespaces") {
			t.Errorf("%s: LOOSER sourceNamespaces", it.Source)
		}
	}

	// --project-namespace opens every Project, as asked, and says so.
	res = translate(t, migrate.Options{ProjectNamespaces: []string{"team-b"}}, docs)
	if got := project(t, res, "platform").Spec.SourceNamespaces; !slices.Equal(got, []string{"team-b"}) {
		t.Errorf("platform opened to %v", got)
	}
	wantFindings(t, item(t, res, "AppProject/argocd/platform"), "LOOSER spec.sourceNamespaces")
}

// An Application on the default Project is told that the installed default
// Project allows nothing until opened; not when the default is imported.
func TestApplicationsOnTheDefaultProject(t *testing.T) {
	in := "https://kubernetes.default.svc"
	res := translate(t, migrate.Options{}, argoApp("a", "https://git/x", "p", "main", in, "ns"))
	wantFindings(t, item(t, res, "Application/argocd/a"), "to do spec.project")
	if out := written(t, res); !strings.Contains(out, "lockstep get project default") {
		t.Errorf("report:\n%s", out)
	}
	res = translate(t, migrate.Options{}, argoApp("a", "https://git/x", "p", "main", in, "ns")+"---\n"+appProject("default", "  sourceRepos: ['*']\n"))
	if slices.Contains(findings(item(t, res, "Application/argocd/a")), "to do spec.project") {
		t.Error("the default Project is imported, yet the Application is told to open the installed one")
	}
}
