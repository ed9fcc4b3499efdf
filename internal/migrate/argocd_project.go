package migrate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gobwas/glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// projectSource is a translated AppProject waiting for its sourceNamespaces,
// which depend on where the imported Applications go.
type projectSource struct {
	item    *Item
	project *v1.Project
	// namespaces are the AppProject's own sourceNamespaces, translated.
	namespaces []string
	// home is the AppProject's namespace, Argo CD's own, whose Applications
	// could use every project.
	home string
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
	// Argo CD lets the Applications of its own namespace use every project;
	// a Project is opened to a namespace only for the imported Applications
	// that name it (finishProjects).
	ps.home = item.Source.Namespace
	for i, ns := range spec.strings("sourceNamespaces") {
		if strings.HasPrefix(ns, "!") {
			item.add(Looser, fmt.Sprintf("spec.sourceNamespaces[%d]", i), "%q: Lockstep has no deny patterns; left out, so that namespace is no longer excluded by a broader pattern", ns)
			continue
		}
		ps.namespaces = append(ps.namespaces, ns)
	}
	for i, repo := range spec.strings("sourceRepos") {
		field := fmt.Sprintf("spec.sourceRepos[%d]", i)
		var credentials bool
		if repo, credentials = withoutCredentials(repo); credentials {
			item.add(Changed, field, "the credentials in the URL are left out (never written): a Project matches repositories without them, and each Application names its own Secret")
		}
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
		Allow: groupKinds(item, spec, "clusterResourceWhitelist", allowNone),
		Deny:  groupKinds(item, spec, "clusterResourceBlacklist", deny),
	}
	p.Spec.NamespacedResources = v1.ResourceRules{
		Allow: groupKinds(item, spec, "namespaceResourceWhitelist", allowEvery),
		Deny:  groupKinds(item, spec, "namespaceResourceBlacklist", deny),
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
	if accounts, _ := spec.raw("destinationServiceAccounts"); !isZero(accounts) {
		item.add(Looser, "spec.destinationServiceAccounts", "not translated: Argo CD chose the service accounts the Applications apply as; without spec.serviceAccountName in the Project, a Lockstep Application may name any service account of its namespace: set spec.serviceAccountName (one service account, in each Application's namespace)")
	}
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

// noKind is an allow entry that matches no kind: no API kind has
// parentheses in its name. It keeps an allow list closed whose entries did
// not translate, where an empty list would allow every kind.
var noKind = v1.GroupKind{Group: "", Kind: "(none)"}

// kindList says how an Argo CD list of kinds translates.
type kindList int

const (
	// allowNone is an allow list that allows nothing when empty, in both
	// (clusterResourceWhitelist).
	allowNone kindList = iota
	// allowEvery is an allow list that allows every kind when empty, in
	// both (namespaceResourceWhitelist).
	allowEvery
	// deny is a deny list.
	deny
)

// groupKinds translates a list of kinds. Lockstep matches a group or kind
// exactly or by a lone *; a pattern that does not translate is left out,
// which refuses more in an allow list and lets more through in a deny list
// (LOOSER). An allow list that allows every kind when empty, and whose
// entries all were left out, gets noKind instead of becoming empty: the
// source allowed only what it listed.
func groupKinds(item *Item, spec *fields, key string, list kindList) []v1.GroupKind {
	field := "spec." + key
	raw, present := spec.raw(key)
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
			if list == deny {
				item.add(Looser, field, "%s/%s: Lockstep matches a kind exactly or by a lone *; left out, so these kinds are no longer refused: list them one by one", gk.Group, gk.Kind)
			} else {
				item.add(Dropped, field, "%s/%s: Lockstep matches a kind exactly or by a lone *; left out, so these kinds are refused: list them one by one", gk.Group, gk.Kind)
			}
		case len(out) == 256 && list == deny:
			item.add(Looser, field, "%s/%s: Lockstep takes at most 256 kinds a list; left out, so it is no longer refused", gk.Group, gk.Kind)
		case len(out) == 256:
			item.add(Dropped, field, "%s/%s: Lockstep takes at most 256 kinds a list; left out, so it is refused", gk.Group, gk.Kind)
		default:
			out = append(out, gk)
		}
	}
	if list == allowEvery && len(out) == 0 && present && !isZero(raw) {
		out = []v1.GroupKind{noKind}
		item.add(Action, field, "none of its entries translated, and an empty namespacedResources.allow would allow every namespaced kind: it allows only the kind %q, which matches none, so the Project allows no namespaced kind until you list the kinds its Applications need", noKind.Kind)
	}
	return out
}

// finishProjects sets each Project's sourceNamespaces, now that it is known
// where its Applications went, and records the Projects. A Project is opened
// to its AppProject's own sourceNamespaces and to the namespaces of the
// imported Applications that name it, never to a namespace only because
// other Applications went there (--namespace); a namespace the AppProject
// did not allow is LOOSER.
func (t *translation) finishProjects() {
	// Project name → namespace → names of the Applications there naming it.
	users := map[string]map[string][]string{}
	for _, app := range t.result.Applications {
		project := firstNonEmpty(app.Spec.Project, v1.DefaultProject)
		if users[project] == nil {
			users[project] = map[string][]string{}
		}
		users[project][app.Namespace] = append(users[project][app.Namespace], app.Name)
	}
	for _, ps := range t.projects {
		p := ps.project
		if !t.claim(ps.item, "Project", p.Name) {
			continue
		}
		namespaces := slices.Clone(ps.namespaces)
		for ns := range users[p.Name] {
			namespaces = append(namespaces, ns)
		}
		if len(t.opts.ProjectNamespaces) > 0 {
			namespaces = slices.Clone(t.opts.ProjectNamespaces)
		}
		slices.Sort(namespaces)
		p.Spec.SourceNamespaces = slices.Compact(namespaces)
		if len(p.Spec.SourceNamespaces) > 256 {
			p.Spec.SourceNamespaces = p.Spec.SourceNamespaces[:256]
			ps.item.add(Dropped, "spec.sourceNamespaces", "Lockstep takes at most 256 namespaces")
		}
		own := slices.Clone(ps.namespaces)
		slices.Sort(own)
		own = slices.Compact(own)
		switch {
		case len(p.Spec.SourceNamespaces) == 0:
			ps.item.add(Action, "spec.sourceNamespaces", "no namespace may use this Project yet: no imported Application names it; list the namespaces of its Applications (Lockstep's Projects are closed until opened)")
		case !slices.Equal(p.Spec.SourceNamespaces, own):
			ps.item.add(Changed, "spec.sourceNamespaces", "%s: the namespaces whose Applications may name this Project (Argo CD allowed its own namespace implicitly; a Lockstep Project is opened to the namespaces of the imported Applications that name it)", strings.Join(p.Spec.SourceNamespaces, ", "))
		}
		t.reportWidening(ps, users[p.Name])
		t.result.Projects = append(t.result.Projects, p)
	}
}

// reportWidening says LOOSER for each namespace of a Project's
// sourceNamespaces whose Applications could not use the AppProject: neither
// Argo CD's own namespace nor one of the AppProject's sourceNamespaces.
func (t *translation) reportWidening(ps *projectSource, users map[string][]string) {
	before := slices.Clone(ps.namespaces)
	if ps.home != "" {
		before = append(before, ps.home)
	}
	allowedBefore := func(ns string) bool {
		for _, pattern := range before {
			if pattern == ns {
				return true
			}
			if g, err := glob.Compile(pattern); err == nil && !strings.ContainsAny(ns, "*?[{") && g.Match(ns) {
				return true
			}
		}
		return false
	}
	var wider []string
	for _, ns := range ps.project.Spec.SourceNamespaces {
		if !allowedBefore(ns) {
			wider = append(wider, ns)
		}
	}
	if len(wider) == 0 {
		return
	}
	var was []string
	if ps.home != "" {
		was = append(was, ps.home+" (Argo CD's own namespace)")
	}
	own := slices.Clone(ps.namespaces)
	slices.Sort(own)
	was = append(was, slices.Compact(own)...)
	allowedText := "the AppProject allowed Applications in no namespace"
	if len(was) > 0 {
		allowedText = "the AppProject allowed only Applications in " + strings.Join(was, " and ")
	}
	var why string
	if len(t.opts.ProjectNamespaces) > 0 {
		why = "given by --project-namespace"
	} else {
		var apps []string
		for _, ns := range wider {
			for _, name := range users[ns] {
				apps = append(apps, ns+"/"+name)
			}
		}
		slices.Sort(apps)
		if len(apps) > 5 {
			apps = append(apps[:5], fmt.Sprintf("and %d more", len(apps)-5))
		}
		why = "the imported Applications that name it are there: " + strings.Join(apps, ", ")
		if t.opts.Namespace != "" {
			why += ", moved there by --namespace"
		}
	}
	ps.item.add(Looser, "spec.sourceNamespaces", "%s: Applications there may name this Project (%s); %s. Whoever may create Applications in %s may now use this Project's rules: check that is meant",
		strings.Join(wider, ", "), why, allowedText, strings.Join(wider, ", "))
}
