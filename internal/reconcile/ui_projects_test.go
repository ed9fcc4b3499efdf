package reconcile_test

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
	"github.com/lockstep-dev/lockstep/internal/policy"
)

// The Projects page shows each Project's rules in the words the policy gate
// is described by, and its Applications counted, each count a link to the
// overview filtered to them.
func TestTheProjectsPageSaysTheRulesInWords(t *testing.T) {
	f := newRepo(t)
	first := f.commit(t, "first", map[string]string{"app/cm.yaml": configMapYAML})
	p := f.project(t, v1.ProjectSpec{
		SourceRepos:  []string{sharedGit.HTTPSURL(f.repo.Name)},
		Destinations: []v1.ProjectDestination{{Namespace: f.ns}},
		Images:       &v1.ImagePolicy{Registries: []string{"registry.internal"}, RequireDigest: true},
	})
	f.create(t, f.application("web", "app", func(a *v1.Application) {
		f.inProject(a)
		a.Spec.Sync.Automated = ptr.To(false)
	}))
	f.waitFor(t, "web", metav1.ConditionFalse, v1.ReasonOutOfSync, first)

	b := logInAsAdmin(t, f, "/#/projects")
	section := fmt.Sprintf(`section[aria-labelledby="project-%s"]`, f.ns)
	b.WaitVisible(section)

	if got := b.Text(section + " h2"); got != f.ns {
		t.Errorf("the section's heading reads %q", got)
	}
	rules := b.Texts(section + " ul li")
	for _, want := range policy.Describe(p) {
		found := false
		for _, r := range rules {
			found = found || strings.TrimSpace(r) == want
		}
		if !found {
			t.Errorf("the page lacks the rule %q; it shows:\n%s", want, strings.Join(rules, "\n"))
		}
	}
	text := b.Text(section)
	for _, want := range []string{"Only Applications in namespace " + f.ns + " may use it.", "1 Application", "By sync: 1 OutOfSync"} {
		if !strings.Contains(text, want) {
			t.Errorf("the section lacks %q:\n%s", want, text)
		}
	}
	b.CheckAccessible("the Projects page")
	b.Screenshot("projects")

	// A count opens the overview filtered to the Project and that state.
	b.Click(section + ` a[href*="sync=OutOfSync"]`)
	row := fmt.Sprintf(`tr[data-app="%s/web"]`, f.ns)
	b.WaitVisible(row)
	if loc := b.Location(); !strings.Contains(loc, "project="+f.ns) || !strings.Contains(loc, "sync=OutOfSync") {
		t.Errorf("the count links to %s", loc)
	}
	if n := b.Count("table.apps tbody tr"); n != 1 {
		t.Errorf("the overview filtered to the Project shows %d rows", n)
	}
}
