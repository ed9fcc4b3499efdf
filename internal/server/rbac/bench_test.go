package rbac

import (
	"fmt"
	"strings"
	"testing"
)

// benchPolicy is 1,000 lines in the shape of a large organisation: 200 teams,
// each with a role over its own project, a group mapped to it, a deny on its
// production namespace for the group, and a resource action.
func benchPolicy() string {
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "p, role:team-%d, applications, *, team-%d/*, allow\n", i, i)
		fmt.Fprintf(&b, "p, role:team-%d, applications, action/apps/*/restart, team-%d/*, allow\n", i, i)
		fmt.Fprintf(&b, "p, role:team-%d, logs, get, team-%d/*, allow\n", i, i)
		fmt.Fprintf(&b, "g, group-%d, role:team-%d\n", i, i)
		fmt.Fprintf(&b, "p, group-%d, applications, delete, team-%d/prod/*, deny\n", i, i)
	}
	return b.String()
}

// BenchmarkEnforce is one check as a single API request makes it: resolve the
// caller, then decide.
func BenchmarkEnforce(b *testing.B) {
	p := mustPolicy(b, map[string]string{KeyPolicy: benchPolicy(), KeyDefault: ReadOnly})
	s := Subjects{User: "alice", Groups: []string{"group-7", "group-150", "everyone"}}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Enforce(s, Applications, Delete, "team-150/prod/api"); d.Allowed() {
			b.Fatal(d)
		}
	}
}

// BenchmarkCallerEnforce is one check of a list: the caller resolved once, then
// each of ten thousand Applications checked.
func BenchmarkCallerEnforce(b *testing.B) {
	p := mustPolicy(b, map[string]string{KeyPolicy: benchPolicy(), KeyDefault: ReadOnly})
	c := p.Resolve(Subjects{User: "alice", Groups: []string{"group-7", "group-150", "everyone"}})
	objects := make([]string, 10_000)
	for i := range objects {
		objects[i] = fmt.Sprintf("team-%d/ns-%d/app-%d", i%300, i%7, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Enforce(Applications, Sync, objects[i%len(objects)])
		i++
	}
}

// BenchmarkFromConfigMap is a reload of a policy at the line limit.
func BenchmarkFromConfigMap(b *testing.B) {
	text := strings.Repeat(benchPolicy(), MaxPolicyLines/1000)
	data := map[string]string{KeyPolicy: text[:len(text)-1], KeyDefault: ReadOnly}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := FromConfigMap(data); err != nil {
			b.Fatal(err)
		}
	}
}
