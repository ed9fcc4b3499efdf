package pass_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/pass"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// A preview of thousands of big objects (a first sync) lists every step, but
// cuts each diff at 256 KiB and stops showing diffs after 8 MiB in all: the
// UI and the CLI get an answer they can draw.
func TestAPreviewBoundsItsDiffs(t *testing.T) {
	p := syncPass(t)
	big := strings.Repeat("x", 300<<10)
	p.Plan.Steps = nil
	for i := range 40 {
		cm := configMap(t, big)
		cm.SetName(fmt.Sprintf("cfg-%02d", i))
		p.Plan.Steps = append(p.Plan.Steps, plan.Step{Key: object.Key{Kind: "ConfigMap", Namespace: "prod", Name: cm.GetName()}, Action: plan.Create, Desired: cm})
	}
	pv, err := pass.NewPreview(p)
	if err != nil {
		t.Fatal(err)
	}
	steps, total, cut, omitted := 0, 0, 0, 0
	for _, w := range pv.Waves {
		for _, s := range w.Steps {
			steps++
			total += len(s.Diff)
			switch {
			case strings.Contains(s.Diff, "longer than 256 KiB"):
				cut++
			case strings.Contains(s.Diff, "longer than 8 MiB together"):
				omitted++
			}
		}
	}
	if steps != 40 || cut+omitted != 40 || omitted == 0 || total > 9<<20 {
		t.Errorf("%d steps, %d cut, %d omitted, %d bytes of diffs", steps, cut, omitted, total)
	}
}

func TestCapDiff(t *testing.T) {
	if got := pass.CapDiff("short"); got != "short" {
		t.Errorf("a short diff changed: %q", got)
	}
	if got := pass.CapDiff(strings.Repeat("é", 200<<10)); len(got) > 257<<10 || !strings.HasSuffix(got, "prints it whole)\n") {
		t.Errorf("a long diff: %d bytes, ends %q", len(got), got[len(got)-40:])
	}
}
