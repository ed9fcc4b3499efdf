package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Describe says in words what a Project's rules let its Applications do, one
// sentence per rule, each saying what the checks of this package do with it:
// defaults and empty lists included (a list that allows, left empty, allows
// nothing), and rules that do not compile (every sync is denied). The CLI
// and the API (so the web UI) show these sentences.
//
// They are plain text for terminals and browsers: a value holding a control,
// format or invalid character is quoted in Go syntax, a long value is cut,
// and a long list names its first values and counts the rest.
func Describe(p *v1.Project) []string {
	s := p.Spec
	var out []string
	if _, err := Compile(p); err != nil {
		out = append(out, "Its rules do not compile, so every sync of its Applications is denied: "+printable(err.Error(), maxErrorRunes)+".")
	}
	return append(out,
		sourceNamespacesInWords(s.SourceNamespaces),
		sourceReposInWords(s.SourceRepos),
		destinationsInWords(s.Destinations),
		kindsInWords("cluster-scoped", "spec.clusterResources", s.ClusterResources, false),
		kindsInWords("namespaced", "spec.namespacedResources", s.NamespacedResources, true),
		podSecurityInWords(s.PodSecurityLabels),
		serviceAccountInWords(s.ServiceAccountName),
		verificationInWords(s.Verification),
		approvalsInWords(s.Approvals),
		rollbacksInWords(s.Rollbacks),
		imagesInWords(s.Images),
		secretsInWords(s.Secrets),
		adoptionInWords(s.Adoption),
		syncTimeoutInWords(s.MaxSyncTimeout),
	)
}

// DescribeBuiltIn says what applies to the Applications of Project "default"
// (and those that name none) while no Project of that name exists: the
// built-in default (Permissive), or, when the controller requires Projects,
// a denial.
func DescribeBuiltIn(requireProjects bool) []string {
	if requireProjects {
		return []string{"No Project named " + v1.DefaultProject + " exists, and this controller requires Projects (--require-projects): " +
			"every sync of its Applications (and of those that name no Project) is denied until it is created."}
	}
	return append([]string{"No Project named " + v1.DefaultProject + " exists, so the built-in default applies to its Applications " +
		"(and to those that name no Project): it allows everything and requires nothing."},
		Describe(&v1.Project{Spec: permissiveSpec()})...)
}

// Bounds of what a sentence shows.
const (
	// maxNamed is how many values of one list a sentence names.
	maxNamed = 20
	// maxValueRunes cuts a value; maxErrorRunes an error message.
	maxValueRunes = 120
	maxErrorRunes = 600
)

func sourceNamespacesInWords(globs []string) string {
	switch {
	case len(globs) == 0:
		return "No Application may use it: spec.sourceNamespaces names no namespace whose Applications may."
	case slices.ContainsFunc(globs, matchesAll):
		return "Applications of any namespace may use it."
	}
	return "Only Applications in " + plural(len(globs), "namespace ", "namespaces ") + names(globs) + " may use it."
}

func sourceReposInWords(globs []string) string {
	switch {
	case len(globs) == 0:
		return "It allows no repository (spec.sourceRepos is empty), so none of its Applications can sync."
	case slices.ContainsFunc(globs, matchesAll):
		return "Its Applications may use any repository."
	}
	s := "Its Applications may use only " + plural(len(globs), "the repository ", "the repositories ") + names(globs)
	if slices.ContainsFunc(globs, func(g string) bool { return strings.Contains(g, "*") }) {
		s += " (* matches within one path segment, ** across segments)"
	}
	return s + "."
}

func destinationsInWords(dests []v1.ProjectDestination) string {
	if len(dests) == 0 {
		return "It allows no destination (spec.destinations is empty), so none of its Applications can sync."
	}
	places := make([]string, len(dests))
	for i, d := range dests {
		if matchesAll(cmp.Or(d.Cluster, v1.InCluster)) && matchesAll(d.Namespace) {
			return "Its Applications may deploy to any namespace of any cluster."
		}
		places[i] = cmp.Or(d.Cluster, v1.InCluster) + "/" + d.Namespace
	}
	return "Its Applications may deploy only to " + names(places) + " (cluster/namespace): the Application's destination, " +
		"the namespace of every object it applies or prunes, and the name of every Namespace object are checked."
}

// kindsInWords says which kinds of a scope may be applied and pruned; an
// empty allow list allows every kind when emptyAllowsAll, else none.
func kindsInWords(scope, field string, r v1.ResourceRules, emptyAllowsAll bool) string {
	every := (emptyAllowsAll && len(r.Allow) == 0) || slices.ContainsFunc(r.Allow, func(gk v1.GroupKind) bool { return gk.Group == "*" && gk.Kind == "*" })
	switch {
	case every && len(r.Deny) == 0:
		return "Every " + scope + " kind may be applied and pruned."
	case every:
		return "Every " + scope + " kind may be applied and pruned except " + kindNames(r.Deny) + "."
	case len(r.Allow) == 0:
		return "No " + scope + " kind may be applied or pruned (" + field + " allows none)."
	case len(r.Deny) == 0:
		return "Only these " + scope + " kinds may be applied and pruned: " + kindNames(r.Allow) + "."
	}
	return "Only these " + scope + " kinds may be applied and pruned: " + kindNames(r.Allow) + " (except " + kindNames(r.Deny) + ")."
}

func kindNames(gks []v1.GroupKind) string {
	return named(gks, func(gk v1.GroupKind) string {
		group, kind := printable(gk.Group, maxValueRunes), printable(gk.Kind, maxValueRunes)
		switch {
		case gk.Group == "*" && gk.Kind == "*":
			return "every kind"
		case gk.Kind == "*" && gk.Group == "":
			return "every kind of the core group"
		case gk.Kind == "*":
			return "every kind of " + group
		case gk.Group == "*":
			return kind + " of any group"
		case gk.Group == "":
			return kind
		}
		return kind + "." + group
	})
}

func podSecurityInWords(allowed bool) string {
	if allowed {
		return "Its Namespace objects may set " + podSecurityPrefix + " labels, which decide what Pods may do there."
	}
	return "Its Namespace objects may not set " + podSecurityPrefix + " labels."
}

func serviceAccountInWords(name string) string {
	if name == "" {
		return "Its Applications apply, prune and read as the service account they name, " +
			"else as the controller's --default-service-account, else as the controller itself."
	}
	return "Its Applications apply, prune and read as the service account " + printable(name, maxValueRunes) +
		" of their own namespace, and may name no other."
}

func verificationInWords(v *v1.Verification) string {
	if v == nil {
		return "It requires no signature; an Application may ask for its own (spec.source.git.verify)."
	}
	if len(v.KeysFrom) == 0 {
		return "It requires signatures but trusts no key (spec.verification.keysFrom is empty), so every sync fails verification."
	}
	const replaces = "; this replaces any verification an Application asks for."
	keys := keySourceNames(v.KeysFrom)
	switch cmp.Or(v.Mode, v1.VerifyHead) {
	case v1.VerifyHead:
		return "Every commit synced must be signed by a key from " + keys + replaces
	case v1.VerifyTag:
		return "Every annotated tag followed must be signed by a key from " + keys + ", so its Applications must follow a tag or a semver range" + replaces
	case v1.VerifyTagAndHead:
		return "Every annotated tag followed, and its commit, must be signed by a key from " + keys + ", so its Applications must follow a tag or a semver range" + replaces
	}
	return "It names the verification mode " + printable(string(v.Mode), maxValueRunes) + ", which no check knows, so nothing is verified."
}

func approvalsInWords(a *v1.ApprovalPolicy) string {
	if a == nil {
		return "It requires no approvals."
	}
	if len(a.KeysFrom) == 0 {
		return "It requires approvals but names no key that signs approved commits (spec.approvals.keysFrom is empty), so every sync is denied."
	}
	return fmt.Sprintf("Every commit synced needs %d distinct %s other than its author, named with an email address in %s: trailers of a commit signed by a key from %s.",
		a.Required, plural(int(a.Required), "approver", "approvers"), printable(cmp.Or(a.Trailer, "Approved-by"), maxValueRunes), keySourceNames(a.KeysFrom))
}

// keySourceNames names a Project's key sources; those that name no namespace
// are read from the controller's.
func keySourceNames(ks []v1.KeySource) string {
	s := named(ks, func(k v1.KeySource) string {
		name := k.Name
		if k.Namespace != "" {
			name = k.Namespace + "/" + k.Name
		}
		return printable(cmp.Or(k.Kind, "Secret"), maxValueRunes) + " " + printable(name, maxValueRunes)
	})
	if slices.ContainsFunc(ks, func(k v1.KeySource) bool { return k.Namespace == "" }) {
		s += " (in the controller's namespace unless named)"
	}
	return s
}

func rollbacksInWords(p v1.RollbackPolicy) string {
	if p == v1.RollbacksRefuse {
		return "A revision that does not descend from the applied one (a rollback) is refused: roll back with git revert, which keeps the history."
	}
	return "A revision that does not descend from the applied one (a rollback) is synced like any other and recorded as a rollback."
}

func imagesInWords(p *v1.ImagePolicy) string {
	switch {
	case p == nil:
		return "Its workloads may run images from any registry, pinned by digest or not."
	case len(p.Registries) == 0:
		return "Its workloads may run no image (spec.images.registries is empty)."
	}
	s := "Every image its workloads run (containers, init and ephemeral containers, image volumes) must come from " + names(p.Registries)
	if p.RequireDigest {
		s += " and be pinned by digest (name@sha256:…)"
	}
	return s + "."
}

func secretsInWords(p *v1.SecretPolicy) string {
	if p != nil && p.RefusePlain {
		return "Its Secrets must be SOPS-encrypted in Git."
	}
	return "Its Secrets may be plain in Git."
}

func adoptionInWords(p v1.AdoptionPolicy) string {
	if p == v1.AdoptionRefuse {
		return "It refuses to take over objects that exist but no Application manages: the sync is denied, naming them."
	}
	return "It takes over objects that exist but no Application manages, recording the values they had."
}

func syncTimeoutInWords(limit *metav1.Duration) string {
	if limit != nil && limit.Duration > 0 {
		return fmt.Sprintf("One sync (hooks and health waits included) may take at most %s, or the controller's --max-sync-timeout if shorter, whatever its Application asks.", limit.Duration)
	}
	return fmt.Sprintf("One sync (hooks and health waits included) may take what its Application's spec.sync.timeout asks (%s by default), up to the controller's --max-sync-timeout.", v1.DefaultTimeout)
}

// matchesAll reports whether a glob matches every value, as Compile reads it.
func matchesAll(glob string) bool { return glob == "*" || glob == "**" }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// names lists the first maxNamed values, each made printable, and counts
// the rest.
func names(values []string) string {
	return named(values, func(v string) string { return printable(v, maxValueRunes) })
}

// named lists the first maxNamed values as name says them, and counts the
// rest.
func named[T any](values []T, name func(T) string) string {
	shown := make([]string, min(len(values), maxNamed))
	for i := range shown {
		shown[i] = name(values[i])
	}
	s := strings.Join(shown, ", ")
	if more := len(values) - len(shown); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// printable returns s fit for a sentence: cut after limit runes, and quoted in
// Go syntax when empty or when it holds a control, format (bidirectional
// overrides, zero-width characters) or invalid character, which could move a
// terminal's cursor or reorder the text around it.
func printable(s string, limit int) string {
	n := 0
	for i := range s {
		if n == limit {
			s = s[:i] + "…"
			break
		}
		n++
	}
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}
