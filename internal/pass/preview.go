package pass

import (
	"time"

	"github.com/lockstep-dev/lockstep/internal/plan"
)

// Preview is what a sync of a previewed pass would do, as the API, the UI
// and `lockstep diff` show it before anyone presses Sync: the commit and its
// verdicts, then every step by wave with its diff (Secret values masked).
type Preview struct {
	Application string `json:"application"`
	Project     string `json:"project"`
	// Revision is the commit a sync would apply, and Generation the
	// Application's spec previewed: pin a sync to both.
	Revision   string    `json:"revision,omitempty"`
	Generation int64     `json:"generation,omitempty"`
	Ref        string    `json:"ref,omitempty"`
	Author     string    `json:"author,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	CommitTime time.Time `json:"commitTime,omitzero"`
	// VerifiedBy is the key that verified the commit ("" when none is
	// required); Approvers the approvals the two-person rule counted.
	VerifiedBy string   `json:"verifiedBy,omitempty"`
	Approvers  []string `json:"approvers,omitempty"`
	// Rollback says the commit does not descend from the one applied.
	Rollback bool `json:"rollback,omitempty"`
	// Requested is the revision previewed instead of the followed ref
	// ("branch feature", "commit 3f2a…"); empty for the followed ref.
	Requested string `json:"requested,omitempty"`
	// Unmet are the checks the requested revision fails that do not stop its
	// plan (signature, approvals, rollback rule, refused prunes or
	// adoptions): a sync of it would be refused until they are met.
	Unmet []Refusal `json:"unmet,omitempty"`
	// Refused is the stage that refused the commit (PolicyDenied,
	// VerificationFailed, RenderFailed, ...), with why; a sync would apply
	// nothing.
	Refused *Refusal `json:"refused,omitempty"`
	// InSync says a sync would change nothing.
	InSync bool `json:"inSync"`
	// Automated says the controller applies this on its own.
	Automated bool `json:"automated"`
	// Counts of steps by action: Create, Update, Prune, Keep, Unchanged.
	Counts map[plan.Action]int `json:"counts,omitempty"`
	Waves  []PreviewWave       `json:"waves,omitempty"`
	Hooks  []PreviewHook       `json:"hooks,omitempty"`
}

// Refusal is a stage's refusal of a commit.
type Refusal struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// PreviewWave is the steps of one sync wave, applied before the next.
type PreviewWave struct {
	Wave  int           `json:"wave"`
	Steps []PreviewStep `json:"steps"`
}

// PreviewStep is what a sync does to one object.
type PreviewStep struct {
	Action    plan.Action `json:"action"`
	Group     string      `json:"group,omitempty"`
	Version   string      `json:"version,omitempty"`
	Kind      string      `json:"kind"`
	Namespace string      `json:"namespace,omitempty"`
	Name      string      `json:"name"`
	// ChangedFields are the paths an update changes.
	ChangedFields []string `json:"changedFields,omitempty"`
	// Adopted: the object exists and no Application manages it; the sync
	// takes it over.
	Adopted bool   `json:"adopted,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Diff is a unified diff, live against desired; Secret values masked.
	Diff string `json:"diff,omitempty"`
}

// PreviewHook is a hook a sync would run.
type PreviewHook struct {
	Phase plan.HookPhase `json:"phase"`
	Kind  string         `json:"kind"`
	Name  string         `json:"name"`
	Wave  int            `json:"wave"`
}

// maxPreviewDiff bounds one step's diff in a preview: a 5 MiB ConfigMap is
// shown as changed, not printed. maxPreviewDiffs bounds them all together:
// the first sync of thousands of objects lists every step, and the diffs of
// the first 8 MiB.
const (
	maxPreviewDiff  = 256 << 10
	maxPreviewDiffs = 8 << 20
)

// CapDiff cuts one object's diff at 256 KiB, saying so.
func CapDiff(diff string) string {
	if len(diff) <= maxPreviewDiff {
		return diff
	}
	return TruncateBytes(diff, maxPreviewDiff) + "\n... (cut: the diff is longer than 256 KiB; lockstep diff --kubeconfig prints it whole)\n"
}

// NewPreview describes a previewed pass (Pipeline.Preview's result, failed or
// not), for the API: each diff cut at 256 KiB, all of them at 8 MiB.
// Unchanged steps are counted, not listed.
func NewPreview(p *Pass) (Preview, error) { return newPreview(p, true) }

// NewWholePreview is NewPreview with every diff whole, for lockstep diff
// run here (nothing is sent anywhere).
func NewWholePreview(p *Pass) (Preview, error) { return newPreview(p, false) }

func newPreview(p *Pass, capped bool) (Preview, error) {
	app := p.Application
	pv := Preview{Application: app.Namespace + "/" + app.Name, Project: p.Project, Approvers: p.Approvers, Generation: app.Generation,
		Rollback: p.Rollback, Automated: app.Spec.Sync.IsAutomated(), InSync: p.Err == nil && p.Plan.InSync(), Requested: p.Revision}
	for _, u := range p.Unmet {
		pv.Unmet = append(pv.Unmet, Refusal{Reason: u.Reason, Message: Truncate(p.Scrubber().Scrub(u.Error()), 4096)})
	}
	if c := p.Commit; c != nil {
		pv.Revision, pv.Ref, pv.Author, pv.Subject, pv.CommitTime = c.Hash, c.Ref, c.Author, c.Subject, c.CommitTime
	}
	if p.Verified != nil {
		pv.VerifiedBy = p.Verified.String()
	}
	if p.Err != nil {
		pv.Refused = &Refusal{Reason: p.Err.Reason, Message: p.message(4096)}
		return pv, nil
	}
	pv.Counts = p.Plan.Counts()
	scrub := p.Scrubber()
	total := 0
	for _, step := range p.Plan.Steps {
		if step.Action == plan.Unchanged {
			continue
		}
		diff, err := StepDiff(p, step, scrub)
		if err != nil {
			return Preview{}, err
		}
		if capped {
			diff = CapDiff(diff)
		}
		if total += len(diff); capped && total > maxPreviewDiffs {
			diff = "... (not shown: this preview's diffs are longer than 8 MiB together; lockstep diff --kubeconfig prints them all)\n"
		}
		s := PreviewStep{Action: step.Action, Group: step.Key.Group, Version: step.Version, Kind: step.Key.Kind, Namespace: step.Key.Namespace,
			Name: step.Key.Name, ChangedFields: step.ChangedFields, Adopted: step.Adopted, Reason: step.Reason, Diff: diff}
		if n := len(pv.Waves); n == 0 || pv.Waves[n-1].Wave != step.Wave {
			pv.Waves = append(pv.Waves, PreviewWave{Wave: step.Wave})
		}
		w := &pv.Waves[len(pv.Waves)-1]
		w.Steps = append(w.Steps, s)
	}
	for _, h := range p.Plan.Hooks {
		pv.Hooks = append(pv.Hooks, PreviewHook{Phase: h.Phase, Kind: h.Key.Kind, Name: h.Key.Name, Wave: h.Wave})
	}
	return pv, nil
}
