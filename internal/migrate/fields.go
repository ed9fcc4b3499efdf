package migrate

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// fields reads one map of a source object and remembers which keys were read,
// so that every key no translator asked for is reported instead of being
// dropped quietly. Reading a key with the wrong type is an Invalid finding.
// A nil *fields is an absent map: every read finds nothing.
type fields struct {
	path string
	m    map[string]any
	used map[string]bool
	item *Item
}

func newFields(item *Item, path string, m map[string]any) *fields {
	return &fields{path: path, m: m, used: map[string]bool{}, item: item}
}

func (f *fields) at(key string) string {
	if f.path == "" {
		return key
	}
	return f.path + "." + key
}

// has says whether key is present (null counts as absent).
func (f *fields) has(key string) bool {
	if f == nil {
		return false
	}
	v, ok := f.m[key]
	return ok && v != nil
}

// raw reads key as it is.
func (f *fields) raw(key string) (any, bool) {
	if f == nil {
		return nil, false
	}
	f.used[key] = true
	v, ok := f.m[key]
	return v, ok && v != nil
}

// str reads a string; a number or boolean where a string belongs is invalid.
func (f *fields) str(key string) string {
	v, ok := f.raw(key)
	if !ok {
		return ""
	}
	s, isString := v.(string)
	if !isString {
		f.item.add(Invalid, f.at(key), "must be a string, not %s; ignored", typeName(v))
		return ""
	}
	return s
}

// boolean reads a boolean; ok is false when it is absent or invalid.
func (f *fields) boolean(key string) (value, ok bool) {
	v, present := f.raw(key)
	if !present {
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		f.item.add(Invalid, f.at(key), "must be true or false, not %s; ignored", typeName(v))
		return false, false
	}
	return b, true
}

// integer reads a whole number.
func (f *fields) integer(key string) (int64, bool) {
	v, present := f.raw(key)
	if !present {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	}
	f.item.add(Invalid, f.at(key), "must be a whole number, not %s; ignored", typeName(v))
	return 0, false
}

// duration reads a Go duration ("1m0s", "5m"); bare numbers are seconds when
// secondsIfBare (Argo CD's retry backoff).
func (f *fields) duration(key string, secondsIfBare bool) (time.Duration, bool) {
	v, present := f.raw(key)
	if !present {
		return 0, false
	}
	s := fmt.Sprint(v)
	if n, isNumber := v.(int64); isNumber && secondsIfBare {
		return time.Duration(n) * time.Second, true
	}
	if _, isString := v.(string); !isString {
		f.item.add(Invalid, f.at(key), "must be a duration such as 5m, not %s; ignored", typeName(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil && secondsIfBare {
		if d2, err2 := time.ParseDuration(s + "s"); err2 == nil {
			return d2, true
		}
	}
	if err != nil || d < 0 {
		f.item.add(Invalid, f.at(key), "%q is not a duration such as 5m; ignored", s)
		return 0, false
	}
	return d, true
}

// child reads a map; nil when absent or invalid.
func (f *fields) child(key string) *fields {
	v, present := f.raw(key)
	if !present {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.item.add(Invalid, f.at(key), "must be a map, not %s; ignored", typeName(v))
		return nil
	}
	return newFields(f.item, f.at(key), m)
}

// list reads a list; nil when absent or invalid.
func (f *fields) list(key string) []any {
	v, present := f.raw(key)
	if !present {
		return nil
	}
	l, isList := v.([]any)
	if !isList {
		f.item.add(Invalid, f.at(key), "must be a list, not %s; ignored", typeName(v))
		return nil
	}
	return l
}

// children reads a list of maps; entries that are not maps are invalid and
// left out.
func (f *fields) children(key string) []*fields {
	var out []*fields
	for i, v := range f.list(key) {
		path := fmt.Sprintf("%s[%d]", f.at(key), i)
		m, isMap := v.(map[string]any)
		if !isMap {
			f.item.add(Invalid, path, "must be a map, not %s; ignored", typeName(v))
			continue
		}
		out = append(out, newFields(f.item, path, m))
	}
	return out
}

// strings reads a list of strings; entries that are not strings are invalid.
func (f *fields) strings(key string) []string {
	var out []string
	for i, v := range f.list(key) {
		s, isString := v.(string)
		if !isString {
			f.item.add(Invalid, fmt.Sprintf("%s[%d]", f.at(key), i), "must be a string, not %s; ignored", typeName(v))
			continue
		}
		out = append(out, s)
	}
	return out
}

// drop reports key, when present and not empty, as not translated.
func (f *fields) drop(key, format string, args ...any) {
	v, present := f.raw(key)
	if !present || isZero(v) {
		return
	}
	f.item.add(Dropped, f.at(key), format, args...)
}

// ignore reads key without reporting it: for fields whose absence changes
// nothing (status, server-set metadata, a field the source tool ignores too).
func (f *fields) ignore(keys ...string) {
	if f == nil {
		return
	}
	for _, k := range keys {
		f.used[k] = true
	}
}

// rest reports every key nobody read: the importer does not know it, so it
// did not translate it.
func (f *fields) rest() {
	if f == nil {
		return
	}
	var keys []string
	for k, v := range f.m {
		if !f.used[k] && !isZero(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.item.add(Dropped, f.at(k), "unknown to lockstep import; not translated")
	}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
}
