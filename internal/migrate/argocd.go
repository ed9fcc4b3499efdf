package migrate

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/strvals"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// inClusterServer is the address Argo CD gives the cluster it runs in.
const inClusterServer = "https://kubernetes.default.svc"

// argoApplication translates an Argo CD Application.
func (t *translation) argoApplication(item *Item, obj map[string]any) {
	meta, top, ok := t.objectMeta(item, obj, true)
	if !ok {
		return
	}
	spec := top.child("spec")
	top.ignore("operation") // a pending sync; Lockstep syncs on its own
	top.rest()
	if spec == nil {
		item.skip("spec is missing")
		return
	}
	app := &v1.Application{ObjectMeta: meta}
	app.Spec.Project = spec.str("project")
	if app.Spec.Project == "" {
		app.Spec.Project = v1.DefaultProject
	}

	src := spec.child("source")
	if sources := spec.children("sources"); len(sources) > 0 {
		if src != nil {
			item.skip("spec.source and spec.sources are both set; Argo CD uses spec.sources: Lockstep Applications have one source, so split it into one Application per source")
			return
		}
		if len(sources) > 1 {
			item.skip("spec.sources names %d sources: Lockstep Applications have one source (a values file from another repository is not possible either); split it into one Application per source, or put the chart and its values in one repository", len(sources))
			return
		}
		src = sources[0]
		item.add(Changed, "spec.sources", "a single source, translated as spec.source")
	}
	if src == nil {
		item.skip("spec.source is missing")
		return
	}
	if !t.argoSource(item, src, app) {
		return
	}
	if !t.argoDestination(item, spec.child("destination"), app) {
		return
	}
	t.argoSync(item, spec, &app.Spec.Sync)
	spec.drop("info", "no equivalent: Lockstep shows the Application's commit, sync and health")
	spec.drop("revisionHistoryLimit", "no equivalent: Lockstep keeps the last 10 syncs in the status and every sync in the audit ledger")
	spec.rest()
	t.addApplication(item, app)
}

// argoSource translates spec.source: the repository, revision and path, and
// the Helm, Kustomize and directory options.
func (t *translation) argoSource(item *Item, src *fields, app *v1.Application) bool {
	out := &app.Spec.Source
	if chart := src.str("chart"); chart != "" {
		item.skip("spec.source.chart: the chart %q comes from a Helm repository (%s); Lockstep renders charts from Git only: commit the chart (helm pull %s --untar) to a Git repository and point an Application at its folder", chart, src.str("repoURL"), chart)
		return false
	}
	if src.has("plugin") {
		item.skip("spec.source.plugin: a config management plugin renders this Application; Lockstep renders plain YAML, Kustomize, Helm and Jsonnet only: commit the plugin's output, or render it in CI")
		return false
	}
	url, credentials, ok := gitURL(item, "spec.source.repoURL", src.str("repoURL"))
	if !ok {
		return false
	}
	out.Git.URL = url
	if credentials {
		out.Git.SecretRef = localName(secretName(app.Name, "-git-credentials"))
		item.add(Action, "spec.source.repoURL", "the URL held credentials; they are left out of spec.source.git.url and of this report: %s, which spec.source.git.secretRef names",
			credentialsSecret(url, out.Git.SecretRef.Name, "in namespace "+app.Namespace))
	}
	if out.Git.Ref, ok = argoRevision(item, "spec.source.targetRevision", src.str("targetRevision")); !ok {
		return false
	}
	if out.Path, ok = relPath(item, "spec.source.path", src.str("path")); !ok {
		return false
	}
	src.ignore("ref") // only meaningful between several sources
	if h := src.child("helm"); h != nil {
		out.Helm = argoHelm(item, h, out.Path)
		item.add(Changed, "spec.source.helm", "Lockstep renders the chart as helm template does and leaves its hooks out (Argo CD ran them as sync hooks): annotate the hook templates lockstep.dev/hook (Lockstep reads argocd.argoproj.io/hook too) instead of helm.sh/hook")
	}
	if k := src.child("kustomize"); k != nil {
		for key := range k.m {
			k.ignore(key)
			if key == "version" {
				item.add(Dropped, k.at(key), "Lockstep renders with the Kustomize it is built with")
				continue
			}
			if !isZero(k.m[key]) {
				item.add(Dropped, k.at(key), "Lockstep renders the path's kustomization.yaml as it is: write %s there (for images: kustomize edit set image)", key)
			}
		}
	}
	if d := src.child("directory"); d != nil {
		if recurse, _ := d.boolean("recurse"); !recurse {
			item.add(Changed, "spec.source.directory.recurse", "Lockstep reads every YAML file under a plain folder, subfolders included; Argo CD read only the folder itself")
		}
		d.drop("include", "no equivalent: Lockstep reads every YAML and JSON file under the path; move the files to leave out elsewhere")
		d.drop("exclude", "no equivalent: Lockstep reads every YAML and JSON file under the path; move the files to leave out elsewhere")
		if j := d.child("jsonnet"); j != nil {
			out.Jsonnet = argoJsonnet(item, j)
		}
		d.rest()
	}
	src.rest()
	return true
}

var (
	fullCommit  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	shortCommit = regexp.MustCompile(`^[0-9a-f]{7,39}$`)
	version     = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+){1,2}([-+][0-9A-Za-z.-]+)?$`)
	semverRange = regexp.MustCompile(`[\^~<>=*| ]|\.[xX](\.|$)`)
)

// argoRevision reads a targetRevision, which Argo CD resolves as a branch, a
// tag, a commit or a semver range, where Lockstep needs to be told which.
func argoRevision(item *Item, field, rev string) (v1.GitRef, bool) {
	switch {
	case rev == "" || rev == "HEAD":
		return v1.GitRef{}, true
	case len(rev) > 255:
		item.skip("%s is longer than Lockstep's 255 characters", field)
		return v1.GitRef{}, false
	case fullCommit.MatchString(rev):
		return v1.GitRef{Commit: rev}, true
	case shortCommit.MatchString(rev):
		item.skip("%s %q is an abbreviated commit: Lockstep pins the full 40-character hash; write it out", field, rev)
		return v1.GitRef{}, false
	case strings.HasPrefix(rev, "refs/heads/"):
		return v1.GitRef{Branch: strings.TrimPrefix(rev, "refs/heads/")}, true
	case strings.HasPrefix(rev, "refs/tags/"):
		return v1.GitRef{Tag: strings.TrimPrefix(rev, "refs/tags/")}, true
	case strings.HasPrefix(rev, "refs/"):
		item.skip("%s %q: Lockstep follows branches, tags and commits, not other refs", field, rev)
		return v1.GitRef{}, false
	case semverRange.MatchString(rev):
		item.add(Changed, field, "%q read as a semver range over the repository's tags (ref.semver): the highest matching tag is followed", rev)
		return v1.GitRef{Semver: rev}, true
	case version.MatchString(rev):
		item.add(Changed, field, "%q read as a tag (ref.tag) because it reads as a version; if it is a branch, set ref.branch instead", rev)
		return v1.GitRef{Tag: rev}, true
	default:
		item.add(Changed, field, "%q read as a branch (ref.branch); Argo CD resolves tags by the same field: if it is a tag, set ref.tag instead", rev)
		return v1.GitRef{Branch: rev}, true
	}
}

// argoHelm translates spec.source.helm. Values, valuesObject and parameters
// are merged into one values object in Argo CD's order of precedence.
func argoHelm(item *Item, h *fields, chartPath string) *v1.HelmOptions {
	out := &v1.HelmOptions{}
	if name := h.str("releaseName"); name != "" {
		if len(name) > 53 {
			item.add(Invalid, h.at("releaseName"), "%q is longer than Helm's 53 characters; left out", name)
		} else {
			out.ReleaseName = name
		}
	}
	for i, f := range h.strings("valueFiles") {
		field := fmt.Sprintf("%s[%d]", h.at("valueFiles"), i)
		switch clean := path.Clean(f); {
		case strings.HasPrefix(f, "$"):
			item.add(Dropped, field, "%q comes from another source of a multi-source Application: copy it into the chart folder", f)
		case strings.Contains(f, "://"):
			item.add(Dropped, field, "%q is fetched from a URL; Lockstep fetches nothing but the Git repository: copy it into the chart folder", f)
		case strings.HasPrefix(clean, "/") || clean == ".." || strings.HasPrefix(clean, "../"):
			item.add(Dropped, field, "%q is outside the chart folder %q; Lockstep reads values files inside it only: move or copy it there", f, chartPath)
		default:
			out.ValuesFiles = append(out.ValuesFiles, clean)
		}
	}
	if ignore, _ := h.boolean("ignoreMissingValueFiles"); ignore {
		item.add(Changed, h.at("ignoreMissingValueFiles"), "Lockstep fails the render when a values file is missing")
	}
	values := map[string]any{}
	if v, ok := h.raw("values"); ok {
		switch v := v.(type) {
		case string:
			m := map[string]any{}
			if err := yaml.Unmarshal([]byte(v), &m); err != nil {
				item.add(Invalid, h.at("values"), "not YAML (%v); left out", err)
			} else {
				values = loader.MergeMaps(values, m)
			}
		case map[string]any:
			values = loader.MergeMaps(values, v)
		default:
			item.add(Invalid, h.at("values"), "must be YAML text, not %s; left out", typeName(v))
		}
	}
	if obj := h.child("valuesObject"); obj != nil {
		values = loader.MergeMaps(values, obj.m)
	}
	for i, p := range h.children("parameters") {
		name, value := p.str("name"), p.str("value")
		if raw, ok := p.raw("value"); ok {
			if _, isString := raw.(string); !isString {
				value = fmt.Sprint(raw) // written unquoted: Helm's --set reads it the same
			}
		}
		force, _ := p.boolean("forceString")
		p.rest()
		if name == "" {
			item.add(Invalid, fmt.Sprintf("%s[%d]", h.at("parameters"), i), "a parameter without a name; left out")
			continue
		}
		// As Argo CD passes it to helm --set: commas in the value are literal.
		set := name + "=" + strings.ReplaceAll(value, ",", `\,`)
		parse := strvals.ParseInto
		if force {
			parse = strvals.ParseIntoString
		}
		if err := parse(set, values); err != nil {
			item.add(Invalid, fmt.Sprintf("%s[%d]", h.at("parameters"), i), "%s: %v; left out", name, err)
		}
	}
	if len(values) > 0 {
		raw, err := json.Marshal(values)
		if err == nil {
			out.Values = &apiextensionsv1.JSON{Raw: raw}
		}
	}
	h.drop("fileParameters", "no equivalent (helm --set-file): put the files' content in spec.source.helm.values or a values file")
	h.drop("passCredentials", "Lockstep fetches no chart repositories")
	if skip, _ := h.boolean("skipCrds"); skip {
		item.add(Changed, h.at("skipCrds"), "Lockstep applies the chart's crds/ folder: move the CRDs out of the chart to leave them out")
	}
	h.drop("skipSchemaValidation", "Lockstep always checks values against the chart's schema")
	h.ignore("skipTests") // Lockstep leaves chart tests out, as this asks
	h.drop("version", "Lockstep renders with the Helm SDK it is built with")
	h.drop("namespace", "no equivalent: the release namespace is spec.destination.namespace")
	h.drop("kubeVersion", "no equivalent: Lockstep gives the chart the cluster's Kubernetes version")
	h.drop("apiVersions", "no equivalent: Lockstep renders without the cluster's API versions (Helm's defaults)")
	h.rest()
	return out
}

// argoJsonnet translates spec.source.directory.jsonnet; Lockstep passes
// strings only.
func argoJsonnet(item *Item, j *fields) *v1.JsonnetOptions {
	out := &v1.JsonnetOptions{}
	read := func(key string, into *map[string]string) {
		for i, v := range j.children(key) {
			name, value := v.str("name"), v.str("value")
			code, _ := v.boolean("code")
			v.rest()
			field := fmt.Sprintf("%s[%d]", j.at(key), i)
			if name == "" {
				item.add(Invalid, field, "no name; left out")
				continue
			}
			if code {
				item.add(Dropped, field, "%s is Jsonnet code; Lockstep passes strings only: parse it in the Jsonnet program (std.parseJson)", name)
				continue
			}
			if *into == nil {
				*into = map[string]string{}
			}
			(*into)[name] = value
		}
	}
	read("tlas", &out.TLAs)
	read("extVars", &out.ExtVars)
	j.drop("libs", "no equivalent: Lockstep imports from the repository only; vendor the libraries")
	j.rest()
	return out
}

// argoDestination translates spec.destination. Lockstep applies to the
// cluster it runs in; an Application for another cluster is skipped.
func (t *translation) argoDestination(item *Item, dst *fields, app *v1.Application) bool {
	if dst == nil {
		item.skip("spec.destination is missing")
		return false
	}
	server, name := dst.str("server"), dst.str("name")
	if server == "" && name == "" {
		item.skip("spec.destination names no cluster (server or name)")
		return false
	}
	if (server != "" && strings.TrimSuffix(server, "/") != inClusterServer) || (name != "" && name != v1.InCluster) {
		item.skip("spec.destination is another cluster (%s): Lockstep applies to the cluster it runs in; run Lockstep there and import this Application into it", strings.TrimSpace(server+" "+name))
		return false
	}
	ns := dst.str("namespace")
	dst.rest()
	if ns == "" {
		ns = app.Namespace
		item.add(Changed, "spec.destination.namespace", "empty: objects that name no namespace go to %q, the Application's namespace (Argo CD used the cluster's default namespace)", ns)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		item.skip("spec.destination.namespace %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		return false
	}
	app.Spec.Destination = v1.Destination{Cluster: v1.InCluster, Namespace: ns}
	return true
}

// argoSync translates spec.syncPolicy and spec.ignoreDifferences.
func (t *translation) argoSync(item *Item, spec *fields, out *v1.SyncPolicy) {
	policy := spec.child("syncPolicy")
	automated := policy.child("automated")
	on := automated != nil
	if enabled, set := automated.boolean("enabled"); set {
		on = enabled
	}
	// Argo CD syncs by hand unless told otherwise; Lockstep automates unless told.
	out.Automated = &on
	out.Prune, _ = automated.boolean("prune")
	out.SelfHeal, _ = automated.boolean("selfHeal")
	automated.drop("allowEmpty", "no equivalent: a render that yields nothing is applied as such when prune is on")
	automated.rest()

	respectIgnored := false
	for i, opt := range policy.strings("syncOptions") {
		field := fmt.Sprintf("spec.syncPolicy.syncOptions[%d]", i)
		key, value, _ := strings.Cut(opt, "=")
		on := strings.EqualFold(value, "true")
		switch key {
		case "CreateNamespace":
			out.CreateNamespace = on
		case "ServerSideApply", "ApplyOutOfSyncOnly":
			if !on {
				item.add(Changed, field, "%s: Lockstep always applies server-side, and only what changed", opt)
			}
		case "RespectIgnoreDifferences":
			respectIgnored = on
		case "FailOnSharedResource":
			if !on {
				item.add(Changed, field, "%s: Lockstep always refuses an object another Application manages", opt)
			}
		case "Replace":
			if on {
				item.add(Dropped, field, "%s: no equivalent; Lockstep applies server-side; an object whose immutable fields change must be deleted by hand, then synced", opt)
			}
		case "Validate":
			if !on {
				item.add(Dropped, field, "%s: no equivalent; the API server validates what Lockstep applies", opt)
			}
		default:
			item.add(Dropped, field, "%s: no equivalent", opt)
		}
	}
	policy.drop("managedNamespaceMetadata", "no equivalent: put a Namespace object with those labels and annotations in Git")
	if retry := policy.child("retry"); retry != nil {
		out.Retry = argoRetry(item, retry)
	}
	policy.rest()

	for i, d := range spec.children("ignoreDifferences") {
		if rule, ok := argoIgnore(item, d); ok {
			if len(out.IgnoreDifferences) == 100 {
				item.add(Dropped, fmt.Sprintf("spec.ignoreDifferences[%d]", i), "Lockstep takes at most 100 rules")
				continue
			}
			out.IgnoreDifferences = append(out.IgnoreDifferences, rule)
		}
	}
	if len(out.IgnoreDifferences) > 0 && !respectIgnored {
		item.add(Changed, "spec.ignoreDifferences", "Lockstep also leaves these fields as the cluster has them when it syncs; Argo CD overwrote them on sync (without RespectIgnoreDifferences=true)")
	}
}

// argoRetry translates a retry policy: Lockstep doubles the delay each time.
func argoRetry(item *Item, retry *fields) *v1.RetryPolicy {
	out := &v1.RetryPolicy{}
	if limit, ok := retry.integer("limit"); ok {
		switch {
		case limit > 0:
			out.Limit = int32(min(limit, 1<<31-1))
		case limit == 0:
			item.add(Changed, retry.at("limit"), "0: Lockstep has no \"no retries\"; a limit of 0 retries forever: set a limit")
		}
	}
	backoff := retry.child("backoff")
	if d, ok := backoff.duration("duration", true); ok {
		out.Backoff = atLeastSecond(item, backoff.at("duration"), d)
	}
	if d, ok := backoff.duration("maxDuration", true); ok {
		out.MaxBackoff = atLeastSecond(item, backoff.at("maxDuration"), d)
	}
	if factor, ok := backoff.integer("factor"); ok && factor != 2 {
		item.add(Changed, backoff.at("factor"), "%d: Lockstep doubles the delay after each retry", factor)
	}
	backoff.rest()
	retry.rest()
	return out
}

func atLeastSecond(item *Item, field string, d time.Duration) *metav1.Duration {
	if d < time.Second {
		item.add(Changed, field, "%s raised to Lockstep's minimum of 1s", d)
		d = time.Second
	}
	return &metav1.Duration{Duration: d}
}

// argoIgnore translates one ignoreDifferences rule; Lockstep matches exact
// kinds by JSON pointer.
func argoIgnore(item *Item, d *fields) (v1.IgnoreDifference, bool) {
	rule := v1.IgnoreDifference{Group: d.str("group"), Kind: d.str("kind"), Name: d.str("name"), Namespace: d.str("namespace")}
	d.drop("jqPathExpressions", "no equivalent: Lockstep names fields by JSON pointer (jsonPointers)")
	d.drop("managedFieldsManagers", "no equivalent: name the fields by JSON pointer (jsonPointers)")
	for _, p := range d.strings("jsonPointers") {
		if !strings.HasPrefix(p, "/") {
			item.add(Invalid, d.at("jsonPointers"), "%q does not start with /; left out", p)
			continue
		}
		if len(rule.JSONPointers) == 50 {
			item.add(Dropped, d.at("jsonPointers"), "Lockstep takes at most 50 pointers a rule; %q left out", p)
			continue
		}
		rule.JSONPointers = append(rule.JSONPointers, p)
	}
	d.rest()
	switch {
	case rule.Kind == "" || rule.Kind == "*" || rule.Group == "*":
		item.add(Dropped, d.path, "Lockstep rules name one kind and group, not %q/%q", rule.Group, rule.Kind)
		return rule, false
	case len(rule.JSONPointers) == 0:
		item.add(Dropped, d.path, "no JSON pointer left for %s", rule.Kind)
		return rule, false
	}
	return rule, true
}
