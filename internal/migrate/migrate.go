// Package migrate translates Argo CD and Flux objects into Lockstep's: Argo CD
// Applications and AppProjects, Flux GitRepositories with the Kustomizations
// and HelmReleases that use them, into Applications and Projects. It takes
// documents and returns objects and a Report of every field that did not
// translate and why; it reads no cluster and no repository.
//
// The translation is conservative: a field is carried over only when Lockstep
// means the same by it, or the report says how the meaning changes. Nothing is
// made up: an object missing a value Lockstep needs is skipped, and said so.
package migrate

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Options change where the translated objects go.
type Options struct {
	// Namespace puts every Application in this namespace; empty keeps each
	// source object's own namespace. A Project is opened to it only for the
	// Applications there that name the Project.
	Namespace string
	// ProjectNamespaces, when set, are every Project's spec.sourceNamespaces.
	// By default a Project is opened to the namespaces of the imported
	// Applications that name it (and an AppProject's own sourceNamespaces).
	ProjectNamespaces []string
	// Suspend imports every Application with spec.suspend: true, so that
	// nothing is applied before someone reviewed its plan (lockstep diff).
	Suspend bool
}

// Result is what a translation made and its report.
type Result struct {
	Projects     []*v1.Project
	Applications []*v1.Application
	Report       Report
}

// Translate turns docs into Lockstep objects. It never fails: what cannot be
// translated is in the report.
func Translate(docs []Document, opts Options) *Result {
	t := &translation{
		opts:     opts,
		result:   &Result{},
		gitRepos: map[string]*gitRepo{},
		others:   map[string]string{},
		made:     map[string]string{},
		appItems: map[*v1.Application]*Item{},
	}
	// Sources first, whatever the order of the inputs: a Kustomization may
	// come before the GitRepository it names. The report keeps input order.
	t.items = make([]*Item, len(docs))
	for i, d := range docs {
		t.items[i] = &Item{Source: ref(d)}
		t.index(t.items[i], d)
	}
	for i, d := range docs {
		t.translate(t.items[i], d)
	}
	t.finish()
	return t.result
}

type translation struct {
	opts   Options
	result *Result
	items  []*Item
	// gitRepos are the Flux GitRepositories by namespace/name.
	gitRepos map[string]*gitRepo
	// others are Flux sources Lockstep cannot use, by Kind/namespace/name,
	// with their URL.
	others map[string]string
	// made maps each produced object (Application/ns/name) to its source.
	made map[string]string
	// projects remembers each AppProject's own sourceNamespaces.
	projects []*projectSource
	// appItems are the report items of the Applications made.
	appItems map[*v1.Application]*Item
}

// ref builds the SourceRef of a document.
func ref(d Document) SourceRef {
	r := SourceRef{File: d.File, Line: d.Line}
	r.APIVersion, _ = d.Object["apiVersion"].(string)
	r.Kind, _ = d.Object["kind"].(string)
	if meta, ok := d.Object["metadata"].(map[string]any); ok {
		r.Name, _ = meta["name"].(string)
		r.Namespace, _ = meta["namespace"].(string)
	}
	return r
}

func group(apiVersion string) string {
	g, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return "" // core: v1
	}
	return g
}

// kinds Lockstep does not translate, and why, by group.
var skippedGroups = map[string]string{
	"notification.toolkit.fluxcd.io": "Flux notifications have no translation: configure Lockstep's notifications and webhook receivers (see docs) instead",
	"image.toolkit.fluxcd.io":        "Flux image automation has no Lockstep equivalent: Lockstep applies what Git holds; update image digests in Git from CI",
	"kustomize.config.k8s.io":        "a kustomization.yaml, not a Flux Kustomization: the Application whose path holds it renders it",
	"lockstep.dev":                   "already a Lockstep object: apply it as it is",
	"source.extensions.fluxcd.io":    "a Flux source Lockstep cannot fetch from: Lockstep reads Git repositories only",
	"fluxcd.controlplane.io":         "a Flux Operator object: install Lockstep instead (lockstep install)",
	"infra.contrib.fluxcd.io":        "a Flux Terraform controller object: no Lockstep equivalent",
}

// kinds Lockstep does not translate, and why, by group/kind.
var skippedKinds = map[string]string{
	"argoproj.io/ApplicationSet":         "ApplicationSets are not translated: Lockstep has no generators yet; render the ApplicationSet's Applications (one per generator element) and import those",
	"source.toolkit.fluxcd.io/HelmChart": "a HelmChart is made by Flux from a HelmRelease's chart template; import the HelmRelease",
}

// index reads the sources and projects others refer to.
func (t *translation) index(item *Item, d Document) {
	r := item.Source
	if group(r.APIVersion) != "source.toolkit.fluxcd.io" {
		return
	}
	key := r.Namespace + "/" + r.Name
	if r.Kind == "GitRepository" {
		if first, dup := t.gitRepos[key]; dup {
			item.skip("a second GitRepository %s (the first is at %s): rename one of them", key, first.item.Source.Location())
			return
		}
		t.gitRepos[key] = t.fluxGitRepository(item, d.Object)
		return
	}
	url := ""
	if spec, ok := d.Object["spec"].(map[string]any); ok {
		url, _ = spec["url"].(string)
	}
	t.others[r.Kind+"/"+key] = url
}

func (t *translation) translate(item *Item, d Document) {
	r := item.Source
	g := group(r.APIVersion)
	if g == "source.toolkit.fluxcd.io" && r.Kind == "GitRepository" {
		return // indexed
	}
	if r.Kind == "" || r.APIVersion == "" {
		item.skip("not a Kubernetes object: apiVersion and kind are required")
		return
	}
	if reason, ok := skippedKinds[g+"/"+r.Kind]; ok {
		item.skip("%s", reason)
		return
	}
	switch {
	case g == "argoproj.io" && r.Kind == "Application":
		t.argoApplication(item, d.Object)
	case g == "argoproj.io" && r.Kind == "AppProject":
		t.argoProject(item, d.Object)
	case g == "kustomize.toolkit.fluxcd.io" && r.Kind == "Kustomization":
		t.fluxKustomization(item, d.Object)
	case g == "helm.toolkit.fluxcd.io" && r.Kind == "HelmRelease":
		t.fluxHelmRelease(item, d.Object)
	case g == "source.toolkit.fluxcd.io":
		item.skip("Lockstep reads Git repositories only; a %s is not translated (the HelmReleases and Kustomizations that use it are skipped, saying so)", r.Kind)
	case skippedGroups[g] != "":
		item.skip("%s", skippedGroups[g])
	case g == "argoproj.io":
		item.skip("an Argo CD %s has no Lockstep translation", r.Kind)
	case r.Kind == "Secret":
		item.skip("Secrets are never translated or copied: create the Secrets the report asks for yourself")
	default:
		item.skip("not an Argo CD or Flux object: an Application whose path holds it applies it")
	}
}

// finish opens Projects to their Applications' namespaces, reports unused
// Git sources and puts the report in input order.
func (t *translation) finish() {
	t.finishProjects()
	t.defaultProject()
	for _, repo := range t.gitRepos {
		if len(repo.item.UsedBy) == 0 && repo.item.Skipped == "" {
			repo.item.skip("no Kustomization or HelmRelease among the inputs uses it; a Lockstep Application names its repository itself")
		}
	}
	t.result.Report.Items = t.items
}

// objectMeta translates a source object's metadata into an Application's or
// Project's: the name, the namespace (Options.Namespace first), the labels.
// Annotations and finalizers carry the source tool's meaning and are reported.
// ok is false, with the item skipped, when a required value is missing or
// invalid.
func (t *translation) objectMeta(item *Item, obj map[string]any, namespaced bool) (metav1.ObjectMeta, *fields, bool) {
	top := newFields(item, "", obj)
	top.ignore("apiVersion", "kind", "status")
	meta := top.child("metadata")
	var om metav1.ObjectMeta
	om.Name = meta.str("name")
	sourceNamespace := meta.str("namespace")
	if labels := meta.child("labels"); labels != nil {
		for k := range labels.m {
			if v := labels.str(k); v != "" {
				if om.Labels == nil {
					om.Labels = map[string]string{}
				}
				om.Labels[k] = v
			}
		}
	}
	if ann := meta.child("annotations"); ann != nil {
		var keys []string
		for k := range ann.m {
			ann.ignore(k)
			if k != "kubectl.kubernetes.io/last-applied-configuration" {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			item.add(Dropped, "metadata.annotations", "not copied (%s): they are read by the source tool, not by Lockstep", strings.Join(keys, ", "))
		}
	}
	for _, f := range meta.strings("finalizers") {
		if strings.HasPrefix(f, "resources-finalizer.argocd.argoproj.io") && item.Source.Kind == "AppProject" {
			item.add(Dropped, "metadata.finalizers", "%s kept the AppProject while Applications used it; nothing keeps a Lockstep Project: its Applications are refused while it is missing (with --require-projects)", f)
		} else if strings.HasPrefix(f, "resources-finalizer.argocd.argoproj.io") {
			item.add(Changed, "metadata.finalizers", "%s deleted the Application's objects with it; deleting a Lockstep Application leaves its objects in the cluster: delete them, or prune them first by removing them from Git", f)
		} else {
			item.add(Dropped, "metadata.finalizers", "%s not copied", f)
		}
	}
	meta.ignore("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName")
	meta.rest()

	if om.Name == "" {
		item.skip("metadata.name is missing")
		return om, top, false
	}
	if errs := validation.IsDNS1123Subdomain(om.Name); len(errs) > 0 {
		item.skip("metadata.name %q is not a valid Lockstep object name: %s", om.Name, strings.Join(errs, "; "))
		return om, top, false
	}
	if namespaced {
		om.Namespace = sourceNamespace
		if t.opts.Namespace != "" {
			om.Namespace = t.opts.Namespace
		}
		if om.Namespace == "" {
			item.skip("the object names no namespace: give --namespace to say where its Application goes")
			return om, top, false
		}
		if errs := validation.IsDNS1123Label(om.Namespace); len(errs) > 0 {
			item.skip("namespace %q is not a valid namespace name: %s", om.Namespace, strings.Join(errs, "; "))
			return om, top, false
		}
	}
	return om, top, true
}

// claim records that item produced kind/key, refusing a second object of the
// same name (two sources of one name, or --namespace folding namespaces).
func (t *translation) claim(item *Item, kind, key string) bool {
	id := kind + "/" + key
	if first, taken := t.made[id]; taken {
		item.skip("%s was already made from %s: rename one of them", id, first)
		return false
	}
	t.made[id] = item.Source.String() + " (" + item.Source.Location() + ")"
	item.Produced = append(item.Produced, id)
	return true
}

// addApplication finishes and records an Application.
func (t *translation) addApplication(item *Item, app *v1.Application) {
	if !t.claim(item, "Application", app.Namespace+"/"+app.Name) {
		return
	}
	app.TypeMeta = metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Application"}
	if t.opts.Suspend {
		app.Spec.Suspend = true
	}
	if h := app.Spec.Source.Helm; h != nil && h.ReleaseName == "" && len(app.Name) > 53 {
		item.add(Action, "metadata.name", "the Helm release is named after the Application, and %q is longer than Helm's 53 characters: set spec.source.helm.releaseName", app.Name)
	}
	t.result.Applications = append(t.result.Applications, app)
	t.appItems[app] = item
}

// defaultProject tells the Applications on the Project default, unless it is
// imported too, that the default Project Lockstep installs allows nothing
// until an administrator opens it.
func (t *translation) defaultProject() {
	if _, imported := t.made["Project/"+v1.DefaultProject]; imported {
		return
	}
	for _, app := range t.result.Applications {
		if app.Spec.Project != "" && app.Spec.Project != v1.DefaultProject {
			continue
		}
		field := ""
		if app.Spec.Project != "" {
			field = "spec.project"
		}
		t.appItems[app].add(Action, field, "on the Project default: the default Project Lockstep installs allows no repository and no destination, so this Application syncs nothing "+
			"until an administrator opens it to the repository %s, the namespace %s and the kinds the Application applies (lockstep get project default says what it allows), or the Application names another Project",
			app.Spec.Source.Git.URL, app.Spec.Destination.Namespace)
	}
}

// gitURL checks a repository URL for Lockstep, which takes https:// and
// ssh://. An scp-like address (git@host:org/repo.git) means SSH and is
// rewritten as ssh://; anything else is refused. Credentials in the URL are
// left out of what it returns and of every message (see withoutCredentials):
// credentials says that there were some, and the caller asks for a Secret.
func gitURL(item *Item, field, url string) (clean string, credentials, ok bool) {
	shown, _ := withoutCredentials(url)
	switch {
	case url == "":
		item.skip("%s is missing: Lockstep needs the repository's URL", field)
		return "", false, false
	case strings.ContainsAny(url, " \t\r\n"):
		item.skip("%s %q contains white space", field, shown)
		return "", false, false
	case strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "ssh://"):
		if len(shown) > 2048 {
			item.skip("%s is longer than Lockstep's 2048 characters", field)
			return "", false, false
		}
		return shown, shown != url, true
	case !strings.Contains(url, "://") && strings.Contains(url, "@") && strings.Contains(url, ":"):
		user, rest, _ := strings.Cut(url, "@")
		host, path, _ := strings.Cut(rest, ":")
		user, password, _ := strings.Cut(user, ":")
		converted := "ssh://" + user + "@" + host + "/" + strings.TrimPrefix(path, "/")
		item.add(Changed, field, "%q is written as %q: the same SSH address in the URL form Lockstep takes", user+"@"+rest, converted)
		return converted, password != "", true
	default:
		item.skip("%s %q: Lockstep fetches over https:// or ssh:// only (no plain http://, git:// or file paths)", field, shown)
		return "", false, false
	}
}

// withoutCredentials takes the credentials out of a URL: the whole user
// information of an http(s) URL (the user name may be a token), the password
// of any other (ssh://git@host keeps its user name, which is no secret).
// changed says whether something was taken out.
func withoutCredentials(url string) (clean string, changed bool) {
	scheme, rest, found := strings.Cut(url, "://")
	if !found {
		return url, false
	}
	authority := rest
	if end := strings.Index(rest, "/"); end >= 0 {
		authority = rest[:end]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return url, false
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	switch s := strings.ToLower(scheme); {
	case s == "http" || s == "https":
		return scheme + "://" + rest[at+1:], true
	case hasPassword:
		return scheme + "://" + user + rest[at:], true
	}
	return url, false
}

// credentialsSecret asks for the Secret that replaces the credentials of a
// URL, with the keys Lockstep reads for its scheme.
func credentialsSecret(url, name, where string) string {
	if strings.HasPrefix(url, "ssh://") {
		return fmt.Sprintf("Lockstep authenticates over SSH with a key, not a password: create the Secret %s %s with the keys identity (the private key) and known_hosts", name, where)
	}
	return fmt.Sprintf("create the Secret %s %s with the keys username and password (a token goes in password)", name, where)
}

// secretName is the name of a Secret made up for an object: name-suffix, cut
// to Kubernetes' 253 characters.
func secretName(name, suffix string) string {
	if len(name)+len(suffix) > 253 {
		name = strings.TrimRight(name[:253-len(suffix)], "-.")
	}
	return name + suffix
}

// relPath cleans a path in a repository ("./apps/prod" → "apps/prod") and
// refuses one that leaves it.
func relPath(item *Item, field, p string) (string, bool) {
	clean := strings.TrimPrefix(p, "./")
	for strings.HasPrefix(clean, "./") {
		clean = strings.TrimPrefix(clean, "./")
	}
	clean = strings.TrimSuffix(clean, "/")
	if clean == "." {
		clean = ""
	}
	if strings.HasPrefix(clean, "/") || slices.Contains(strings.Split(clean, "/"), "..") {
		item.skip("%s %q leaves the repository root: Lockstep paths are relative to it and never contain '..'", field, p)
		return "", false
	}
	if len(clean) > 1024 {
		item.skip("%s is longer than Lockstep's 1024 characters", field)
		return "", false
	}
	return clean, true
}

// localName is a reference to an object in the Application's namespace.
func localName(name string) *v1.LocalObjectReference {
	return &v1.LocalObjectReference{Name: name}
}
