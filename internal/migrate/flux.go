package migrate

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// gitRepo is a Flux GitRepository, translated once and used by every
// Kustomization and HelmRelease that names it. Its findings are reported on
// its own item, not on each user.
type gitRepo struct {
	item     *Item
	ok       bool
	git      v1.GitSource
	interval *metav1.Duration
}

// fluxGitRepository translates a GitRepository into the source.git of the
// Applications made from the objects that use it.
func (t *translation) fluxGitRepository(item *Item, obj map[string]any) *gitRepo {
	repo := &gitRepo{item: item}
	top := newFields(item, "", obj)
	top.ignore("apiVersion", "kind", "status", "metadata") // it makes no object of its own
	spec := top.child("spec")
	top.rest()
	if item.Source.Name == "" {
		item.skip("metadata.name is missing")
		return repo
	}
	url, credentials, ok := gitURL(item, "spec.url", spec.str("url"))
	if !ok {
		return repo
	}
	repo.git.URL = url
	if repo.git.Ref, ok = fluxRef(item, spec.child("ref")); !ok {
		return repo
	}
	if secret := spec.child("secretRef"); secret != nil {
		name := secret.str("name")
		secret.rest()
		if name != "" {
			repo.git.SecretRef = localName(name)
			item.add(Action, "spec.secretRef", "each Application using this repository reads the Secret %s in its own namespace: create it there with username and password (HTTPS) or identity and known_hosts (SSH), the keys Flux reads; a bearerToken is not read, and a ca.crt must be named in spec.source.git.caSecretRef", name)
		}
	}
	if credentials {
		if repo.git.SecretRef == nil {
			repo.git.SecretRef = localName(secretName(item.Source.Name, "-git-credentials"))
		}
		item.add(Action, "spec.url", "the URL held credentials; they are left out of spec.source.git.url and of this report: %s, which spec.source.git.secretRef names",
			credentialsSecret(url, repo.git.SecretRef.Name, "in the namespace of each Application using this repository"))
	}
	if d, ok := spec.duration("interval", false); ok {
		if d < v1.MinInterval {
			item.add(Changed, "spec.interval", "%s raised to Lockstep's minimum of %s", d, v1.MinInterval)
			d = v1.MinInterval
		}
		repo.interval = &metav1.Duration{Duration: d}
	}
	if verify := spec.child("verify"); verify != nil {
		repo.git.Verify = fluxVerify(item, verify)
	}
	spec.drop("ignore", "no equivalent: Lockstep reads every file under the Application's path, including those this excluded; move them out of the path")
	spec.drop("include", "no equivalent: an Application reads one repository; copy the included files into it")
	spec.drop("recurseSubmodules", "no equivalent: Lockstep does not fetch submodules")
	spec.drop("proxySecretRef", "no equivalent: Lockstep reaches Git servers directly (closed networks)")
	spec.drop("provider", "no equivalent: Lockstep authenticates with the Secret in secretRef only")
	spec.drop("timeout", "no equivalent per repository: the controller's --fetch-timeout bounds every fetch")
	spec.drop("suspend", "no equivalent on a repository: suspend the Applications instead")
	spec.drop("sparseCheckout", "Lockstep fetches the whole repository and renders the Application's path")
	spec.ignore("gitImplementation", "accessFrom") // deprecated in Flux, no effect
	spec.rest()
	repo.ok = true
	return repo
}

// fluxRef reads a GitRepository's ref. Flux lets several be set and picks
// by precedence (commit, name, semver, tag, branch); Lockstep takes one.
func fluxRef(item *Item, ref *fields) (v1.GitRef, bool) {
	if ref == nil {
		return v1.GitRef{}, true // the default branch, in both
	}
	// In Flux's order of precedence.
	keys := []string{"commit", "name", "semver", "tag", "branch"}
	values := map[string]string{}
	var set []string
	for _, k := range keys {
		if values[k] = ref.str(k); values[k] != "" {
			set = append(set, k)
		}
	}
	ref.drop("semverFilter", "no equivalent: write the filter into the semver range, or follow a tag")
	ref.rest()
	var out v1.GitRef
	if len(set) == 0 {
		return out, true
	}
	if len(set) > 1 {
		item.add(Changed, "spec.ref", "Lockstep follows one ref: %s, which Flux gave precedence; %s left out", set[0], strings.Join(set[1:], ", "))
	}
	switch v := values[set[0]]; set[0] {
	case "commit":
		if !fullCommit.MatchString(v) {
			item.skip("spec.ref.commit %q: Lockstep pins a full 40-character commit hash", v)
			return out, false
		}
		out.Commit = v
	case "name":
		switch {
		case strings.HasPrefix(v, "refs/heads/"):
			out.Branch = strings.TrimPrefix(v, "refs/heads/")
		case strings.HasPrefix(v, "refs/tags/"):
			out.Tag = strings.TrimPrefix(v, "refs/tags/")
		default:
			item.skip("spec.ref.name %q: Lockstep follows branches, tags and commits, not other refs", v)
			return out, false
		}
	case "semver":
		out.Semver = v
	case "tag":
		out.Tag = v
	default:
		out.Branch = v
	}
	for _, v := range []string{out.Branch, out.Tag, out.Semver} {
		if len(v) > 255 {
			item.skip("spec.ref is longer than Lockstep's 255 characters")
			return out, false
		}
	}
	return out, true
}

// fluxVerify translates spec.verify: Flux's and Lockstep's modes share their
// names, and a Secret of armored PGP keys serves both.
func fluxVerify(item *Item, verify *fields) *v1.Verification {
	mode := verify.str("mode")
	secret := verify.child("secretRef")
	name := secret.str("name")
	secret.rest()
	verify.rest()
	out := &v1.Verification{}
	switch strings.ToLower(mode) {
	case "", "head":
		out.Mode = v1.VerifyHead
	case "tag":
		out.Mode = v1.VerifyTag
	case "tagandhead":
		out.Mode = v1.VerifyTagAndHead
	default:
		item.add(Invalid, "spec.verify.mode", "%q is not HEAD, Tag or TagAndHEAD; HEAD is verified", mode)
		out.Mode = v1.VerifyHead
	}
	if name == "" {
		item.add(Invalid, "spec.verify.secretRef", "no Secret of trusted keys; verification left out")
		item.add(Looser, "spec.verify", "commits are no longer verified: name a Secret of trusted keys in spec.source.git.verify.keysFrom")
		return nil
	}
	out.KeysFrom = []v1.KeySource{{Kind: "Secret", Name: name}}
	item.add(Action, "spec.verify.secretRef", "the Secret %s is read in each Application's namespace: its entries must be ASCII-armored PGP public keys (as Flux's) or an allowed_signers file", name)
	return out
}

// fluxSource finds the GitRepository a Kustomization or HelmRelease names.
func (t *translation) fluxSource(item *Item, field string, ref *fields) (*gitRepo, bool) {
	kind, name, ns := ref.str("kind"), ref.str("name"), ref.str("namespace")
	ref.ignore("apiVersion")
	ref.rest()
	if ns == "" {
		ns = item.Source.Namespace
	}
	key := ns + "/" + name
	switch {
	case name == "":
		item.skip("%s.name is missing", field)
		return nil, false
	case kind == "GitRepository":
	case kind == "HelmRepository":
		repoURL := t.others["HelmRepository/"+key]
		if repoURL == "" {
			repoURL = "REPO-URL"
		}
		item.skip("the chart comes from the Helm repository HelmRepository/%s; Lockstep renders charts from Git only: commit the chart to a Git repository (helm pull --repo %s CHART --version V --untar) and point an Application at its folder", key, repoURL)
		return nil, false
	case kind == "":
		item.skip("%s.kind is missing", field)
		return nil, false
	default:
		item.skip("the source is %s/%s; Lockstep reads Git repositories only: publish the manifests to a Git repository", kind, key)
		return nil, false
	}
	repo := t.gitRepos[key]
	switch {
	case repo == nil:
		item.skip("GitRepository/%s is not among the inputs: import it together with this object", key)
		return nil, false
	case !repo.ok:
		item.skip("GitRepository/%s did not translate (%s)", key, repo.item.Skipped)
		return nil, false
	}
	return repo, true
}

// fluxApplication starts an Application from a Flux object and its source.
func fluxApplication(meta metav1.ObjectMeta, repo *gitRepo) *v1.Application {
	app := &v1.Application{ObjectMeta: meta}
	app.Spec.Source.Git = *repo.git.DeepCopy()
	on := true
	app.Spec.Sync.Automated = &on
	if repo.interval != nil {
		app.Spec.Sync.Interval = repo.interval.DeepCopy()
	}
	app.Spec.Destination.Cluster = v1.InCluster
	return app
}

// fluxKustomization translates a Flux Kustomization with its GitRepository.
func (t *translation) fluxKustomization(item *Item, obj map[string]any) {
	meta, top, ok := t.objectMeta(item, obj, true)
	if !ok {
		return
	}
	spec := top.child("spec")
	top.rest()
	if spec.has("kubeConfig") {
		item.skip("spec.kubeConfig: it applies to another cluster; Lockstep applies to the cluster it runs in: run Lockstep there")
		return
	}
	repo, ok := t.fluxSource(item, "spec.sourceRef", spec.child("sourceRef"))
	if !ok {
		return
	}
	app := fluxApplication(meta, repo)
	if app.Spec.Source.Path, ok = relPath(item, "spec.path", spec.str("path")); !ok {
		return
	}
	if !t.fluxDestination(item, spec, app, app.Namespace) {
		return
	}
	sync := &app.Spec.Sync
	sync.Prune, _ = spec.boolean("prune")
	sync.SelfHeal = true // Flux corrects drift at every interval
	t.fluxInterval(item, spec, repo, sync)
	if meta.Name == "flux-system" && item.Source.Namespace == "flux-system" {
		item.add(Action, "spec.path", "this is Flux's own bootstrap Kustomization: its path holds Flux's components (gotk-components.yaml) and Flux objects, which Lockstep would apply as they are; once Flux is retired, remove them from the path or leave this Application out")
	}
	if d, ok := spec.duration("retryInterval", false); ok {
		backoff := atLeastSecond(item, "spec.retryInterval", d)
		sync.Retry = &v1.RetryPolicy{Backoff: backoff, MaxBackoff: backoff.DeepCopy()}
	}
	if d, ok := spec.duration("timeout", false); ok {
		sync.Timeout = &metav1.Duration{Duration: d}
	}
	sync.Wait, _ = spec.boolean("wait")
	if spec.has("healthChecks") && !sync.Wait {
		spec.drop("healthChecks", "no equivalent: Lockstep waits for every object with spec.sync.wait: true (set it to wait for these too)")
	}
	spec.ignore("healthChecks") // with wait: true, Flux ignores them too
	spec.drop("healthCheckExprs", "no equivalent: Lockstep's health rules are built in (kstatus)")
	app.Spec.DependsOn = t.fluxDependsOn(item, spec, app)
	app.Spec.Suspend, _ = spec.boolean("suspend")
	if dec := spec.child("decryption"); dec != nil {
		provider := dec.str("provider")
		secret := dec.child("secretRef")
		name := secret.str("name")
		secret.rest()
		dec.rest()
		switch {
		case provider != "" && provider != "sops":
			item.add(Dropped, "spec.decryption.provider", "%q: Lockstep decrypts SOPS files only", provider)
		case name == "":
			item.add(Dropped, "spec.decryption", "no secretRef (keys from the controller's cloud identity): Lockstep decrypts with age keys from a Secret; encrypted files fail the render until spec.source.decryption names one")
		default:
			app.Spec.Source.Decryption = &v1.Decryption{SecretRef: v1.LocalObjectReference{Name: name}}
			item.add(Action, "spec.decryption.secretRef", "Lockstep reads the age identities of the Secret %s in the Application's namespace %q (entries ending in .agekey, as Flux's); PGP, Vault and cloud KMS keys are not used", name, app.Namespace)
		}
	}
	if pb := spec.child("postBuild"); pb != nil {
		if subst := pb.child("substitute"); subst != nil {
			app.Spec.Source.Substitute = map[string]string{}
			for k := range subst.m {
				app.Spec.Source.Substitute[k] = subst.str(k)
			}
			item.add(Changed, "spec.postBuild.substitute", "Lockstep replaces ${NAME} only: a variable not listed fails the render instead of becoming empty, and ${NAME:=default} and other shell forms are not understood; the kustomize.toolkit.fluxcd.io/substitute: disabled label is not read")
		}
		pb.drop("substituteFrom", "no equivalent: copy the values into spec.source.substitute (never Secret values: keep those in SOPS-encrypted files)")
		pb.rest()
	}
	for _, key := range []string{"patches", "patchesStrategicMerge", "patchesJson6902", "images", "namePrefix", "nameSuffix", "commonMetadata", "components"} {
		spec.drop(key, "no equivalent: Lockstep renders the path's kustomization.yaml as it is; write %s there", key)
	}
	spec.ignore("ignoreMissingComponents")
	spec.drop("force", "no equivalent: an object whose immutable fields change must be deleted by hand, then synced")
	spec.drop("deletionPolicy", "no equivalent: deleting a Lockstep Application leaves its objects in the cluster")
	spec.ignore("validation") // deprecated in Flux, no effect
	spec.rest()
	t.addFluxApplication(item, app, repo)
}

// fluxInterval uses the GitRepository's interval, how often Git is asked, and
// reports the object's own, after which Flux corrected drift.
func (t *translation) fluxInterval(item *Item, spec *fields, repo *gitRepo, sync *v1.SyncPolicy) {
	d, ok := spec.duration("interval", false)
	if !ok {
		return
	}
	every := "every " + v1.DefaultInterval.String()
	if repo.interval != nil {
		every = "every " + repo.interval.Duration.String() + " (the GitRepository's interval)"
	}
	if sync.SelfHeal {
		item.add(Changed, "spec.interval", "%s: Lockstep reverts drift as soon as the watch reports it (sync.selfHeal: true) rather than every %s, and looks for new commits %s", d, d, every)
	} else {
		item.add(Changed, "spec.interval", "%s: Lockstep looks for new commits %s and sees drift as the watch reports it", d, every)
	}
}

// fluxDestination sets the destination namespace: targetNamespace, else
// fallback. Flux sets targetNamespace on every namespaced object, Lockstep
// only on those that name none.
func (t *translation) fluxDestination(item *Item, spec *fields, app *v1.Application, fallback string) bool {
	ns := spec.str("targetNamespace")
	switch {
	case ns != "" && item.Source.Kind == "Kustomization":
		item.add(Changed, "spec.targetNamespace", "Flux set %q on every namespaced object; Lockstep sets it on those that name none: to force it, write namespace: %s in the path's kustomization.yaml", ns, ns)
	case ns == "" && item.Source.Kind == "Kustomization":
		ns = fallback
		item.add(Changed, "spec.targetNamespace", "not set: objects that name no namespace go to %q, the Application's namespace", ns)
	case ns == "":
		ns = fallback
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		item.skip("the destination namespace %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		return false
	}
	app.Spec.Destination.Namespace = ns
	if sa := spec.str("serviceAccountName"); sa != "" {
		app.Spec.Destination.ServiceAccountName = sa
		if app.Namespace != item.Source.Namespace {
			item.add(Action, "spec.serviceAccountName", "the service account %s is impersonated in the Application's namespace %q: create it there with the permissions it had in %q", sa, app.Namespace, item.Source.Namespace)
		}
	}
	return true
}

// fluxDependsOn keeps the dependencies Lockstep can express: Applications of
// the same namespace.
func (t *translation) fluxDependsOn(item *Item, spec *fields, app *v1.Application) []v1.LocalObjectReference {
	var out []v1.LocalObjectReference
	for i, dep := range spec.children("dependsOn") {
		field := fmt.Sprintf("spec.dependsOn[%d]", i)
		name, ns := dep.str("name"), dep.str("namespace")
		dep.drop("readyExpr", "no equivalent: Lockstep waits for the dependency to be Ready")
		dep.rest()
		target := firstNonEmpty(t.opts.Namespace, ns, item.Source.Namespace)
		switch {
		case name == "":
			item.add(Invalid, field, "no name; left out")
		case target != app.Namespace:
			item.add(Dropped, field, "%s/%s is in another namespace; Lockstep Applications depend on Applications of their own namespace", ns, name)
		case name == app.Name:
			item.add(Invalid, field, "depends on itself; left out")
		case len(out) == 32:
			item.add(Dropped, field, "Lockstep takes at most 32 dependencies")
		default:
			out = append(out, v1.LocalObjectReference{Name: name})
		}
	}
	return out
}
