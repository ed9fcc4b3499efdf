package migrate

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// fluxHelmRelease translates a Flux HelmRelease whose chart is a folder of a
// GitRepository. A chart from a Helm or OCI repository is skipped: Lockstep
// renders charts from Git only.
func (t *translation) fluxHelmRelease(item *Item, obj map[string]any) {
	meta, top, ok := t.objectMeta(item, obj, true)
	if !ok {
		return
	}
	spec := top.child("spec")
	top.rest()
	switch {
	case spec.has("kubeConfig"):
		item.skip("spec.kubeConfig: it installs into another cluster; Lockstep applies to the cluster it runs in: run Lockstep there")
		return
	case spec.has("chartRef"):
		ref := spec.child("chartRef")
		item.skip("spec.chartRef: the chart comes from %s/%s; Lockstep renders charts from Git only: commit the chart to a Git repository and point an Application at its folder", ref.str("kind"), ref.str("name"))
		return
	}
	chart := spec.child("chart")
	chartSpec := chart.child("spec")
	chart.drop("metadata", "no equivalent: the chart's HelmChart object is Flux's own")
	chart.rest()
	if chartSpec == nil {
		item.skip("spec.chart.spec is missing")
		return
	}
	repo, ok := t.fluxSource(item, "spec.chart.spec.sourceRef", chartSpec.child("sourceRef"))
	if !ok {
		return
	}
	app := fluxApplication(meta, repo)
	chartPath := chartSpec.str("chart")
	if strings.HasSuffix(chartPath, ".tgz") {
		item.skip("spec.chart.spec.chart %q is a packaged chart; Lockstep renders a chart folder: unpack it into the repository", chartPath)
		return
	}
	if app.Spec.Source.Path, ok = relPath(item, "spec.chart.spec.chart", chartPath); !ok {
		return
	}
	if app.Spec.Source.Path == "" {
		item.skip("spec.chart.spec.chart is missing: the chart's folder in the repository")
		return
	}
	helm := &v1.HelmOptions{}
	app.Spec.Source.Helm = helm
	fluxValuesFiles(item, chartSpec, app.Spec.Source.Path, helm)
	chartSpec.ignore("version", "interval", "reconcileStrategy") // Flux ignores the version for Git charts; the others are Flux's own
	chartSpec.drop("verify", "no equivalent for a chart: verify the Git commits (spec.source.git.verify)")
	chartSpec.rest()

	// The release namespace: targetNamespace, else the HelmRelease's own (not
	// --namespace, which only moves the Application).
	if !t.fluxDestination(item, spec, app, item.Source.Namespace) {
		return
	}
	target := spec.str("targetNamespace")
	releaseName := spec.str("releaseName")
	if releaseName == "" && target != "" {
		releaseName = target + "-" + item.Source.Name // Flux's default
	}
	switch {
	case len(releaseName) > 53:
		item.add(Changed, "spec.releaseName", "%q is longer than Helm's 53 characters (Flux shortened it with a hash): set spec.source.helm.releaseName to the release's name", releaseName)
	case releaseName != "" && releaseName != app.Name:
		helm.ReleaseName = releaseName
	}
	if values := spec.child("values"); values != nil && len(values.m) > 0 {
		if raw, err := json.Marshal(values.m); err == nil {
			helm.Values = &apiextensionsv1.JSON{Raw: raw}
		}
	}
	for i, ref := range spec.children("valuesFrom") {
		field := fmt.Sprintf("spec.valuesFrom[%d]", i)
		kind, name, key := ref.str("kind"), ref.str("name"), ref.str("valuesKey")
		optional, _ := ref.boolean("optional")
		if ref.has("targetPath") {
			ref.drop("targetPath", "no equivalent: Lockstep merges a values key at the root; write the value as a YAML document of the whole path")
			ref.rest()
			continue
		}
		ref.rest()
		if (kind != "ConfigMap" && kind != "Secret") || name == "" {
			item.add(Invalid, field, "needs kind ConfigMap or Secret and a name; left out")
			continue
		}
		helm.ValuesFrom = append(helm.ValuesFrom, v1.ValuesReference{Kind: kind, Name: name, Key: key, Optional: optional})
		if app.Spec.Destination.Namespace != item.Source.Namespace {
			item.add(Action, field, "Lockstep reads %s %s in the destination namespace %q, not %q: create it there", kind, name, app.Spec.Destination.Namespace, item.Source.Namespace)
		}
	}

	sync := &app.Spec.Sync
	sync.Prune = true // an upgrade deletes what the chart no longer renders
	if drift := spec.child("driftDetection"); drift != nil {
		sync.SelfHeal = drift.str("mode") == "enabled"
		for i, rule := range drift.children("ignore") {
			if r, ok := fluxIgnore(item, fmt.Sprintf("spec.driftDetection.ignore[%d]", i), rule); ok {
				sync.IgnoreDifferences = append(sync.IgnoreDifferences, r)
			}
		}
		drift.rest()
	}
	t.fluxInterval(item, spec, repo, sync)
	if !sync.SelfHeal {
		item.add(Changed, "spec.driftDetection", "drift correction was off: Lockstep shows drift (OutOfSync) and reverts it only at the next sync; set spec.sync.selfHeal: true to revert it at once")
	}
	if d, ok := spec.duration("timeout", false); ok {
		sync.Timeout = &metav1.Duration{Duration: d}
	}
	sync.Wait = true // Helm's --wait, Flux's default
	install, upgrade := spec.child("install"), spec.child("upgrade")
	if noWait, _ := install.boolean("disableWait"); noWait {
		sync.Wait = false
	}
	sync.CreateNamespace, _ = install.boolean("createNamespace")
	for _, action := range []*fields{install, upgrade} {
		if action == nil {
			continue
		}
		action.ignore("disableWait", "createNamespace", "disableHooks", "timeout")
		action.drop("remediation", "no equivalent: Lockstep retries a failed sync with backoff (spec.sync.retry) and never rolls back on its own; roll back with git revert")
		if crds := action.str("crds"); crds == "Skip" {
			item.add(Changed, action.at("crds"), "Lockstep applies the chart's crds/ folder on every sync")
		}
		action.drop("disableWaitForJobs", "no equivalent: with spec.sync.wait Lockstep waits for Jobs too")
		action.drop("force", "no equivalent: an object whose immutable fields change must be deleted by hand, then synced")
		action.drop("cleanupOnFail", "no equivalent: a failed sync leaves the cluster as the apply left it")
		action.rest()
	}
	spec.drop("test", "no equivalent: Lockstep runs no chart tests")
	spec.drop("rollback", "no equivalent: roll back with git revert")
	spec.drop("uninstall", "no equivalent: deleting a Lockstep Application leaves its objects in the cluster")
	spec.drop("postRenderers", "no equivalent: Lockstep applies the chart's output as rendered; patch the chart, or render it into Kustomize in the repository")
	spec.drop("maxHistory", "no equivalent: Lockstep keeps no Helm release; its audit ledger is the history")
	spec.drop("storageNamespace", "no equivalent: Lockstep keeps no Helm release")
	spec.drop("commonMetadata", "no equivalent: set the labels in the chart's values or templates")
	spec.ignore("persistentClient", "serviceAccountName", "targetNamespace")
	app.Spec.DependsOn = t.fluxDependsOn(item, spec, app)
	app.Spec.Suspend, _ = spec.boolean("suspend")
	spec.rest()
	item.add(Changed, "spec.chart", "Lockstep renders the chart as helm template does and applies the objects: no Helm release is recorded (helm list stops showing it; its existing objects are adopted), and the chart's tests and helm.sh/hook hooks are not run (annotate hooks lockstep.dev/hook instead)")
	t.addFluxApplication(item, app, repo)
}

// fluxValuesFiles translates the chart's values files. Flux's are relative to
// the repository root and replace the chart's values.yaml; Lockstep's are in
// the chart's folder and merge over values.yaml.
func fluxValuesFiles(item *Item, chartSpec *fields, chartDir string, helm *v1.HelmOptions) {
	files := chartSpec.strings("valuesFiles")
	if single := chartSpec.str("valuesFile"); single != "" {
		files = append([]string{single}, files...)
	}
	if ignore, _ := chartSpec.boolean("ignoreMissingValuesFiles"); ignore {
		item.add(Changed, "spec.chart.spec.ignoreMissingValuesFiles", "Lockstep fails the render when a values file is missing")
	}
	if len(files) == 0 {
		return
	}
	defaults := false
	for i, f := range files {
		field := fmt.Sprintf("spec.chart.spec.valuesFiles[%d]", i)
		clean := path.Clean(strings.TrimPrefix(f, "./"))
		rel, inside := strings.CutPrefix(clean, chartDir+"/")
		switch {
		case !inside:
			item.add(Dropped, field, "%q is outside the chart folder %q; Lockstep reads values files inside it only: move or copy it there", f, chartDir)
		case rel == "values.yaml":
			defaults = true
			if i > 0 {
				item.add(Changed, field, "Lockstep reads values.yaml first, before the other values files")
			}
		default:
			helm.ValuesFiles = append(helm.ValuesFiles, rel)
		}
	}
	if !defaults {
		item.add(Changed, "spec.chart.spec.valuesFiles", "Flux used these files instead of the chart's values.yaml; Lockstep merges them over values.yaml, so its defaults stay unless they override them")
	}
}

// fluxIgnore translates a drift-detection ignore rule; Lockstep needs a kind.
func fluxIgnore(item *Item, field string, rule *fields) (v1.IgnoreDifference, bool) {
	paths := rule.strings("paths")
	target := rule.child("target")
	var r v1.IgnoreDifference
	if target != nil {
		r.Group, r.Kind, r.Name, r.Namespace = target.str("group"), target.str("kind"), target.str("name"), target.str("namespace")
		target.ignore("version")
		target.drop("labelSelector", "no equivalent: Lockstep rules select by kind, name and namespace")
		target.drop("annotationSelector", "no equivalent: Lockstep rules select by kind, name and namespace")
		target.rest()
	}
	rule.rest()
	if r.Kind == "" {
		item.add(Dropped, field, "a rule without a target kind applies to every object; Lockstep rules name a kind: write one rule per kind")
		return r, false
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "/") && len(r.JSONPointers) < 50 {
			r.JSONPointers = append(r.JSONPointers, p)
		} else {
			item.add(Invalid, field+".paths", "%q left out: not a JSON pointer, or past Lockstep's 50", p)
		}
	}
	return r, len(r.JSONPointers) > 0
}

// addFluxApplication records the Application and that it used repo.
func (t *translation) addFluxApplication(item *Item, app *v1.Application, repo *gitRepo) {
	t.addApplication(item, app)
	if item.Skipped == "" {
		repo.item.UsedBy = append(repo.item.UsedBy, item.Source.String())
	}
}
