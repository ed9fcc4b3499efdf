package engine

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// variable matches ${NAME}, and $${NAME} which stands for a literal ${NAME}. Only the
// braced form is recognised: a bare $HOME in a script inside a ConfigMap is left
// alone (general envsubst libraries would replace it, silently breaking scripts).
var variable = regexp.MustCompile(`\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute replaces ${NAME} in every string value (not in keys) of every object.
// A name not in vars is an error, not applied literally: with substitution
// asked for, a ${NAME} left is a typo or a forgotten value.
func substitute(objs []*unstructured.Unstructured, vars map[string]string) error {
	for _, o := range objs {
		var missing []string
		out := substituteValue(o.Object, vars, "", &missing)
		if len(missing) > 0 {
			sort.Strings(missing)
			return &Error{Err: fmt.Errorf("%s: %s not defined in spec.source.substitute (write $${NAME} for a literal ${NAME})", identity(o), strings.Join(missing, ", "))}
		}
		o.Object = out.(map[string]any)
	}
	return nil
}

func substituteValue(v any, vars map[string]string, path string, missing *[]string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			v[k] = substituteValue(child, vars, path+"."+k, missing)
		}
		return v
	case []any:
		for i, child := range v {
			v[i] = substituteValue(child, vars, fmt.Sprintf("%s[%d]", path, i), missing)
		}
		return v
	case string:
		if !strings.Contains(v, "${") {
			return v
		}
		return variable.ReplaceAllStringFunc(v, func(m string) string {
			if strings.HasPrefix(m, "$$") {
				return m[1:]
			}
			name := m[2 : len(m)-1]
			value, ok := vars[name]
			if !ok {
				*missing = append(*missing, "${"+name+"} at "+strings.TrimPrefix(path, "."))
				return m
			}
			return value
		})
	default:
		return v
	}
}
