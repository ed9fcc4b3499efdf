package cli

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// `lockstep get project` prints the Project's rules as policy.Describe says
// them, one to a line, and a description that cannot drive the terminal.
func TestProjectRulesInWords(t *testing.T) {
	var out bytes.Buffer
	printProjectRules(&out, &v1.Project{ObjectMeta: metav1.ObjectMeta{Name: "webapp"}, Spec: v1.ProjectSpec{
		Description:      "The example\x1b[2J webapp",
		SourceNamespaces: []string{"lockstep"},
		Images:           &v1.ImagePolicy{Registries: []string{"registry.internal.example"}, RequireDigest: true},
	}})
	for _, want := range []string{
		"Project:      webapp\n",
		`Description:  "The example\x1b[2J webapp"` + "\n",
		"Rules:\n  - Only Applications in namespace lockstep may use it.\n",
		"\n  - Every image its workloads run (containers, init and ephemeral containers, image volumes) must come from registry.internal.example and be pinned by digest (name@sha256:…).\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printBuiltInRules(&out)
	for _, want := range []string{"Project:      default (not created)\n", "built-in default applies", "Unless the controller runs with --require-projects:\n  - No Project named default exists, and"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("built-in default lacks %q:\n%s", want, out.String())
		}
	}
}
