package cli

import (
	"strings"
	"testing"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// `lockstep get` says how many objects a large Application's status leaves
// out, so that a short list is not read as all there is.
func TestDescribeSaysWhatTheStatusLeavesOut(t *testing.T) {
	a := &v1.Application{}
	a.Name = "big"
	a.Status.Resources = []v1.ResourceStatus{{ObjectReference: v1.ObjectReference{Version: "v1", Kind: "ConfigMap", Namespace: "prod", Name: "broken"},
		Health: "Degraded", Action: v1.ActionUnchanged}}
	a.Status.ResourcesOmitted = 9999
	var out strings.Builder
	if err := describeApp(&out, a); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "broken") || !strings.Contains(out.String(), "9999 more not listed") {
		t.Errorf("describe:\n%s", out.String())
	}
}
