package subscription

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// A Notification hears its namespace's Applications (every namespace's from
// the controller's), narrowed by name globs, Projects and labels together.
func TestHears(t *testing.T) {
	app := func(ns, name, project string, lbls map[string]string) *v1.Application {
		a := &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}
		a.Spec.Project = project
		return a
	}
	frontend := labels.SelectorFromSet(labels.Set{"tier": "frontend"})
	for _, tc := range []struct {
		name string
		sub  subscription
		app  *v1.Application
		want bool
	}{
		{"own namespace", subscription{scope: "team-a"}, app("team-a", "web", "", nil), true},
		{"another namespace", subscription{scope: "team-a"}, app("team-b", "web", "", nil), false},
		{"the controller's hears every namespace", subscription{}, app("team-b", "web", "", nil), true},
		{"a glob", subscription{apps: []string{"web-*"}}, app("a", "web-api", "", nil), true},
		{"a glob that does not match", subscription{apps: []string{"web-*"}}, app("a", "db", "", nil), false},
		{"no Project named is default", subscription{projects: []string{"default"}}, app("a", "web", "", nil), true},
		{"another Project", subscription{projects: []string{"payments"}}, app("a", "web", "search", nil), false},
		{"labels", subscription{selector: frontend}, app("a", "web", "", map[string]string{"tier": "frontend"}), true},
		{"labels that do not match", subscription{selector: frontend}, app("a", "web", "", map[string]string{"tier": "db"}), false},
		{"every filter at once", subscription{scope: "a", apps: []string{"web*"}, projects: []string{"p"}, selector: frontend},
			app("a", "web", "p", map[string]string{"tier": "frontend"}), true},
	} {
		if got := tc.sub.hears(tc.app); got != tc.want {
			t.Errorf("%s: hears = %v, want %v", tc.name, got, tc.want)
		}
	}
}
