package plan_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lockstep-dev/lockstep/internal/object"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// An Application whose objects' names would not fit in its status is
// refused before anything is applied, saying why and what to do.
func TestAnInventoryTooLargeToRecordIsRefused(t *testing.T) {
	steps := func(n, nameLen int) plan.Plan {
		var p plan.Plan
		for i := range n {
			name := fmt.Sprintf("%05d-%s", i, strings.Repeat("x", nameLen))
			p.Steps = append(p.Steps, plan.Step{Action: plan.Create, Key: object.Key{Kind: "ConfigMap", Namespace: "prod", Name: name}, Version: "v1"})
		}
		return p
	}
	if err := steps(10000, 20).CheckRecordable(); err != nil {
		t.Errorf("10,000 objects of short names: %v", err)
	}
	err := steps(6000, 240).CheckRecordable()
	if err == nil || !strings.Contains(err.Error(), "6000 objects") || !strings.Contains(err.Error(), "split the folder") {
		t.Errorf("6,000 objects of 246-character names: %v", err)
	}
	prunes := steps(6000, 240)
	for i := range prunes.Steps {
		prunes.Steps[i].Action = plan.Prune
	}
	if err := prunes.CheckRecordable(); err != nil {
		t.Errorf("objects pruned are not recorded: %v", err)
	}
}
