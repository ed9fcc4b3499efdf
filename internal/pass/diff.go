package pass

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/lockstep-dev/lockstep/internal/audit"
	"github.com/lockstep-dev/lockstep/internal/plan"
)

// StepDiff is a unified diff of what step would do, live against desired,
// with Secret values masked and every other Secret value the pass knows
// scrubbed; "" for a step that changes nothing.
func StepDiff(p *Pass, step plan.Step, scrub audit.Scrubber) (string, error) {
	var before, after *unstructured.Unstructured
	switch step.Action {
	case plan.Create:
		after = step.Desired
	case plan.Update:
		before, after = p.Observed.Current[step.Key], p.Observed.DryRun[step.Key]
		if after == nil {
			after = step.Desired
		}
	case plan.Prune:
		before = p.Observed.Current[step.Key]
	default:
		return "", nil
	}
	before, after = MaskSecrets(before, after)
	before, after = scrubbed(before, scrub), scrubbed(after, scrub)
	a, err := asYAML(before)
	if err != nil {
		return "", err
	}
	b, err := asYAML(after)
	if err != nil {
		return "", err
	}
	action := string(step.Action)
	if step.Adopted {
		action = "Adopt: exists, managed by no Application; the sync takes it over"
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: yamlLines(a), B: yamlLines(b),
		FromFile: step.Key.String() + " (live)", ToFile: step.Key.String() + " (" + action + ")", Context: 3,
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", step.Key, err)
	}
	return scrub.Scrub(text), nil
}

// scrubbed is o with the Secret values scrub knows hidden in its strings,
// before it is written as YAML (see audit.Scrubber.ScrubObject).
func scrubbed(o *unstructured.Unstructured, scrub audit.Scrubber) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	return &unstructured.Unstructured{Object: scrub.ScrubObject(o.Object)}
}

// yamlLines splits YAML into lines for difflib, each with its newline, and
// none for an empty side (difflib.SplitLines gives "" one empty line, and a
// text ending in a newline an empty last line: both showed as a line in the
// diff that neither side has).
func yamlLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func asYAML(o *unstructured.Unstructured) (string, error) {
	if o == nil {
		return "", nil
	}
	data, err := yaml.Marshal(plan.Comparable(o).Object)
	return string(data), err
}

// MaskSecrets replaces every value of a Secret's data and stringData: a value
// that is the same on both sides reads "***", one that differs reads
// "*** (before)" and "*** (after)", so a diff shows which keys change and
// nothing of what they hold. Other objects are returned as they are.
func MaskSecrets(before, after *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !audit.IsSecret(before) && !audit.IsSecret(after) {
		return before, after
	}
	if before != nil {
		before = before.DeepCopy()
		maskAnnotations(before)
	}
	if after != nil {
		after = after.DeepCopy()
		maskAnnotations(after)
	}
	for _, field := range []string{"data", "stringData"} {
		var b, a map[string]any
		if before != nil {
			b, _, _ = unstructured.NestedMap(before.Object, field)
		}
		if after != nil {
			a, _, _ = unstructured.NestedMap(after.Object, field)
		}
		mask := func(m, other map[string]any, side string) map[string]any {
			out := map[string]any{}
			for k, v := range m {
				if ov, ok := other[k]; ok && ov == v {
					out[k] = "***"
				} else {
					out[k] = "*** (" + side + ")"
				}
			}
			return out
		}
		if b != nil {
			_ = unstructured.SetNestedMap(before.Object, mask(b, a, "before"), field)
		}
		if a != nil {
			_ = unstructured.SetNestedMap(after.Object, mask(a, b, "after"), field)
		}
	}
	return before, after
}

// maskAnnotations hides every annotation value of a Secret: kubectl's
// last-applied-configuration (and tools that copy it) hold the whole
// Secret, data included.
func maskAnnotations(secret *unstructured.Unstructured) {
	ann := secret.GetAnnotations()
	if len(ann) == 0 {
		return
	}
	for k := range ann {
		ann[k] = "***"
	}
	secret.SetAnnotations(ann)
}
