package server

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/lockstep-dev/lockstep/internal/audit"
)

// Query parameters of GET /api/v1/records; the CLI's flags use the same names.
const (
	paramApp    = "app"
	paramKind   = "kind"
	paramSince  = "since"
	paramUntil  = "until"
	paramAuthor = "author"
	paramObject = "object"
	paramBefore = "before"
	paramLimit  = "limit"
	paramOrder  = "order"
)

// maxParam bounds any one query value; nothing legitimate is longer.
const maxParam = 512

// FilterFromQuery reads a filter from query parameters, refusing anything it
// does not understand rather than silently matching more.
func FilterFromQuery(q url.Values, now time.Time) (audit.Filter, error) {
	var f audit.Filter
	if err := checkParams(q, paramKind); err != nil {
		return f, err
	}
	var err error
	for k := range q {
		v := q.Get(k)
		switch k {
		case paramApp:
			if strings.Count(v, "/") != 1 {
				return f, fmt.Errorf("app %q: want namespace/name", v)
			}
			f.Application = v
		case paramKind:
			for _, s := range q[k] {
				for _, part := range strings.Split(s, ",") {
					e, err := audit.ParseEvent(strings.TrimSpace(part))
					if err != nil {
						return f, err
					}
					f.Events = append(f.Events, e)
				}
			}
		case paramSince:
			f.Since, err = ParseTime(v, now)
		case paramUntil:
			f.Until, err = ParseTime(v, now)
		case paramAuthor:
			f.Author = v
		case paramObject:
			f.Object, err = ParseObjectRef(v)
		case paramBefore:
			f.Before, err = strconv.ParseUint(v, 10, 64)
		case paramLimit:
			f.Limit, err = strconv.Atoi(v)
			if err == nil && (f.Limit < 1 || f.Limit > audit.MaxLimit) {
				err = fmt.Errorf("between 1 and %d", audit.MaxLimit)
			}
		case paramOrder:
			switch v {
			case "oldest":
				f.OldestFirst = true
			case "newest":
			default:
				err = fmt.Errorf("newest or oldest")
			}
		default:
			return f, fmt.Errorf("unknown parameter %q", k)
		}
		if err != nil {
			return f, fmt.Errorf("parameter %s=%q: %w", k, v, err)
		}
	}
	return f, nil
}

// checkParams refuses a parameter given more than once (but those that may
// repeat), a value longer than maxParam and control characters.
func checkParams(q url.Values, repeatable ...string) error {
	for k, vs := range q {
		if len(vs) > 1 && !slices.Contains(repeatable, k) {
			return fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		for _, v := range vs {
			if len(v) > maxParam {
				return fmt.Errorf("parameter %q is longer than %d characters", k, maxParam)
			}
			if strings.IndexFunc(v, unicode.IsControl) >= 0 {
				return fmt.Errorf("parameter %q holds control characters", k)
			}
		}
	}
	return nil
}

// FilterQuery is the query that FilterFromQuery reads back as f.
func FilterQuery(f audit.Filter) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set(paramApp, f.Application)
	for _, e := range f.Events {
		q.Add(paramKind, string(e))
	}
	if !f.Since.IsZero() {
		set(paramSince, f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		set(paramUntil, f.Until.UTC().Format(time.RFC3339Nano))
	}
	set(paramAuthor, f.Author)
	if f.Object != nil {
		set(paramObject, FormatObjectRef(*f.Object))
	}
	if f.Before > 0 {
		set(paramBefore, strconv.FormatUint(f.Before, 10))
	}
	if f.Limit > 0 {
		set(paramLimit, strconv.Itoa(f.Limit))
	}
	if f.OldestFirst {
		set(paramOrder, "oldest")
	}
	return q
}

// ParseTime reads a point in time: RFC 3339, a date (2026-11-20, midnight
// UTC), or an age before now (90m, 24h, 7d).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		// FilterQuery sends times in UTC, which RFC 3339 writes only for the
		// years 0000-9999: 0000-01-01T00:00:00+01:00 is in the year -1.
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return time.Time{}, errors.New("outside the years 0000-9999 once in UTC")
		}
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n >= 0 && n <= 100000 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("not a time: want RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20) or an age (24h, 7d)")
}

// ParseObjectRef reads Kind[.group]/[namespace/]name, as records name objects.
func ParseObjectRef(s string) (*audit.ObjectRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("want Kind[.group]/[namespace/]name")
	}
	ref := &audit.ObjectRef{Name: parts[len(parts)-1]}
	ref.Kind, ref.Group, _ = strings.Cut(parts[0], ".")
	if len(parts) == 3 {
		ref.Namespace = parts[1]
	}
	if ref.Kind == "" || ref.Name == "" {
		return nil, fmt.Errorf("want Kind[.group]/[namespace/]name")
	}
	return ref, nil
}

// FormatObjectRef is the form ParseObjectRef reads.
func FormatObjectRef(r audit.ObjectRef) string {
	return audit.Change{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}.Object()
}
