package migrate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// projectSource is a translated AppProject waiting for its sourceNamespaces,
// which depend on where the imported Applications go.
type projectSource struct {
	item    *Item
	project *v1.Project
	// namespaces are the AppProject's own sourceNamespaces, translated, and
	// the namespace Applications of Argo CD's own namespace are imported to.
	namespaces []string
}

// argoProject translates an Argo CD AppProject into a Project. Every rule that
// does not translate is reported; one whose loss lets more through is LOOSER.
func (t *translation) argoProject(item *Item, obj map[string]any) {
	meta, top, ok := t.objectMeta(item, obj, false)
	if !ok {
		return
	}
	spec := top.child("spec")
	top.rest()
	p := &v1.Project{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Project"},
		ObjectMeta: metav1.ObjectMeta{Name: meta.Name, Labels: meta.Labels},
	}
	ps := &projectSource{item: item, project: p}
	if desc := spec.str("description"); len(desc) > 1024 {
		item.add(Changed, "spec.description", "cut to Lockstep's 1024 characters")
		p.Spec.Description = desc[:1024]
	} else {
		p.Spec.Description = desc
	}
	// Argo CD lets the Applications of its own namespace use every project:
	// they are imported to --namespace, or stay in that namespace.
	if home := firstNonEmpty(t.opts.Namespace, item.Source.Namespace); home != "" {
		ps.namespaces = append(ps.namespaces, home)
	}
	for i, ns := range spec.strings("sourceNamespaces") {
		if strings.HasPrefix(ns, "!") {
			item.add(Looser, fmt.Sprintf("spec.sourceNamespaces[%d]", i), "%q: Lockstep has no deny patterns; left out, so that namespace is no longer excluded by a broader pattern", ns)
			continue
		}
		ps.namespaces = append(ps.namespaces, ns)
	}
	for i, repo := range spec.strings("sourceRepos") {
		field := fmt.Sprintf("spec.sourceRepos[%d]", i)
		switch {
		case strings.HasPrefix(repo, "!"):
			item.add(Looser, field, "%q: Lockstep has no deny patterns; left out, so that repository is no longer refused", repo)
		case repo == "*":
			p.Spec.SourceRepos = append(p.Spec.SourceRepos, repo) // any repository in both
		case strings.Contains(repo, "*"):
			// Argo CD's * crosses path segments; Lockstep's ** does.
			converted := singleStar.ReplaceAllString(repo, "$1**")
			item.add(Changed, field, "%q written as %q: Lockstep's * stays within one path segment, ** crosses them as Argo CD's * did", repo, converted)
			p.Spec.SourceRepos = append(p.Spec.SourceRepos, converted)
		default:
			p.Spec.SourceRepos = append(p.Spec.SourceRepos, repo)
		}
	}
	p.Spec.Destinations = argoProjectDestinations(item, spec)
	p.Spec.ClusterResources = v1.ResourceRules{
		Allow: groupKinds(item, spec, "clusterResourceWhitelist", true),
		Deny:  groupKinds(item, spec, "clusterResourceBlacklist", false),
	}
	p.Spec.NamespacedResources = v1.ResourceRules{
		Allow: groupKinds(item, spec, "namespaceResourceWhitelist", true),
		Deny:  groupKinds(item, spec, "namespaceResourceBlacklist", false),
	}
	if keys := spec.children("signatureKeys"); len(keys) > 0 {
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.str("keyID"))
			k.rest()
		}
		secret := meta.Name + "-signature-keys"
		if len(secret) > 253 {
			secret = secret[len(secret)-253:]
		}
		p.Spec.Verification = &v1.Verification{Mode: v1.VerifyHead, KeysFrom: []v1.KeySource{{Kind: "Secret", Name: secret}}}
		item.add(Action, "spec.signatureKeys", "create the Secret %s in the controller's namespace holding the ASCII-armored PGP public keys %s (Argo CD kept them in argocd-gpg-keys-cm); until it exists, every sync of the Project's Applications fails VerificationFailed", secret, strings.Join(ids, ", "))
	}
	spec.drop("roles", "no equivalent: who may see and sync Applications is Lockstep's API RBAC policy (docs/api.md), and tokens are lockstep tokens")
	if windows := spec.list("syncWindows"); len(windows) > 0 {
		item.add(Looser, "spec.syncWindows", "no equivalent: Lockstep syncs at any time; suspend Applications (lockstep suspend) for a freeze")
	}
	spec.drop("orphanedResources", "no equivalent: Lockstep watches only what its Applications applied")
	spec.drop("destinationServiceAccounts", "not translated: Lockstep impersonates one service account in each Application's namespace; set spec.serviceAccountName of the Project")
	spec.drop("permitOnlyProjectScopedClusters", "no equivalent: Lockstep applies to its own cluster only")
	spec.rest()
	t.projects = append(t.projects, ps)
}

// singleStar finds a * that is not part of **.
var singleStar = regexp.MustCompile(`(^|[^*])\*`)

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// argoProjectDestinations keeps the destinations in the cluster Lockstep
// runs in; the others allowed what Lockstep cannot do anyway.
func argoProjectDestinations(item *Item, spec *fields) []v1.ProjectDestination {
	var out []v1.ProjectDestination
	for i, d := range spec.children("destinations") {
		field := fmt.Sprintf("spec.destinations[%d]", i)
		server, name, ns := d.str("server"), d.str("name"), d.str("namespace")
		d.rest()
		inCluster := (server == "" || server == "*" || strings.TrimSuffix(server, "/") == inClusterServer) &&
			(name == "" || name == "*" || name == v1.InCluster)
		switch {
		case !inCluster:
			item.add(Dropped, field, "another cluster (%s): Lockstep applies to the cluster it runs in", strings.TrimSpace(server+" "+name))
		case strings.HasPrefix(ns, "!"):
			item.add(Looser, field, "%q: Lockstep has no deny destinations; left out, so that namespace is no longer refused", ns)
		case ns == "":
			item.add(Invalid, field, "no namespace; left out")
		case len(out) == 256:
			item.add(Dropped, field, "Lockstep takes at most 256 destinations")
		default:
			out = append(out, v1.ProjectDestination{Namespace: ns})
		}
	}
	return out
}

// groupKinds translates a list of kinds. Lockstep matches a group or kind
// exactly or by a lone *; a pattern that does not translate is left out,
// which refuses more in an allow list and lets more through in a deny list.
func groupKinds(item *Item, spec *fields, key string, allow bool) []v1.GroupKind {
	var out []v1.GroupKind
	for i, e := range spec.children(key) {
		field := fmt.Sprintf("spec.%s[%d]", key, i)
		gk := v1.GroupKind{Group: e.str("group"), Kind: e.str("kind")}
		e.rest()
		pattern := func(s string) bool { return s != "*" && strings.ContainsAny(s, "*?[") }
		switch {
		case gk.Kind == "":
			item.add(Invalid, field, "no kind; left out")
		case pattern(gk.Group) || pattern(gk.Kind) || len(gk.Kind) > 63 || len(gk.Group) > 253:
			if allow {
				item.add(Dropped, field, "%s/%s: Lockstep matches a kind exactly or by a lone *; left out, so these kinds are refused: list them one by one", gk.Group, gk.Kind)
			} else {
				item.add(Looser, field, "%s/%s: Lockstep matches a kind exactly or by a lone *; left out, so these kinds are no longer refused: list them one by one", gk.Group, gk.Kind)
			}
		case len(out) == 256:
			item.add(Dropped, field, "Lockstep takes at most 256 kinds a list")
		default:
			out = append(out, gk)
		}
	}
	return out
}

// finishProjects sets each Project's sourceNamespaces, now that it is known
// where its Applications went, and records the Projects.
func (t *translation) finishProjects() {
	used := map[string][]string{}
	for _, app := range t.result.Applications {
		used[app.Spec.Project] = append(used[app.Spec.Project], app.Namespace)
	}
	for _, ps := range t.projects {
		p := ps.project
		if !t.claim(ps.item, "Project", p.Name) {
			continue
		}
		namespaces := append(append([]string(nil), ps.namespaces...), used[p.Name]...)
		if len(t.opts.ProjectNamespaces) > 0 {
			namespaces = t.opts.ProjectNamespaces
		}
		slices.Sort(namespaces)
		p.Spec.SourceNamespaces = slices.Compact(namespaces)
		if len(p.Spec.SourceNamespaces) > 256 {
			p.Spec.SourceNamespaces = p.Spec.SourceNamespaces[:256]
			ps.item.add(Dropped, "spec.sourceNamespaces", "Lockstep takes at most 256 namespaces")
		}
		if len(p.Spec.SourceNamespaces) == 0 {
			ps.item.add(Action, "spec.sourceNamespaces", "no namespace may use this Project yet: list the namespaces of its Applications (Lockstep's Projects are closed until opened)")
		} else {
			ps.item.add(Changed, "spec.sourceNamespaces", "%s: the namespaces whose Applications may name this Project (Argo CD allowed its own namespace implicitly)", strings.Join(p.Spec.SourceNamespaces, ", "))
		}
		t.result.Projects = append(t.result.Projects, p)
	}
}
