package audit

import (
	"encoding/json"
	"strconv"

	"github.com/lockstep-dev/lockstep/internal/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// MaxValueLen bounds a field value in a record: enough for a limit, an image or
// a short setting, not enough to copy a ConfigMap's file into every record.
const MaxValueLen = 200

// SecretValue is all a record says of a Secret's changed value.
const SecretValue = "(changed)"

// FieldChanges describes the changed fields of an update: each path's value in
// before and after (the live object and what it becomes), compact and cut to
// MaxValueLen. A Secret's values are never read: they read SecretValue.
func FieldChanges(before, after *unstructured.Unstructured, paths []string) []FieldChange {
	secret := IsSecret(before) || IsSecret(after)
	out := make([]FieldChange, 0, len(paths))
	for _, p := range paths {
		fc := FieldChange{Path: p}
		if secret {
			fc.To = SecretValue
		} else {
			fc.From, fc.To = valueAt(before, p), valueAt(after, p)
		}
		out = append(out, fc)
	}
	return out
}

// IsSecret reports whether o is a core Secret, whose values no record may hold.
func IsSecret(o *unstructured.Unstructured) bool {
	return o != nil && o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
}

// valueAt returns the compact JSON of the value at path (plan's syntax), or ""
// when there is none.
func valueAt(o *unstructured.Unstructured, path string) string {
	if o == nil {
		return ""
	}
	var v any = o.Object
	for _, seg := range object.SplitPath(path) {
		switch c := v.(type) {
		case map[string]any:
			v = c[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return ""
			}
			v = c[i]
		default:
			return ""
		}
		if v == nil {
			return ""
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	if s := string(b); len(s) <= MaxValueLen {
		return s
	}
	return string(b[:MaxValueLen]) + "…"
}

// podTemplateOwners are the kinds whose Pods are replaced when their pod
// template changes, with the path of that template.
var podTemplateOwners = map[string]string{
	"apps/Deployment":  "spec.template",
	"apps/StatefulSet": "spec.template",
	"apps/DaemonSet":   "spec.template",
	"apps/ReplicaSet":  "spec.template",
	"batch/CronJob":    "spec.jobTemplate",
}

// RollsOut reports whether changing these fields of an object of this kind
// replaces its Pods.
func RollsOut(group, kind string, paths []string) bool {
	prefix, ok := podTemplateOwners[group+"/"+kind]
	if !ok {
		return false
	}
	for _, p := range paths {
		if object.Within(p, prefix) {
			return true
		}
	}
	return false
}
