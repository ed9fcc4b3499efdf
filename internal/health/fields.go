package health

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Readers for status written by other controllers. Anyone with patch rights on
// a status subresource can write any shape there, so nothing is trusted: a
// missing step or a value of the wrong type reads as absent, never panics.

// field walks obj down path; nil where a step is missing or not an object.
func field(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// str is the string at path, or "" when it is absent or not a string.
func str(obj map[string]any, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

// object is the object at path, or nil.
func object(obj map[string]any, path ...string) map[string]any {
	m, _ := field(obj, path...).(map[string]any)
	return m
}

// list is the list at path, or nil.
func list(obj map[string]any, path ...string) []any {
	l, _ := field(obj, path...).([]any)
	return l
}

// whole reads an integer written as a JSON number or as a decimal string (Argo
// Rollouts writes its generations as strings); ok is false for anything else,
// fractions included.
func whole(v any) (n int64, ok bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// wholeOr is whole at path, or def when it cannot be read.
func wholeOr(obj map[string]any, def int64, path ...string) int64 {
	if n, ok := whole(field(obj, path...)); ok {
		return n
	}
	return def
}

// condition is one entry of status.conditions, in the shape the Kubernetes
// API conventions give it and every tool here follows.
type condition struct {
	Type, Status, Reason, Message string
	// ObservedGeneration is the metadata.generation the condition was computed
	// from, when hasGeneration says the controller records it.
	ObservedGeneration int64
	hasGeneration      bool
}

// findCondition returns the first well-formed condition of type typ in
// status.conditions.
func findCondition(status map[string]any, typ string) (condition, bool) {
	for _, c := range list(status, "conditions") {
		m, ok := c.(map[string]any)
		if !ok || str(m, "type") != typ {
			continue
		}
		gen, hasGen := whole(m["observedGeneration"])
		return condition{
			Type: typ, Status: str(m, "status"), Reason: str(m, "reason"), Message: str(m, "message"),
			ObservedGeneration: gen, hasGeneration: hasGen,
		}, true
	}
	return condition{}, false
}

// because is a condition's reason and message as one line for a Result.
func (c condition) because() string {
	switch {
	case c.Reason == "":
		return c.Message
	case c.Message == "":
		return c.Reason
	}
	return c.Reason + ": " + c.Message
}

// maxMessage bounds the message of a delivery rule: controllers copy whole
// provider errors into status (and anyone with status rights can write
// anything there), and a message travels on into events, the Application's
// status and notifications.
const maxMessage = 1024

// clip makes s one line of valid UTF-8 of at most maxMessage characters,
// marking a cut with "…".
func clip(s string) string {
	if len(s) > 8*maxMessage { // bound the work on a hostile status
		s = s[:8*maxMessage]
	}
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if utf8.RuneCountInString(s) <= maxMessage {
		return s
	}
	return string([]rune(s)[:maxMessage-1]) + "…"
}

// result builds a Result with its message clipped; parts that are empty are
// left out, the rest joined with "; ".
func result(s Status, parts ...string) Result {
	var kept []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	return Result{Status: s, Message: clip(strings.Join(kept, "; "))}
}
